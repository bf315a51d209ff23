"""Size of a fitted model: pickled (joblib) and in the safe folder format.

ULMFiTClassifier with default settings over ``--pretrained`` (the bundled AWD-LSTM unless
given; ``--pretrained minilm-l6`` for the default encoder) is fitted on the first ``--n``
questions of the bundled TREC-6 sample; one JSON line goes to
benchmarks/results/model_size.jsonl.

    python benchmarks/model_size.py --n 60
"""

import argparse
import pickle
import tempfile
import time
from pathlib import Path

from common import ROOT, append_result

from ulmfit_sklearn import ULMFiTClassifier
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
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "model_size.jsonl"))
    a = p.parse_args()
    X, y, _, _ = load_trec6_sample()
    t0 = time.perf_counter()
    clf = ULMFiTClassifier(a.pretrained, random_state=0).fit(X[:a.n], y[:a.n])
    fit_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        folder = clf.save(Path(tmp) / "model")
        folder_bytes = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    tok = clf.tokenizer_
    print(append_result(a.out, {
        "n": a.n, "pickle_mb": round(len(pickle.dumps(clf)) / 1e6, 1),
        "folder_mb": round(folder_bytes / 1e6, 1),
        "encoder": Path(load_encoder(a.pretrained).path).name,
        "embedding_rows": int(_word_embedding(clf.net_.module_).num_embeddings),
        "vocabulary": tok.vocab_size, "aliases": len(getattr(tok, "aliases", {})),
        "parameters": int(sum(p.numel() for p in clf.net_.module_.parameters())),
        "fit_seconds": round(fit_s, 1), "encoder_sha256": load_encoder(a.pretrained).sha256}),
        flush=True)


if __name__ == "__main__":
    main()
