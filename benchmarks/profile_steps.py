"""Where a training step's time goes: the default AWD-LSTM's stage 2 (LM fine-tuning)
and stage 3 (the classifier, every layer trained) on IMDb reviews, under torch.profiler.

    python benchmarks/profile_steps.py --n 64

Each stage runs one epoch on ``--n`` reviews with the settings of
``fastai_speed.py`` (batch 32, bptt 70, the bundled encoder) in a fresh process,
once unprofiled (wall time) and once under the profiler.  The profiled run's time
is split three ways by the profiler's own markers (optimizer steps, autograd's
backward functions, the rest: forward, data and skorch), and every op's self CPU
time is grouped by kind: matrix products, the LSTM's gate arithmetic and other
element-wise math, dropout masks, softmax and loss, copies and layout, the
optimizer's update, other.  With it, the share of the run's arithmetic that is
matrix products, and those products' own speed (model FLOPs of the matmuls over
their self time) against the fastest square matmul of the same process.  One JSON
line per stage goes to ``benchmarks/results/profile_steps.jsonl``.
"""

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import torch
from common import (ROOT, append_result, git_commit, load_dataset, lstm_flops_per_token,
                    peak_matmul)

RESULTS = ROOT / "benchmarks" / "results" / "profile_steps.jsonl"
BS, BPTT, LM_LR, LR = 32, 70, 5e-3, 2e-2

#: kinds of op, by substrings of aten op names (first match wins)
KINDS = (
    ("lstm_backward", ("rnn_layer_backward", "lstm_backward", "rnn_backward")),
    ("lstm", ("rnn_layer", "lstm")),
    ("matmul", ("addmm", "::mm", "bmm", "matmul", "linear", "addmv", "::mv")),
    ("dropout", ("bernoulli", "dropout", "uniform_")),
    ("softmax_loss", ("softmax", "nll_loss", "cross_entropy", "logsumexp")),
    ("copy_layout", ("copy_", "cat", "stack", "contiguous", "clone", "to_copy", "index",
                     "embedding", "gather", "scatter", "unbind", "narrow", "slice", "select",
                     "transpose", "view", "reshape", "permute", "expand", "split", "chunk",
                     "empty", "zeros", "fill_", "zero_", "ones", "resize_", "flip", "sort")),
    ("elementwise", ("sigmoid", "tanh", "mul", "add", "sub", "div", "exp", "log", "where",
                     "threshold", "relu", "neg", "sum", "mean", "max", "min", "norm", "abs",
                     "pow", "clamp", "sign", "masked", "sqrt", "lerp", "_foreach")),
)


def kind_of(name):
    """The kind of an aten op, by :data:`KINDS` ("other" if none matches)."""
    low = name.lower()
    for kind, keys in KINDS:
        if any(k in low for k in keys):
            return kind
    return "other"


def step_phases(events):
    """Seconds of the optimizer steps' three phases, and of everything outside them.

    skorch runs forward and backward in the closure that ``optimizer.step`` calls,
    so a profiled ``Optimizer.step#`` range holds the forward and loss (up to its
    first backward function), the backward (autograd's ``evaluate_function``
    ranges, on the same thread on a CPU) and then gradient clipping and the update.
    """
    steps = sorted((e for e in events if e.name.startswith("Optimizer.step#")),
                   key=lambda e: e.time_range.start)
    backs = sorted((e for e in events if e.name.startswith("autograd::engine::evaluate_function")),
                   key=lambda e: e.time_range.start)
    fwd = bwd = upd = 0.0
    i = 0
    for s in steps:
        while i < len(backs) and backs[i].time_range.start < s.time_range.start:
            i += 1
        inside = []
        while i < len(backs) and backs[i].time_range.end <= s.time_range.end:
            inside.append(backs[i])
            i += 1
        if not inside:
            continue
        first = inside[0].time_range.start
        last = max(b.time_range.end for b in inside)
        fwd += first - s.time_range.start
        bwd += last - first
        upd += s.time_range.end - last
    return {"forward": fwd / 1e6, "backward": bwd / 1e6, "update": upd / 1e6, "steps": len(steps)}


def summarize(events, wall, lstm_flops):
    """Where ``wall`` seconds of a profiled run went, from ``prof.events()``:
    the steps' phases, self time by kind of op and the top ops, and the LSTM
    kernels' speed (``lstm_flops``, forward and backward, over their self time)."""
    phases = step_phases(events)
    by_kind, by_op = defaultdict(float), defaultdict(float)
    for e in events:
        if e.name.startswith("aten::"):
            by_kind[kind_of(e.name)] += e.self_cpu_time_total
            by_op[e.name] += e.self_cpu_time_total
    total = sum(by_kind.values())
    lstm_s = (by_kind["lstm"] + by_kind["lstm_backward"]) / 1e6
    top = sorted(by_op.items(), key=lambda kv: -kv[1])[:10]
    return {
        "profiled_seconds": wall, "steps": phases.pop("steps"),
        "phase_share": {**{k: v / wall for k, v in phases.items()},
                        "outside_steps": 1 - sum(phases.values()) / wall},
        "op_seconds": total / 1e6,
        "kind_share": {k: v / total for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        "top_ops": [{"op": k, "share": v / total} for k, v in top],
        "lstm_gflops_per_s": lstm_flops / lstm_s / 1e9 if lstm_s else None,
    }


def run_stage(stage, X, y):
    """A function running ``stage`` on (X, y), and that run's LSTM FLOPs (forward and
    backward: 3x the forward's on tokens with a gradient, 1x on those without)."""
    from ulmfit_sklearn import ULMFiTClassifier
    from ulmfit_sklearn._base import finetune_encoder
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, load_encoder
    from ulmfit_sklearn.text import encode_texts

    enc = load_encoder(AWD_LSTM_ENCODER)
    docs = encode_texts(enc.tokenizer, X)
    per_token = lstm_flops_per_token(enc.config)
    if stage == "lm":
        tokens = sum(len(d) for d in docs) // (BS * BPTT) * BS * BPTT  # whole windows
        return (lambda: finetune_encoder(enc, docs, epochs=1, lr=LM_LR, lr_decay=2.6,
                                         drop_mult=0.3, bptt=BPTT, batch_size=BS, cut_frac=0.1,
                                         ratio=32, seed=0, device="cpu", autocast=False,
                                         verbose=0),
                3 * per_token * tokens, tokens)
    clf = ULMFiTClassifier(AWD_LSTM_ENCODER, lm_epochs=0, unfreeze_epochs=(1,), batch_size=BS,
                           bptt=72, random_state=0)
    tokens = sum(len(d) for d in docs)
    grad_tokens = sum(min(len(d), clf.max_len) for d in docs)  # BPT3C: the last max_len
    return (lambda: clf.fit(X, y), per_token * (tokens + 2 * grad_tokens), tokens)


def one(stage, n):
    """Warm up, time, then profile one run of ``stage``; print its JSON row."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    X, y, _, _ = load_dataset("imdb", n, 0)
    fit, flops, tokens = run_stage(stage, X, y)
    fit()  # warm-up: oneDNN primitives, allocator, encoder cache
    t0 = time.perf_counter()
    fit()
    wall = time.perf_counter() - t0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        fit()
        profiled = time.perf_counter() - t0
    row = {"stage": stage, "tokens": tokens, "wall_seconds": wall,
           "model_gflops_per_s": flops / wall / 1e9, **summarize(prof.events(), profiled, flops),
           "peak_matmul_gflops": peak_matmul(), "threads": torch.get_num_threads()}
    print(json.dumps(row))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=64, help="IMDb training reviews per stage")
    p.add_argument("--stages", nargs="*", default=["lm", "clf"], choices=["lm", "clf"])
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--one", choices=["lm", "clf"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        return one(a.one, a.n)
    for stage in a.stages:
        out = subprocess.run([sys.executable, __file__, "--one", stage, "--n", str(a.n)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{stage} run failed:\n{out.stderr[-4000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row.update({"dataset": "imdb", "n": a.n, "git_commit": git_commit()})
        print(append_result(a.out, row), flush=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
