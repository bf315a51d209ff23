"""Size of a fitted model: pickled (joblib) and in the safe folder format.

ULMFiTClassifier with default settings over ``--pretrained`` (the bundled AWD-LSTM unless
given; ``--pretrained minilm-l6`` for the default encoder) is fitted on the first ``--n``
questions of the bundled TREC-6 sample, or with ``--datasets`` on a stratified sample of
each learning-curve set; the model is saved with each weight storage form (float32,
float16, int8 rows) and its test predictions after loading are compared with the fitted
model's (changed predictions, test error, largest probability change).  One JSON line per
(data set, storage form) goes to benchmarks/results/model_size.jsonl.

    python benchmarks/model_size.py --n 60
    python benchmarks/model_size.py --pretrained minilm-l6 --n 100 --datasets trec6 sst2 agnews imdb
"""

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, append_result, git_commit, load_dataset

from ulmfit_sklearn import ULMFiTClassifier, load
from ulmfit_sklearn.datasets import load_trec6_sample
from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, load_encoder


def _word_embedding(module):
    """The classifier's word embedding, an AWD-LSTM's or a BERT's."""
    encoder = module.encoder
    return encoder.encoder if hasattr(encoder, "encoder") else encoder.embeddings.word


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--pretrained", default=AWD_LSTM_ENCODER)
    p.add_argument("--datasets", nargs="*", default=[],
                   help="fit on a stratified --n sample of each of these learning-curve sets "
                        "(seed --seed) and compare the test predictions of every weight "
                        "storage form with the fitted model's; none: the bundled TREC-6 sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-test", type=int, default=1000, help="test sample size for IMDb")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model_size.jsonl"))
    a = p.parse_args()
    encoder, commit = load_encoder(a.pretrained), git_commit()  # the package this process runs
    for ds in a.datasets or [None]:
        if ds is None:
            X, y, Xt, yt = load_trec6_sample()
            X, y = X[:a.n], y[:a.n]
        else:
            X, y, Xt, yt = load_dataset(ds, a.n, a.seed, a.n_test if ds == "imdb" else None)
        t0 = time.perf_counter()
        clf = ULMFiTClassifier(a.pretrained, random_state=a.seed).fit(X, y)
        fit_s = time.perf_counter() - t0
        proba = clf.predict_proba(Xt)
        tok = clf.tokenizer_
        row = {"n": a.n, "dataset": ds or "trec6_sample", "seed": a.seed,
               "pickle_mb": round(len(pickle.dumps(clf)) / 1e6, 1),
               "encoder": Path(encoder.path).name,
               "embedding_rows": int(_word_embedding(clf.net_.module_).num_embeddings),
               "vocabulary": tok.vocab_size, "aliases": len(getattr(tok, "aliases", {})),
               "parameters": int(sum(p.numel() for p in clf.net_.module_.parameters())),
               "fit_seconds": round(fit_s, 1), "encoder_sha256": encoder.sha256, "git_commit": commit,
               "n_test": len(Xt), "error": float(np.mean(clf.classes_[proba.argmax(1)] != yt))}
        for weights in ("float32", "float16", "int8"):
            with tempfile.TemporaryDirectory() as tmp:
                folder = clf.save(Path(tmp) / "model", weights=weights)
                folder_bytes = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                again = load(folder).predict_proba(Xt)
            print(append_result(a.out, dict(
                row, weights=weights, folder_mb=round(folder_bytes / 1e6, 1),
                stored_error=float(np.mean(clf.classes_[again.argmax(1)] != yt)),
                changed_predictions=int(np.sum(again.argmax(1) != proba.argmax(1))),
                max_abs_proba_diff=float(np.abs(again - proba).max()))), flush=True)


if __name__ == "__main__":
    main()
