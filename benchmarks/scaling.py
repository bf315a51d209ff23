"""Scaling: fit time and peak memory of ULMFiTClassifier (defaults) against the number
of training documents and against document length.

Each point runs in a fresh process (peak resident memory is a per-process maximum) and
appends one JSON line to benchmarks/results/scaling.jsonl.

    python benchmarks/scaling.py --docs 250 500 1000 2000
    python benchmarks/scaling.py --lengths 100 400 1600 6400 --length-docs 200
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from common import ROOT, append_result, git_commit, load_dataset

RESULTS = ROOT / "benchmarks" / "results" / "scaling.jsonl"


def one(kind, value, length_docs, seed=0):
    """Fit once in this process; print a JSON line with the measurements."""
    from ulmfit_sklearn import ULMFiTClassifier
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER

    if kind == "docs":
        X, y, _, _ = load_dataset("imdb", value, seed)
    else:  # documents of `value` words: IMDb reviews glued together and cut
        X0, y0, _, _ = load_dataset("imdb", 4 * length_docs, seed)
        words = " ".join(X0).split()
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, len(words) - value, length_docs)
        X = [" ".join(words[s:s + value]) for s in starts]
        y = np.arange(length_docs) % 2  # the labels do not matter for time and memory
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    clf = ULMFiTClassifier(AWD_LSTM_ENCODER, random_state=seed).fit(X, y)
    fit_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_tokens = sum(len(clf.tokenizer_.encode(t)) for t in X)
    print(json.dumps({"kind": kind, "value": value, "n_docs": len(X), "tokens": n_tokens,
                      "fit_seconds": round(fit_s, 1), "peak_rss_mb": round(peak / 1024, 1),
                      "rss_before_fit_mb": round(rss0 / 1024, 1),
                      "encoder_sha256": clf.encoder_sha256_}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", nargs="*", type=int, default=[])
    p.add_argument("--lengths", nargs="*", type=int, default=[])
    p.add_argument("--length-docs", type=int, default=200, help="documents per length point")
    p.add_argument("--one", nargs=2, metavar=("KIND", "VALUE"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        return one(a.one[0], int(a.one[1]), a.length_docs)
    for kind, values in (("docs", a.docs), ("length", a.lengths)):
        for v in values:
            out = subprocess.run([sys.executable, __file__, "--one", kind, str(v),
                                  "--length-docs", str(a.length_docs)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row.update({"git_commit": git_commit(), "dataset": "imdb"})
            print(append_result(RESULTS, row), flush=True)


if __name__ == "__main__":
    main()
