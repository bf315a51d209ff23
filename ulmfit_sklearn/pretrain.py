"""Stage 1 of ULMFiT: pretrain an AWD-LSTM language model into an encoder folder.

The pipeline streams a plain-text corpus (``.txt`` or ``.txt.xz``, one paragraph
per line):

1. :func:`train_tokenizer` trains the tokenizer (SentencePiece unigram or a word
   vocabulary) on a sample of the corpus, after the same rules the estimators use;
2. :func:`tokenize_corpus` writes the corpus once as a flat array of token ids
   (``.npy``, memory-mapped when read), so training never holds Python lists;
3. :func:`pretrain` trains with the same skorch net as the estimators' stage 2
   (:func:`~ulmfit_sklearn.training.stages.make_lm_net`), in "epochs" of a fixed
   number of windows, writing a checkpoint and an encoder folder after each one;
   a killed run resumes from its last checkpoint.

``python -m ulmfit_sklearn.pretrain --help`` runs it from the command line;
``torchrun --nproc_per_node N -m ulmfit_sklearn.pretrain ...`` runs it data-parallel
on N processes (GPUs, or CPU processes with the gloo backend).
"""

import argparse
import itertools
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from .datasets import open_text
from .encoders import lm_state_dict, make_config, save_encoder
from .models import scaled_dropout
from .models.awd_lstm import AWDLSTM, LM_DROPOUT, LanguageModel
from .text import SPECIAL_TOKENS, TOKENIZERS, WordTokenizer, apply_rules
from .training.batching import LMStreamBatches, TokenStream
from .training.callbacks import ShiftedSchedule
from .training.nets import batch_inclusion_log_q
from .training.stages import make_lm_net


def read_paragraphs(files, limit=None):
    """Yield the non-empty lines of text files (xz-compressed or not)."""
    def lines():
        for f in files:
            with open_text(f) as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        yield line
    return itertools.islice(lines(), limit)


def train_tokenizer(files, kind="sentencepiece", vocab_size=8000, sample=100_000):
    """Train a tokenizer on the first ``sample`` paragraphs of ``files``."""
    texts = list(read_paragraphs(files, sample))
    if kind == "sentencepiece":
        return TOKENIZERS[kind].train(texts, vocab_size=vocab_size)
    return TOKENIZERS[kind].train(texts, max_vocab=vocab_size)


def read_vectors(path, limit=None):
    """Word vectors in GloVe's text format: ``word x1 ... xd`` per line.

    Returns (words, float32 array of shape (n_words, d)), in the file's order
    (GloVe's: most frequent first), keeping the first of repeated words.  The file
    may be plain, ``.gz``, ``.bz2`` or ``.xz``.
    """
    words, rows, seen = [], [], set()
    with open_text(path) as f:
        for i, line in enumerate(itertools.islice(f, limit), 1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                continue
            try:
                vec = [float(x) for x in parts[1:]]
            except ValueError:
                raise ValueError(f"{path}, line {i}: not a word followed by numbers") from None
            if rows and len(vec) != len(rows[0]):
                raise ValueError(f"{path}, line {i}: {len(vec)} numbers, expected {len(rows[0])}")
            if parts[0] not in seen:
                seen.add(parts[0])
                words.append(parts[0])
                rows.append(vec)
    if not rows:
        raise ValueError(f"{path}: no word vectors found")
    return words, np.asarray(rows, dtype=np.float32)


def corpus_vocabulary(files, vocab_size, min_freq=2, every=1):
    """A word tokenizer over the ``vocab_size`` most frequent words of ``files``.

    Counts the words (after the text rules) of every ``every``-th paragraph of all
    the files, so a vocabulary drawn from a mixed corpus reflects every part of it,
    not only the first file.
    """
    counts = Counter()
    for i, text in enumerate(read_paragraphs(files)):
        if i % every == 0:
            counts.update(apply_rules(text))
    words = [w for w, c in counts.most_common() if c >= min_freq and w not in SPECIAL_TOKENS]
    return WordTokenizer(list(SPECIAL_TOKENS) + words[: max(0, vocab_size - len(SPECIAL_TOKENS))])


def vector_vocabulary(words, vocab_size):
    """A word tokenizer over the special tokens and the first words of a vector file.

    A vector file lists words by their frequency in a large corpus (GloVe: 6B
    tokens of Wikipedia and news), a vocabulary for modern English that a small
    pretraining corpus could not give.
    """
    rest = [w for w in words if w not in SPECIAL_TOKENS]
    return WordTokenizer(list(SPECIAL_TOKENS) + rest[: max(0, vocab_size - len(SPECIAL_TOKENS))])


def init_embedding(lm, tokenizer, words, vectors, seed=0):
    """Start the embedding (and tied decoder) of ``lm`` from word vectors.

    Words with a vector get it in the first ``d`` dimensions; the special tokens
    draw theirs from a normal with the vectors' mean and spread; padding is zero.
    Embedding dimensions beyond ``d`` keep their random initialisation.  Returns
    the number of words that got a vector.
    """
    emb = lm.encoder.encoder.weight
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


def tokenize_corpus(files, tokenizer, out_path, limit=None):
    """Tokenize paragraphs into one flat id array saved as ``out_path`` (.npy).

    Returns (number of tokens, number of whitespace words).
    """
    dtype = np.uint16 if tokenizer.vocab_size < 2**16 else np.int32
    chunks, n_words, n_tokens = [], 0, 0
    for text in read_paragraphs(files, limit):
        ids = tokenizer.encode(text).astype(dtype)
        chunks.append(ids)
        n_words += len(text.split())
        n_tokens += len(ids)
    arr = np.concatenate(chunks) if chunks else np.zeros(0, dtype)
    np.save(out_path, arr)
    return n_tokens, n_words


class TimeLimit(Callback):
    """Stop training (as skorch does on Ctrl-C) once ``seconds`` have passed."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.deadline_ = time.time() + self.seconds

    def on_batch_end(self, net, **kwargs):
        if time.time() > self.deadline_:
            raise KeyboardInterrupt


class AllReduceGradients(Callback):
    """Data-parallel training over ``torch.distributed`` processes (e.g. ``torchrun``).

    Each process reads its own slice of the corpus; this callback starts every
    process from rank 0's weights and averages the gradients after each backward
    pass, before the optimizer steps, so all processes keep identical weights.
    """

    def on_train_begin(self, net, **kwargs):
        import torch.distributed as dist

        for p in net.module_.parameters():
            dist.broadcast(p.data, src=0)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        import torch.distributed as dist

        world = dist.get_world_size()
        for _, p in named_parameters:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world


def distributed_context(device):
    """(rank, world size), joining the process group that torchrun describes."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


class AtomicCheckpoint(Checkpoint):
    """skorch's :class:`~skorch.callbacks.Checkpoint`, each file replaced whole.

    skorch writes each file in place, so a run killed while writing leaves a
    truncated file.  This one writes all the files to temporary names in the
    checkpoint folder first, then renames each over the old one (``os.replace``,
    atomic), the history last: a run killed at any moment leaves every file
    whole, each either the previous epoch's or the new one's.  As the history
    says how many epochs are done (which sets where a resumed run reads the
    corpus and where its learning-rate schedule goes on), it never runs ahead of
    the weights; at worst (killed between the renames) the weights are one epoch
    ahead of it, and the resumed run trains that epoch again from them.

    Unlike skorch's, a failed write raises (a run should not go on for hours
    without checkpoints).  Only ``f_params``, ``f_optimizer``, ``f_criterion``
    and ``f_history`` are written.
    """

    def save_model(self, net, history=None):
        files = self.get_formatted_files(net)
        if files.get("f_pickle"):
            raise ValueError("AtomicCheckpoint does not write f_pickle")
        order = [k for k in ("f_params", "f_optimizer", "f_criterion") if files.get(k)]
        if files.get("f_history"):
            order.append("f_history")  # last: it says which epoch the checkpoint is
        temps = {k: files[k] + ".tmp" for k in order}
        for key, tmp in temps.items():
            if key == "f_history":
                (net.history if history is None else history).to_file(tmp)
            else:
                net.save_params(**{key: tmp, "use_safetensors": self.use_safetensors})
            _fsync(tmp)
        for key, tmp in temps.items():
            os.replace(tmp, files[key])
        _fsync(self.dirname or ".")


def _fsync(path):
    """Flush a file (or a folder's entries) to disk, where the system allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. a folder on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


CHECKPOINT_FILES = {"f_params": "params.pt", "f_optimizer": "optimizer.pt",
                    "f_history": "history.json"}


def make_checkpoint(folder):
    """The checkpoint of a pretraining run: weights, optimizer and history, every epoch."""
    return AtomicCheckpoint(monitor=None, dirname=str(folder), f_criterion=None,
                            event_name=None, **CHECKPOINT_FILES)


def checkpoint_epochs(folder):
    """Number of epochs done in the checkpoint in ``folder`` (0 if it has none).

    A checkpoint is its history file; without one (a run killed in its first
    checkpoint write), training starts afresh.  A history without the weights or
    the optimizer state (files removed by hand) is an error, not a fresh start.
    """
    folder = Path(folder)
    history = folder / CHECKPOINT_FILES["f_history"]
    if not history.exists():
        return 0
    missing = [f for f in (CHECKPOINT_FILES["f_params"], CHECKPOINT_FILES["f_optimizer"])
               if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(f"{folder} has a history but no {' or '.join(missing)}; "
                                "remove the folder to start afresh")
    return len(json.loads(history.read_text()))


class ResumeFromCheckpoint(LoadInitState):
    """skorch's :class:`~skorch.callbacks.LoadInitState`, then the lrs back on schedule.

    It loads the checkpoint (weights, optimizer, history) at train begin, after the
    ``scheduler`` callback has set the learning rates where the (shifted) schedule
    resumes; the loaded optimizer state brings the lrs of the step it was saved
    at, one epoch ahead after a checkpoint write killed before its history, so
    they are set back to the schedule's.
    """

    def __init__(self, checkpoint, scheduler="stlr"):
        super().__init__(checkpoint)
        self.scheduler = scheduler

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        sched = dict(net.callbacks_)[self.scheduler].lr_scheduler_
        for group, lr in zip(net.optimizer_.param_groups, sched.get_last_lr()):
            group["lr"] = lr


class EpochLine(Callback):
    """Print one line per epoch: losses, validation perplexity, seconds and tokens/s."""

    def on_epoch_end(self, net, **kwargs):
        h = net.history[-1]
        tokens = sum(b.get("train_tokens", 0) for b in h["batches"])
        print(f"epoch {h['epoch']}: train_loss {h['train_loss']:.4f}"
              + (f" valid_loss {h['valid_loss']:.4f} (ppl {math.exp(h['valid_loss']):.1f})"
                 if "valid_loss" in h else "")
              + f" {h['dur']:.0f}s {tokens / max(h['dur'], 1e-9):,.0f} tokens/s", flush=True)


class TimedCheckpoint(Callback):
    """Write ``checkpoint`` every ``seconds`` of training (mid-epoch) and at the end,
    calling ``export`` after each timed one.

    The history written holds the finished epochs only, so a resumed run trains
    the current epoch again, from the newer weights (as after a checkpoint write
    killed before its history, see :class:`AtomicCheckpoint`).
    """

    def __init__(self, checkpoint, seconds, export=None):
        self.checkpoint, self.seconds, self.export = checkpoint, seconds, export

    def on_train_begin(self, net, **kwargs):
        Path(self.checkpoint.dirname).mkdir(parents=True, exist_ok=True)
        self.last_ = time.time()

    def _save(self, net):
        rows = list(net.history)
        if rows and "dur" not in rows[-1]:  # an epoch under way
            rows = rows[:-1]
        self.checkpoint.save_model(net, history=type(net.history)(rows))

    def on_train_end(self, net, **kwargs):
        self._save(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and time.time() - self.last_ >= self.seconds:
            self._save(net)
            if self.export is not None:
                self.export(net)
            print(f"checkpoint written after {len(net.history) - 1} epochs and "
                  f"{len(net.history[-1]['batches'])} batches", flush=True)
            self.last_ = time.time()


def write_encoder(folder, *args, **kwargs):
    """:func:`~ulmfit_sklearn.encoders.save_encoder` into ``folder`` through a
    temporary folder swapped in whole, so a run killed while writing leaves the
    previous encoder (or, killed mid-swap, ``folder`` + ``.tmp``) complete."""
    import shutil

    folder = Path(folder)
    tmp, old = (folder.with_name(folder.name + suffix) for suffix in (".tmp", ".old"))
    for stale in (tmp, old):
        shutil.rmtree(stale, ignore_errors=True)
    save_encoder(tmp, *args, **kwargs)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


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
        "architecture": "awd_lstm",
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


def train_mlm_head(encoder, texts, out_dir, *, head_epochs=1, all_epochs=1, head_lr=1e-3,
                   all_lr=5e-5, batch_size=32, seed=0, device="cpu", autocast=False, verbose=0,
                   dtype=torch.float16, record=None):
    """Give a BERT encoder a masked-LM head, so that stage 2 can fine-tune it.

    The head (a fresh one, or the folder's) trains on ``texts`` with the encoder
    frozen for ``head_epochs`` at ``head_lr``, then everything for ``all_epochs``
    at ``all_lr`` (both one STLR cycle, BERT's masking, windows of
    :data:`~ulmfit_sklearn.training.stages.MLM_WINDOW` word pieces).  Writes the
    encoder with its head to ``out_dir`` (its license kept, the run in
    ``metadata["mlm_head"]``) and returns the folder's path.
    """
    from .encoders.bert import save_bert_encoder
    from .exceptions import EncoderError
    from .families.bert import BERT
    from .text import encode_texts
    from .training.stages import finetune_masked_lm, seeded

    if encoder.family is not BERT:
        raise EncoderError(f"{encoder.path or 'the encoder'} is not a BERT encoder: a masked-LM "
                           "head is for a BERT")
    tok, t0 = encoder.tokenizer, time.time()
    docs = encode_texts(tok, list(texts))
    common = dict(lr_decay=1.0, batch_size=batch_size, cut_frac=0.1, ratio=32, seed=seed,
                  device=device, autocast=autocast, verbose=verbose, mask_id=tok.mask_id,
                  special_ids=tok.special_ids)
    curve = []
    with seeded(seed, device):  # a fresh head's initialisation depends on the seed alone
        model = BERT.build_language_model(encoder, **encoder.config["dropout"])
        for epochs, lr, frozen in ((head_epochs, head_lr, ("encoder.",)), (all_epochs, all_lr, ())):
            if epochs:
                net = finetune_masked_lm(model, docs, epochs=epochs, lr=lr, frozen=frozen, **common)
                model = net.module_
                curve += [{"lr": lr, "frozen": list(frozen), "train_loss": h["train_loss"]}
                          for h in net.history]
    meta = {k: v for k, v in encoder.metadata.items() if k != "files"}
    meta["mlm_head"] = {"documents": len(docs), "tokens": int(sum(len(d) for d in docs)),
                        "head_epochs": head_epochs, "all_epochs": all_epochs, "head_lr": head_lr,
                        "all_lr": all_lr, "seed": seed, "seconds": round(time.time() - t0, 1),
                        "curve": curve, **(record or {})}
    licence = encoder.config.get("license_file")
    return save_bert_encoder(out_dir, encoder.config, BERT.language_model_state(model.cpu()), tok, meta,
                             license_file=Path(encoder.path) / licence if licence else None,
                             dtype=dtype)


def prepare_corpus(a, out):
    """Train the tokenizer and tokenize the corpus, unless done before in ``out``."""
    tok_cls = TOKENIZERS[a.tokenizer]
    tok_path = out / tok_cls.filename
    t0 = time.time()
    if tok_path.exists():
        tokenizer = tok_cls.load(tok_path)
    elif a.vocab == "corpus":
        tokenizer = corpus_vocabulary(a.train, a.vocab_size, every=a.vocab_every)
        tokenizer.save(out)
        print(f"vocabulary counted ({tokenizer.vocab_size} words) in {time.time() - t0:.0f}s", flush=True)
    elif a.vectors:
        tokenizer = vector_vocabulary(a.vectors[0], a.vocab_size)
        tokenizer.save(out)
    else:
        tokenizer = train_tokenizer(a.train, a.tokenizer, a.vocab_size)
        tokenizer.save(out)
        print(f"tokenizer trained ({tokenizer.vocab_size} entries) in {time.time() - t0:.0f}s", flush=True)
    stats_path = out / "corpus.json"
    if not stats_path.exists():
        n_tok, n_words = tokenize_corpus(a.train, tokenizer, out / "train_ids.npy")
        v_tok, v_words = tokenize_corpus([a.valid], tokenizer, out / "valid_ids.npy")
        stats = {"train_files": [Path(f).name for f in a.train], "train_tokens": n_tok,
                 "train_words": n_words, "valid_file": Path(a.valid).name, "valid_tokens": v_tok,
                 "valid_words": v_words}
        stats_path.write_text(json.dumps(stats, indent=2))
        print(f"corpus tokenized: {stats} in {time.time() - t0:.0f}s", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="ulmfit-sklearn pretrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--train", nargs="+", required=True, help="training text files (.txt or .txt.xz)")
    p.add_argument("--valid", required=True, help="held-out text file")
    p.add_argument("--out", required=True, help="output folder (checkpoints, ids, encoder)")
    p.add_argument("--tokenizer", choices=sorted(TOKENIZERS), default="sentencepiece")
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--emb-size", type=int, default=200)
    p.add_argument("--hidden-size", type=int, default=600)
    p.add_argument("--n-layers", type=int, default=3)
    p.add_argument("--tokens", type=float, default=10e6, help="tokens in the STLR cycle")
    p.add_argument("--epoch-batches", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=70)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--drop-mult", type=float, default=0.1)
    p.add_argument("--max-minutes", type=float, default=None, help="stop this run after so long")
    p.add_argument("--vectors", default=None,
                   help="word vectors in GloVe's text format: a word vocabulary of their first "
                        "--vocab-size words, whose embeddings start from them")
    p.add_argument("--vocab", choices=["vectors", "corpus"], default=None,
                   help="word vocabulary from the first words of --vectors (the default with "
                        "--vectors) or from the most frequent words of the training files")
    p.add_argument("--vocab-every", type=int, default=1,
                   help="with --vocab corpus: count every N-th paragraph")
    p.add_argument("--corpus-description", default=None,
                   help="what the training text is, its sources and terms (for the metadata)")
    p.add_argument("--language", default=None, help="the training text's language and kind")
    p.add_argument("--init", default=None,
                   help="encoder (name or folder) to start from; its tokenizer is reused")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="stop this run after so many epochs (0: write the encoder from the last checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--autocast", action="store_true", help="bf16 autocast (fast on CPUs with "
                   "native bf16, e.g. AVX-512 BF16, and on GPUs)")
    p.add_argument("--sampled-softmax", action="store_true",
                   help="train with an in-batch sampled softmax (each step's softmax covers the "
                        "batch's own target ids); validation uses the full softmax")
    p.add_argument("--backward", action="store_true",
                   help="train a backward LM (the token streams reversed: it reads right to left)")
    p.add_argument("--checkpoint-minutes", type=float, default=None,
                   help="write the checkpoint and the encoder every so many minutes "
                        "(instead of the checkpoint after each epoch)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar (epoch lines only)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = distributed_context(a.device)
    init = None
    vectors_meta = {}
    if a.vocab is None:
        a.vocab = "vectors" if a.vectors else None
    if a.vectors:
        vectors_meta = {"word_vectors": Path(a.vectors).name}
        a.vectors = read_vectors(a.vectors)
    if a.vocab:
        a.tokenizer = "word"
    if a.init:
        from .encoders import load_encoder

        init = load_encoder(a.init)
        a.tokenizer = init.config["tokenizer"]["type"]
        a.emb_size, a.hidden_size, a.n_layers = (init.config[k] for k in ("emb_size", "hidden_size", "n_layers"))
        if a.vectors is None:
            a.vectors = init.vectors  # kept in the new encoder
        if rank == 0 and not (out / init.tokenizer.filename).exists():
            init.tokenizer.save(out)
    if rank == 0:  # one process prepares the tokenizer and the token ids
        prepare_corpus(a, out)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    tokenizer = TOKENIZERS[a.tokenizer].load(out / TOKENIZERS[a.tokenizer].filename)
    stats_path = out / "corpus.json"
    stats = json.loads(stats_path.read_text())
    meta = {"corpus": a.corpus_description or ", ".join(Path(f).name for f in a.train),
            "language": a.language or "unspecified", "command": " ".join(sys.argv),
            **stats, **vectors_meta}
    enc = pretrain(out / "train_ids.npy", out / "valid_ids.npy", out, tokenizer,
                   emb_size=a.emb_size, hidden_size=a.hidden_size, n_layers=a.n_layers,
                   tokens=a.tokens, epoch_batches=a.epoch_batches, batch_size=a.batch_size,
                   bptt=a.bptt, lr=a.lr, drop_mult=a.drop_mult, seed=a.seed, device=a.device,
                   autocast=a.autocast,
                   max_seconds=a.max_minutes * 60 if a.max_minutes else None,
                   max_epochs=a.max_epochs, metadata=meta, init=init, vectors=a.vectors,
                   sampled_softmax=a.sampled_softmax, backward=a.backward,
                   checkpoint_every_s=a.checkpoint_minutes * 60 if a.checkpoint_minutes else None,
                   verbose=0 if a.quiet or rank else 1)
    if enc is not None:
        print(f"encoder written to {enc}", flush=True)
        print(json.dumps(json.loads((enc / "metadata.json").read_text())["valid"]), flush=True)


if __name__ == "__main__":
    main()


def mlm_head_main(argv=None):
    """Give a BERT encoder a masked-LM head (:func:`train_mlm_head`) on text files."""
    from .encoders import load_encoder

    p = argparse.ArgumentParser(prog="ulmfit-sklearn mlm-head", description=mlm_head_main.__doc__)
    p.add_argument("--encoder", required=True, help="a BERT encoder: a bundled name or a folder")
    p.add_argument("--train", nargs="+", required=True, help="training text files (.txt or .txt.xz)")
    p.add_argument("--out", required=True, help="folder of the encoder with its head")
    p.add_argument("--every", type=int, default=1, help="read every EVERY-th paragraph")
    p.add_argument("--documents", type=int, default=20_000, help="at most so many paragraphs")
    p.add_argument("--head-epochs", type=int, default=1)
    p.add_argument("--all-epochs", type=int, default=0,
                   help="epochs with the encoder unfrozen too (0 keeps the encoder's weights)")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--all-lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--autocast", action="store_true", help="bf16 autocast")
    p.add_argument("--int8", action="store_true", help="store the weights as int8 rows "
                   "(as the bundled minilm-l6), not fp16")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    encoder = load_encoder(a.encoder)
    texts = itertools.islice(itertools.islice(read_paragraphs(a.train), 0, None, a.every),
                             a.documents)
    out = train_mlm_head(encoder, list(texts), a.out, head_epochs=a.head_epochs,
                         all_epochs=a.all_epochs, head_lr=a.head_lr, all_lr=a.all_lr,
                         batch_size=a.batch_size, seed=a.seed, autocast=a.autocast, verbose=1,
                         dtype=torch.int8 if a.int8 else torch.float16,
                         record={"command": "ulmfit-sklearn mlm-head " + " ".join(
                             sys.argv[2:] if argv is None else argv)})
    print(f"encoder with a masked-LM head: {out}", flush=True)
    return out
