"""Prediction speed by batching: fixed batches of documents against batches sized by
tokens (``DocumentBatches(max_tokens=...)``), on test texts sorted by length as
``ULMFiTClassifier`` predicts them.

The classifier is the default encoder with a fresh head (prediction time does not
depend on the weights' values).  Each setting is timed ``--reps`` times; the median
is kept.  Appends one JSON line per (dataset, setting) to
benchmarks/results/predict_batching.jsonl.

    python benchmarks/predict_batching.py --datasets imdb trec6 --n-test 1000
"""

import argparse
import datetime
import statistics
import time

import numpy as np
import torch
from common import ROOT, append_result, load_dataset

from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER  # noqa: E402
from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.modules import SequenceClassifier
from ulmfit_sklearn.text import encode_texts
from ulmfit_sklearn.training.batching import DocumentDataset
from ulmfit_sklearn.training.stages import make_inference_net

#: (name, documents per batch, padded tokens per batch or None)
SETTINGS = [("docs64", 64, None), ("docs64_tok32k", 64, 32768), ("docs512_tok16k", 512, 16384),
            ("docs512_tok32k", 512, 32768), ("docs1024_tok64k", 1024, 65536)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["imdb", "trec6"])
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predict_batching.jsonl"))
    a = p.parse_args()
    run = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    enc = load_encoder(AWD_LSTM_ENCODER)
    torch.manual_seed(0)
    module = SequenceClassifier(enc.build_module().encoder, 2)
    for ds in a.datasets:
        _, _, Xt, _ = load_dataset(ds, 10, 0, a.n_test)
        Xt = Xt[:a.n_test]
        docs = encode_texts(enc.tokenizer, Xt)
        docs = [docs[i] for i in np.argsort([-len(d) for d in docs], kind="stable")]
        data = DocumentDataset(docs)
        reference = None
        for name, max_docs, max_tokens in SETTINGS:
            net = make_inference_net(module, batch_size=max_docs, max_tokens=max_tokens,
                                     pad_idx=enc.tokenizer.pad_id)
            times = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                with torch.inference_mode():
                    out = net.forward(data)
                times.append(time.perf_counter() - t0)
            reference = out if reference is None else reference
            s = statistics.median(times)
            print(append_result(a.out, {
                "dataset": ds, "setting": name, "max_docs": max_docs, "max_tokens": max_tokens,
                "documents": len(docs), "tokens": int(sum(len(d) for d in docs)),
                "seconds": round(s, 3), "docs_per_s": round(len(docs) / s, 1),
                "max_abs_diff": float((out - reference).abs().max()), "run": run,
                "encoder": AWD_LSTM_ENCODER,
                "encoder_sha256": enc.sha256}), flush=True)


if __name__ == "__main__":
    main()
