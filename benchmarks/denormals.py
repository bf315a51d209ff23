"""What flushing denormal floats buys: one classifier epoch, three flush modes.

The speed benchmark's classifier epoch (1,000 IMDb reviews, every layer trained at
lr 2e-2, batch 32, no LM fine-tuning) is where denormals showed up.  Each mode runs
in a fresh process: ``none`` (training sees denormals), ``calling`` (only the calling
thread flushes, as ``torch.set_flush_denormal`` alone does) and ``all`` (the
package's default: torch's OpenMP worker threads flush too).  Records the epoch time
and the test error on a 1,000-review test sample, one JSON line per mode, to
benchmarks/results/denormals.jsonl.

    python benchmarks/denormals.py [--n 1000] [--modes none calling all] [--lr-decay 1.0]
"""

import argparse
import contextlib
import json
import subprocess
import sys
import time

import numpy as np
from common import ROOT, append_result, load_dataset

RESULTS = ROOT / "benchmarks" / "results" / "denormals.jsonl"


def one(mode, n, lr_decay):
    from ulmfit_sklearn import ULMFiTClassifier
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER
    from ulmfit_sklearn.training import nets, numerics

    if mode == "none":
        nets.flush_denormals = contextlib.nullcontext
    elif mode == "calling":
        numerics._share_fp_mode_with_intraop_threads = lambda: False
    X, y, Xt, yt = load_dataset("imdb", n, 0, 1000)
    clf = ULMFiTClassifier(AWD_LSTM_ENCODER, lm_epochs=0, unfreeze_epochs=(1,), batch_size=32, lr_decay=lr_decay,
                           random_state=0)
    t0 = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - t0
    return {"epoch_seconds": round(clf.history_["classifier"][-1]["dur"], 1),
            "fit_seconds": round(fit_s, 1), "error": float(np.mean(clf.predict(Xt) != yt)),
            "n_test": len(Xt), "encoder_sha256": clf.encoder_sha256_}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--modes", nargs="+", default=["none", "calling", "all"],
                   choices=["none", "calling", "all"])
    p.add_argument("--lr-decay", type=float, default=1.0)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.n, a.lr_decay)))
        return
    for mode in a.modes:
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--n", str(a.n),
                              "--lr-decay", str(a.lr_decay)],
                             capture_output=True, text=True, check=True)
        row = {"mode": mode, "dataset": "imdb", "n": a.n, "lr_decay": a.lr_decay,
               **json.loads(out.stdout.strip().splitlines()[-1])}
        print(append_result(RESULTS, row), flush=True)


if __name__ == "__main__":
    main()
