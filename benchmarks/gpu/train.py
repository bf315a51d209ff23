"""Pretrain an AWD-LSTM on the kit's corpus for a wall-clock budget (run by pretrain.sh).

Reads the folder that prepare.py wrote (``--data``), checks that an encoder of the
requested sizes fits what may come back from the machine (``--max-files`` files of
at most ``--max-file-mib``, ``--max-total-mib`` in all, fp16 weights in shards),
measures the training speed on a few batches to fit the one STLR cycle into the
budget (unless ``--tokens`` is given), then trains through
:func:`ulmfit_sklearn.pretrain.pretrain`: a line per epoch with tokens/s, the
checkpoint (in ``--work``) and the encoder (in ``--out``) every
``--checkpoint-minutes``, and the final encoder with its held-out perplexity.
"""

import argparse
import json
import lzma
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ulmfit_sklearn.encoders import load_encoder, shard_tensors  # noqa: E402
from ulmfit_sklearn.modules import AWDLSTM, LanguageModel  # noqa: E402
from ulmfit_sklearn.pretrain import pretrain  # noqa: E402
from ulmfit_sklearn.text import WordTokenizer  # noqa: E402
from ulmfit_sklearn.training.batching import TokenStream  # noqa: E402
from ulmfit_sklearn.training.nets import batch_inclusion_log_q  # noqa: E402
from ulmfit_sklearn.training.stages import make_lm_net  # noqa: E402

MIB = 1 << 20
CORPUS = ("English Wikipedia (two slices, c. 2013 and 2018; CC BY-SA 3.0, Wikipedia's "
          "contributors), US presidential speeches (public domain), MASC mixed genres and "
          "Project Gutenberg books (public domain): a sample of shared/corpus (see corpus.json)")


def export_plan(vocab_size, emb, hidden, layers, vocab_bytes, max_files=8, max_file=16 * MIB,
                max_total=64 * MIB):
    """What the encoder of these sizes will take: parameters, fp16 bytes, shards and
    files (config, metadata, vocabulary and the shards), and whether it fits."""
    with torch.device("meta"):
        lm = LanguageModel(AWDLSTM(vocab_size, emb, hidden, layers, 1))
    tensors = {k: v.half() for k, v in lm.state_dict().items() if k != "decoder.weight"}
    n = sum(t.numel() for t in tensors.values())
    shards = len(shard_tensors(tensors, max_file)) if 2 * n > max_file - 4096 else 1
    total = 2 * n + vocab_bytes + 64 * 1024  # config and metadata: a few KiB
    return {"params": n, "weight_mib": round(2 * n / MIB, 2), "shards": shards,
            "files": shards + 3, "total_mib": round(total / MIB, 2),
            "fits": shards + 3 <= max_files and total <= max_total and vocab_bytes <= max_file}


def unpack(data, work, vocab_size=None):
    """The kit's ids as .npy files in ``work`` (ids beyond ``vocab_size`` become xxunk)."""
    for name in ("train_ids.npy", "valid_ids.npy"):
        with lzma.open(data / (name + ".xz")) as src, open(work / name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 24)
        if vocab_size:
            ids = np.load(work / name)
            np.save(work / name, np.where(ids < vocab_size, ids, 0).astype(ids.dtype))


def measure_speed(a, vocab_size, pad, ids, log_q, batches=10):
    """Training tokens/s of this model and batch on this device: the same skorch net
    and step as the run, timed over ``batches`` steps after as many to warm up."""
    from skorch.callbacks import Callback

    class Clock(Callback):
        def on_batch_end(self, net, batch=None, training=False, **kwargs):
            if training:
                marks.append((time.time(), batch[0].numel()))

    marks = []
    torch.manual_seed(a.seed)
    lm = LanguageModel(AWDLSTM(vocab_size, a.emb, a.hidden, a.layers, pad))
    stream = TokenStream(np.asarray(ids[:a.batch_size * (a.bptt * 3 * batches + 1)]))
    net = make_lm_net(lm, stream, epochs=1, lr=a.lr, batch_size=a.batch_size, bptt=a.bptt,
                      device=a.device, autocast=a.autocast, max_batches=2 * batches,
                      sampled_log_q=log_q, callbacks=[("clock", Clock())])
    net.fit(stream, None)
    del net, lm
    if str(a.device).startswith("cuda"):
        torch.cuda.empty_cache()
    (t0, _), rest = marks[-batches - 1], marks[-batches:]
    return sum(n for _, n in rest) / (rest[-1][0] - t0)


def check_folder(folder, max_files, max_file, max_total):
    """Files of ``folder`` (and below) over the limits of what comes back; [] if none."""
    files = [f for f in Path(folder).rglob("*") if f.is_file()]
    sizes = [f.stat().st_size for f in files]
    problems = [f"{len(files)} files > {max_files}"] if len(files) > max_files else []
    problems += [f"{f.name}: {s / MIB:.1f} MiB > {max_file / MIB:.0f}"
                 for f, s in zip(files, sizes) if s > max_file]
    if sum(sizes) > max_total:
        problems.append(f"{sum(sizes) / MIB:.1f} MiB in all > {max_total / MIB:.0f}")
    return problems, len(files), sum(sizes)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / ".gpu-kit"), help="the folder prepare.py wrote")
    p.add_argument("--out", required=True, help="the encoder folder to write (e.g. $OUT/encoder)")
    p.add_argument("--work", default=None, help="checkpoints and ids (default: a new temp folder)")
    p.add_argument("--budget-minutes", type=float, default=8.0, help="wall clock, all included")
    p.add_argument("--checkpoint-minutes", type=float, default=2.0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--autocast", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on CUDA)")
    p.add_argument("--backward", action="store_true", help="a backward LM (reads right to left)")
    p.add_argument("--emb", type=int, default=400)
    p.add_argument("--hidden", type=int, default=1150)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--vocab-size", type=int, default=None,
                   help="keep the first N words of the kit's vocabulary (the rest become xxunk)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--bptt", type=int, default=70)
    p.add_argument("--epoch-batches", type=int, default=100, help="windows per epoch (a line each)")
    p.add_argument("--tokens", type=float, default=None,
                   help="tokens of the STLR cycle (default: measured speed x time left)")
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--drop-mult", type=float, default=0.1)
    p.add_argument("--sampled-softmax", action="store_true")
    p.add_argument("--init", default=None, help="encoder folder to go on from (same vocabulary)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-files", type=int, default=8)
    p.add_argument("--max-file-mib", type=float, default=16.0)
    p.add_argument("--max-total-mib", type=float, default=64.0)
    p.add_argument("--max-shard-bytes", type=int, default=None,
                   help="shard size (default: --max-file-mib)")
    p.add_argument("--corpus-description", default=CORPUS)
    a = p.parse_args(argv)
    start, budget = time.time(), a.budget_minutes * 60
    a.autocast = str(a.device).startswith("cuda") if a.autocast is None else a.autocast
    max_file, max_total = int(a.max_file_mib * MIB), int(a.max_total_mib * MIB)
    shard = a.max_shard_bytes or max_file
    data, out = Path(a.data), Path(a.out)
    stats = json.loads((data / "corpus.json").read_text())
    tokenizer = WordTokenizer.load(data / "vocab.txt")
    if a.vocab_size and a.vocab_size < tokenizer.vocab_size:
        tokenizer = WordTokenizer(tokenizer.itos[:a.vocab_size])
    init = load_encoder(a.init) if a.init else None
    if init is not None:
        if init.tokenizer.itos != tokenizer.itos:
            sys.exit(f"--init {a.init}: its vocabulary is not the kit's (give --vocab-size "
                     f"{init.tokenizer.vocab_size} if it is a cut of it)")
        a.emb, a.hidden, a.layers = (init.config[k] for k in ("emb_size", "hidden_size", "n_layers"))
    vocab_bytes = len("\n".join(tokenizer.itos).encode()) + 1
    plan = export_plan(tokenizer.vocab_size, a.emb, a.hidden, a.layers, vocab_bytes, a.max_files,
                       shard, max_total)
    device = torch.cuda.get_device_name(a.device) if str(a.device).startswith("cuda") else "cpu"
    print(f"torch {torch.__version__} on {device}; model {tokenizer.vocab_size}/{a.emb}/"
          f"{a.hidden}/{a.layers}: {plan}", flush=True)
    if not plan["fits"]:
        sys.exit(f"an encoder of these sizes does not fit {a.max_files} files of "
                 f"{shard / MIB:.0f} MiB, {a.max_total_mib:.0f} MiB in all: {plan}; "
                 "choose smaller --emb/--hidden/--layers or --vocab-size")
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="ulmfit-gpu-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "checkpoint", ignore_errors=True)  # every run starts afresh
    unpack(data, work, tokenizer.vocab_size if a.vocab_size else None)
    ids = np.load(work / "train_ids.npy", mmap_mode="r")
    log_q = None
    if a.sampled_softmax:
        log_q = batch_inclusion_log_q(np.bincount(ids, minlength=tokenizer.vocab_size),
                                      a.batch_size * a.bptt)
    speed = None if a.tokens else measure_speed(a, tokenizer.vocab_size, tokenizer.pad_id,
                                                ids, log_q)
    reserve = min(30.0, 0.1 * budget)  # the final held-out evaluation and export
    left = budget - (time.time() - start) - reserve
    # 0.9: the run also validates each epoch and writes checkpoints
    tokens = a.tokens or max(a.batch_size * a.bptt, 0.9 * speed * left)
    print(f"{f'measured {speed:,.0f} tokens/s; ' if speed else ''}{left:.0f}s left for "
          f"training: a cycle of {tokens:,.0f} tokens ({tokens / max(1, len(ids)):.2f} "
          f"passes over {len(ids):,} tokens)", flush=True)
    meta = {"corpus": a.corpus_description, "language": "English: present-day encyclopedic "
            "and mixed-genre text and 19th- and early 20th-century books",
            "command": "bash benchmarks/gpu/pretrain.sh "
            + " ".join(sys.argv[1:] if argv is None else argv),
            **{k: v for k, v in stats.items() if k != "sizes_mib"},
            "gpu_kit": {"device": device, "budget_minutes": a.budget_minutes,
                        "measured_tokens_per_s": speed and round(speed),
                        "vocab_size": tokenizer.vocab_size}}
    t = time.time()
    enc = pretrain(work / "train_ids.npy", work / "valid_ids.npy", work, tokenizer,
                   emb_size=a.emb, hidden_size=a.hidden, n_layers=a.layers, tokens=tokens,
                   epoch_batches=a.epoch_batches, batch_size=a.batch_size, bptt=a.bptt, lr=a.lr,
                   drop_mult=a.drop_mult, seed=a.seed, device=a.device, autocast=a.autocast,
                   max_seconds=max(1.0, left), metadata=meta, init=init,
                   sampled_softmax=a.sampled_softmax, backward=a.backward,
                   checkpoint_every_s=a.checkpoint_minutes * 60, encoder_dir=out,
                   max_shard_bytes=shard)
    meta = json.loads((enc / "metadata.json").read_text())
    problems, n_files, size = check_folder(out, a.max_files, max_file, max_total)
    summary = {"tokens_seen": meta["tokens_seen"], "train_seconds": round(time.time() - t, 1),
               "tokens_per_s": round(meta["tokens_seen"] / max(1e-9, meta["wall_seconds_this_run"])),
               "valid": meta["valid"], "files": n_files, "mib": round(size / MIB, 2),
               "total_seconds": round(time.time() - start, 1)}
    print("done: " + json.dumps(summary), flush=True)
    if problems:
        sys.exit(f"{out} is over the limits of what comes back: {problems}")


if __name__ == "__main__":
    main()
