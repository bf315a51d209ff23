"""Stage 1 of ULMFiT: pretrain an AWD-LSTM language model into an encoder folder.

:func:`pretrain` trains with the same skorch net as the estimators' stage 2
(:func:`~ulmfit_sklearn.training.stages.make_lm_net`) on a corpus of token ids
(:mod:`~ulmfit_sklearn.pretraining.corpus`), in "epochs" of a fixed number of
windows, writing a checkpoint and an encoder folder after each one; a killed run
resumes from its last checkpoint (:mod:`~ulmfit_sklearn.pretraining.checkpoints`).
:func:`pretrain_on_files` does a whole run from text files, as
``ulmfit-sklearn pretrain`` does; under ``torchrun`` its processes train
data-parallel (:mod:`~ulmfit_sklearn.pretraining.distributed`).
"""

import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..encoders import lm_state_dict, load_encoder, make_config
from ..families.awd_lstm import AWD_LSTM
from ..models import scaled_dropout
from ..models.awd_lstm import AWDLSTM, LM_DROPOUT, LanguageModel
from ..text import SPECIAL_TOKENS, TOKENIZERS
from ..training.batching import LMStreamBatches, TokenStream
from ..training.callbacks import ShiftedSchedule
from ..training.nets import batch_inclusion_log_q
from ..training.stages import make_lm_net
from .checkpoints import (EpochLine, ResumeFromCheckpoint, TimedCheckpoint, TimeLimit,
                          checkpoint_epochs, make_checkpoint, write_encoder)
from .corpus import prepare_corpus, read_vectors
from .distributed import AllReduceGradients, distributed_context


def init_embedding(lm, tokenizer, words, vectors, seed=0):
    """Start the embedding (and tied decoder) of ``lm`` from word vectors.

    Words with a vector get it in the first ``d`` dimensions; the special tokens
    draw theirs from a normal with the vectors' mean and spread; padding is zero.
    Embedding dimensions beyond ``d`` keep their random initialisation.  Returns
    the number of words that got a vector.
    """
    emb = lm.encoder.embedding.weight
    d = vectors.shape[1]
    if emb.shape[1] < d:
        raise ValueError(f"embedding size {emb.shape[1]} is below the vectors' size {d}")
    index = {w: i for i, w in enumerate(words)}
    rows = [(i, index[w]) for i, w in enumerate(tokenizer.itos) if w in index]
    vecs = torch.as_tensor(vectors)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        special = [tokenizer.stoi[t] for t in SPECIAL_TOKENS if t in tokenizer.stoi]
        emb[special, :d] = vecs.mean(0) + vecs.std(0) * torch.randn(len(special), d, generator=gen)
        if rows:
            ids, src = zip(*rows)
            emb[list(ids), :d] = vecs[list(src)]
        emb[tokenizer.pad_id] = 0.0
    return len(rows)


def evaluate_perplexity(lm, ids, n_words=None, batch_size=32, bptt=70, device="cpu"):
    """Per-token (and per-word, if ``n_words``) perplexity of ``lm`` on an id stream."""
    stream = TokenStream(np.asarray(ids))
    lm = lm.to(device).eval()
    total, count, state = 0.0, 0, None
    with torch.inference_mode():
        for x, y in LMStreamBatches(stream, batch_size=batch_size, bptt=bptt):
            logits, state, _, _ = lm(x.to(device), state)
            total += torch.nn.functional.cross_entropy(
                logits.float().flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
            count += y.numel()
    out = {"tokens": count, "ppl_token": math.exp(total / max(1, count))}
    if n_words:
        # the evaluated tokens are a fraction of the stream; scale the word count alike
        words = n_words * count / max(1, len(ids))
        out["ppl_word"] = math.exp(total / words)
    return out


def pretrain(train_ids, valid_ids, out_dir, tokenizer, *, emb_size=200, hidden_size=600,
             n_layers=3, tokens=10_000_000, epoch_batches=200, batch_size=64, bptt=70, lr=5e-3,
             drop_mult=0.1, cut_frac=0.02, ratio=32, seed=0, device="cpu", autocast=False,
             max_seconds=None, max_epochs=None, valid_tokens=100_000, metadata=None, verbose=0,
             init=None, vectors=None, sampled_softmax=False, backward=False,
             checkpoint_every_s=None, encoder_dir=None, max_shard_bytes=None):
    """Train an AWD-LSTM language model; write checkpoints and the encoder folder.

    ``tokens`` sets the length of the one STLR cycle (the run stops early at
    ``max_seconds``, or after ``max_epochs`` epochs in this call).  Each epoch reads
    ``epoch_batches`` windows and ends with a checkpoint in ``out_dir/checkpoint``,
    from which a new call resumes.  ``init`` (an encoder, e.g. the bundled one)
    gives the starting weights of a new run: pretraining goes on from it.
    ``vectors`` (words, array), e.g. from :func:`read_vectors`, start the embedding
    of a new run (see :func:`init_embedding`) and are kept in the encoder folder,
    where they place target-task words that the vocabulary lacks.
    ``sampled_softmax`` trains with the in-batch sampled softmax (see
    :class:`~ulmfit_sklearn.training.nets.LanguageModelNet`; its correction comes
    from the corpus' unigram counts); validation keeps the full softmax.
    ``backward`` trains on the token streams reversed (the LM reads right to left;
    the config says ``"direction": "backward"``).  ``checkpoint_every_s`` makes
    checkpointing time-based: the checkpoint, and the encoder so far, every that
    many seconds of training (a run killed at any time leaves weights), and the
    checkpoint at the end, instead of after each epoch.  The encoder goes to
    ``encoder_dir`` (default ``out_dir/encoder``), its weights in shards of at
    most ``max_shard_bytes`` if given.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rank, world = distributed_context(device)
    if world > 1 and str(device).startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
    ids = np.load(train_ids, mmap_mode="r")
    full_valid = np.load(valid_ids, mmap_mode="r")
    if backward:  # the LM reads right to left, as fastai's backward LMs
        ids, full_valid = (np.ascontiguousarray(a[::-1]) for a in (ids, full_valid))
    part = len(ids) // world  # each process reads its own slice of the corpus
    train = TokenStream(ids[rank * part:(rank + 1) * part])
    valid = TokenStream(np.asarray(full_valid[:valid_tokens]))
    total_batches = max(1, int(tokens // (batch_size * bptt)))
    epochs = max(1, math.ceil(total_batches / epoch_batches))
    torch.manual_seed(seed)
    lm = LanguageModel(AWDLSTM(tokenizer.vocab_size, emb_size, hidden_size, n_layers,
                               tokenizer.pad_id))
    if init is not None:
        if init.config["vocab_size"] != tokenizer.vocab_size or \
                (init.config["emb_size"], init.config["hidden_size"], init.config["n_layers"]) != \
                (emb_size, hidden_size, n_layers):
            raise ValueError("--init encoder's vocabulary or sizes differ from this run's")
        lm.load_stored_state_dict(init.state_dict)
    elif vectors is not None:
        n = init_embedding(lm, tokenizer, *vectors, seed=seed)
        print(f"{n} of {tokenizer.vocab_size} embeddings start from word vectors", flush=True)
    lm.set_dropout(**scaled_dropout(LM_DROPOUT, drop_mult))
    ckpt = out_dir / "checkpoint"
    checkpoint = make_checkpoint(ckpt)
    done = checkpoint_epochs(ckpt)  # the history that LoadInitState loads at train begin
    per_row = (len(train) - 1) // batch_size
    config = make_config(tokenizer, emb_size, hidden_size, n_layers)
    if backward:
        config["direction"] = "backward"
    encoder_dir = Path(encoder_dir) if encoder_dir else out_dir / "encoder"

    def export(net):  # the encoder so far, without a held-out evaluation
        write_encoder(encoder_dir, config, lm_state_dict(lm), tokenizer,
                      dict(metadata or {}, tokens_seen=int(world * sum(
                          b.get("train_tokens", 0) for h in net.history for b in h["batches"])),
                          partial=True), vectors=vectors, max_shard_bytes=max_shard_bytes)
    log_q = None
    if sampled_softmax:
        counts = np.bincount(np.asarray(ids), minlength=tokenizer.vocab_size)
        log_q = batch_inclusion_log_q(counts, batch_size * bptt)
    net = make_lm_net(lm, train, epochs=epochs, lr=lr, batch_size=batch_size, bptt=bptt,
                      cut_frac=cut_frac, ratio=ratio, seed=seed, device=device, autocast=autocast,
                      max_batches=epoch_batches, valid_stream=valid, verbose=verbose,
                      sampled_log_q=log_q,
                      start=(done * epoch_batches * bptt) % max(1, per_row),
                      callbacks=(([] if checkpoint_every_s else [("checkpoint", checkpoint)])
                                 + [("epoch_line", EpochLine())]
                                 if rank == 0 else [])  # one process writes
                      + [("resume", ResumeFromCheckpoint(checkpoint))]
                      + ([("allreduce", AllReduceGradients())] if world > 1 else [])
                      + ([("time_limit", TimeLimit(max_seconds))] if max_seconds else [])
                      + ([("timed_checkpoint", TimedCheckpoint(checkpoint, checkpoint_every_s,
                                                               export))]
                         if checkpoint_every_s and rank == 0 else []))
    net.initialize()
    if done:
        print(f"resuming after epoch {done}", flush=True)
        stlr = dict(net.callbacks_)["stlr"]
        stlr.lr_lambda = ShiftedSchedule(stlr.lr_lambda, done * epoch_batches)
    t0 = time.time()
    todo = epochs - done if max_epochs is None else min(epochs - done, max_epochs)
    if todo > 0:  # the checkpoint is loaded at train begin (LoadInitState)
        net.partial_fit(train, None, epochs=todo)
    elif done:  # max_epochs=0 only writes the encoder from the last checkpoint
        net.load_params(checkpoint=checkpoint)
    wall = time.time() - t0
    seen = world * sum(b.get("train_tokens", 0) for h in net.history for b in h["batches"])
    meta = dict(metadata or {})
    meta.update({
        "architecture": AWD_LSTM.name,
        "epochs_run": len(net.history),
        "tokens_seen": int(seen),
        "wall_seconds_this_run": round(wall, 1),
        "wall_seconds_total": round(sum(h.get("dur", 0) for h in net.history), 1),
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                    f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}",
        "training": {"lr": lr, "drop_mult": drop_mult, "batch_size": batch_size, "bptt": bptt,
                     "sampled_softmax": bool(sampled_softmax), "autocast": bool(autocast),
                     "cut_frac": cut_frac, "ratio": ratio, "seed": seed, "planned_tokens": tokens,
                     "epoch_batches": epoch_batches, "direction":
                         "backward" if backward else "forward"},
        "curve": [{"epoch": h["epoch"], "train_loss": h.get("train_loss"),
                   "valid_loss": h.get("valid_loss")} for h in net.history],
    })
    lm.set_dropout()
    if world > 1:
        checksum = float(sum(p.double().sum() for p in lm.parameters()))
        print(f"rank {rank}: weights checksum {checksum:.6f}", flush=True)
        if rank != 0:
            return None
    meta["valid"] = evaluate_perplexity(lm, full_valid, meta.get("valid_words"), device=device)
    return write_encoder(encoder_dir, config, lm_state_dict(lm), tokenizer, meta,
                         vectors=vectors, max_shard_bytes=max_shard_bytes)


def pretrain_on_files(out, train, valid, *, tokenizer="sentencepiece", vocab=None,
                      vocab_size=8000, vocab_every=1, vectors=None, init=None, emb_size=200,
                      hidden_size=600, n_layers=3, corpus_description=None, language=None,
                      device="cpu", verbose=1, **options):
    """A whole pretraining run from text files, as ``ulmfit-sklearn pretrain`` does it.

    Prepares the corpus in ``out`` (:func:`~ulmfit_sklearn.pretraining.corpus.prepare_corpus`,
    by one process under ``torchrun``), then runs :func:`pretrain` with ``options``.

    Parameters
    ----------
    out : path
        The run's folder (corpus, checkpoint, ``encoder/``).
    train, valid : list of path, path
        Training text files and the held-out one.
    tokenizer, vocab, vocab_size, vocab_every
        See :func:`~ulmfit_sklearn.pretraining.corpus.prepare_corpus`; ``vocab``
        defaults to ``"vectors"`` with ``vectors``.
    vectors : path or None
        Word vectors in GloVe's text format (:func:`~ulmfit_sklearn.pretraining.corpus.read_vectors`).
    init : str, path or None
        An encoder to start from: its tokenizer, sizes and vectors are kept.
    emb_size, hidden_size, n_layers : int
        Sizes of a new encoder.
    corpus_description, language : str or None
        What the training text is, for the metadata.
    device : str
        Torch device.
    verbose : int
        1: a progress bar (in the first process only).
    **options
        :func:`pretrain`'s other keyword arguments.

    Returns
    -------
    Path or None
        The encoder folder (None in the processes but the first under ``torchrun``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = distributed_context(device)
    vectors_meta = {}
    if vocab is None:
        vocab = "vectors" if vectors else None
    if vectors:
        vectors_meta = {"word_vectors": Path(vectors).name}
        vectors = read_vectors(vectors)
    if vocab:
        tokenizer = "word"
    if init:
        init = load_encoder(init)
        tokenizer = init.config["tokenizer"]["type"]
        emb_size, hidden_size, n_layers = (init.config[k] for k in ("emb_size", "hidden_size",
                                                                     "n_layers"))
        if vectors is None:
            vectors = init.vectors  # kept in the new encoder
        if rank == 0 and not (out / init.tokenizer.filename).exists():
            init.tokenizer.save(out)
    if rank == 0:  # one process prepares the tokenizer and the token ids
        prepare_corpus(out, train, valid, tokenizer, vocab, vocab_size, vocab_every, vectors)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    tok = TOKENIZERS[tokenizer].load(out / TOKENIZERS[tokenizer].filename)
    stats = json.loads((out / "corpus.json").read_text())
    meta = {"corpus": corpus_description or ", ".join(Path(f).name for f in train),
            "language": language or "unspecified", "command": " ".join(sys.argv),
            **stats, **vectors_meta}
    return pretrain(out / "train_ids.npy", out / "valid_ids.npy", out, tok, emb_size=emb_size,
                    hidden_size=hidden_size, n_layers=n_layers, device=device, metadata=meta,
                    init=init or None, vectors=vectors, verbose=verbose if rank == 0 else 0,
                    **options)
