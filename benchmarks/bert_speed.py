"""Where a BERT's training time goes on long texts (issue 32): attention dropout and
window length, and the padding of stage 3's batches.

Two measurements, one JSON line each to benchmarks/results/bert_speed.jsonl:

* ``step``: training steps (forward and backward, bf16 autocast where native) of the
  bundled MiniLM over random windows of 64 to 512 word pieces, 8,192 to 4,096 pieces a
  step, with and without dropout on the attention probabilities (with it, torch's
  scaled-dot-product attention cannot run its fused kernel): the best of three steps,
  in word pieces a second.  Time it with the cores to itself.
* ``padding``: the share of padding in stage 3's batches of 1,000 IMDb reviews (sortish
  batches of 32, windows of 512) with and without :func:`length_groups`, at several
  ``train_max_len``: a count, no timing.

    python benchmarks/bert_speed.py [--threads 2]
"""

import argparse
import time

import numpy as np
import torch
from common import ROOT, append_result, load_dataset

from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.models.heads import length_groups
from ulmfit_sklearn.text import encode_texts
from ulmfit_sklearn.training.batching import head_tail
from ulmfit_sklearn.training.numerics import native_bf16

SHAPES = [(64, 64), (128, 32), (256, 16), (512, 8)]  # (window, windows a step)


def step_speed(encoder, window, rows, attention_p, autocast, repeats=3):
    """Word pieces a second of the best of ``repeats`` training steps."""
    bert = encoder.family.build_encoder(encoder, hidden=0.05, attention=attention_p).train()
    tokens = torch.randint(1000, 20000, (rows, window))
    lengths = torch.full((rows,), window)
    best = float("inf")
    for _ in range(repeats + 1):  # the first warms up
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = bert(tokens, lengths)
        out.float().mean().backward()
        best = min(best, time.perf_counter() - t0)
    return rows * window / best


def windows_of(length, max_len=1440, window=512):
    """Window lengths of a document of ``length`` tokens, as stage 3 cuts it."""
    body, step = min(length - 2, max_len), window - 2
    return [min(step, body - s) + 2 for s in range(0, max(body, 1), step)]


def padding(lengths, batch_size=32):
    """(real, padded as one batch, padded in length groups) word pieces of a pass over
    documents of ``lengths`` in length-sorted batches (all of them in one chunk, as the
    sortish order has them at n = 1,000)."""
    ordered, real, flat, grouped = np.sort(lengths)[::-1], 0, 0, 0
    for i in range(0, len(ordered), batch_size):
        w = torch.tensor(sum((windows_of(int(n)) for n in ordered[i:i + batch_size]), []))
        real += int(w.sum())
        flat += len(w) * int(w.max())
        grouped += sum(len(g) * int(w[g[0]]) for g in length_groups(w))
    return real, flat, grouped


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pretrained", default="minilm-l6")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bert_speed.jsonl"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    enc = load_encoder(a.pretrained)
    bf16 = native_bf16("cpu")
    for window, rows in SHAPES:
        for attention_p in (0.05, 0.0):
            for autocast in sorted({bf16, False}, reverse=True):
                speed = step_speed(enc, window, rows, attention_p, autocast)
                print(append_result(a.out, {
                    "kind": "step", "window": window, "rows": rows, "attention_p": attention_p,
                    "autocast": autocast, "native_bf16": bf16, "threads": a.threads,
                    "pieces_per_s": round(speed)}), flush=True)
    X, _, _, _ = load_dataset("imdb", 1000, 0, 10)
    docs = encode_texts(enc.tokenizer, X)
    for cut in (None, 512, 256):
        lengths = np.array([len(head_tail(d, cut) if cut else d) for d in docs])
        real, flat, grouped = padding(lengths)
        print(append_result(a.out, {
            "kind": "padding", "dataset": "imdb", "n": 1000, "train_max_len": cut,
            "real_pieces": real, "padded_pieces": flat, "grouped_pieces": grouped,
            "padding_share": round(1 - real / flat, 3),
            "grouped_padding_share": round(1 - real / grouped, 3)}), flush=True)


if __name__ == "__main__":
    main()
