"""Learning curves: ULMFiTClassifier (defaults, bundled encoder) against TF-IDF +
LogisticRegressionCV at several training sizes, seeds and data sets.

Each (dataset, n, seed, method) run appends one JSON line to
benchmarks/results/learning_curve.jsonl; runs already there for the same commit and
encoder are skipped, so an interrupted grid resumes.

    python benchmarks/learning_curve.py --datasets imdb trec6 --n 100 500 1000 --seeds 0 1 2
"""

import argparse

import numpy as np
from common import SHARED, add_grid_args, append_result, grid, load_texts, run_one

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.baselines import tfidf_logreg


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_grid_args(p, ["imdb", "sst2", "trec6", "agnews"], [100, 500, 1000], [0, 1, 2],
                  "learning_curve.jsonl")
    p.add_argument("--methods", nargs="+", default=["ulmfit", "tfidf_logreg"])
    p.add_argument("--unlabeled", type=int, default=0,
                   help="IMDb: add this many unlabeled reviews (unsup split) to stage 2")
    a = p.parse_args()
    for ds, n, seed, (X, y, Xt, yt), done, commit, enc_sha in grid(a):
        for method in a.methods:
            n_unl = a.unlabeled if (method == "ulmfit" and ds == "imdb") else 0
            key = (ds, n, seed, method, n_unl, commit, enc_sha if method.startswith("ulmfit") else None)
            if key in done:
                continue
            if method == "ulmfit":
                est = ULMFiTClassifier(a.pretrained, random_state=seed,
                                       unlabeled_label=None if not n_unl else "__unlabeled__")
                Xf, yf = X, y
                if n_unl:
                    U, _ = load_texts(SHARED / "imdb" / "unsup.csv.xz", label_column=None)
                    U = [U[i] for i in np.random.default_rng(seed).permutation(len(U))[:n_unl]]
                    Xf = list(X) + U
                    yf = np.array(list(y.astype(object)) + ["__unlabeled__"] * n_unl, dtype=object)
                err, fit_s, pred_s = run_one(est, Xf, yf, Xt, yt)
            else:
                err, fit_s, pred_s = run_one(tfidf_logreg(), X, y, Xt, yt)
            row = {"dataset": ds, "n": n, "seed": seed, "method": method, "error": err,
                   "n_test": len(Xt), "n_unlabeled": n_unl, "fit_seconds": round(fit_s, 1),
                   "predict_seconds": round(pred_s, 1), "git_commit": commit,
                   "encoder_sha256": enc_sha if method.startswith("ulmfit") else None}
            print(append_result(a.out, row), flush=True)


if __name__ == "__main__":
    main()
