"""Fit-time budget and accuracy on IMDb at n = 1,000, next to TF-IDF.

ULMFiTClassifier with default settings (bundled encoder) is fitted on a stratified
sample (seed 0) of IMDb's training reviews, tokenization included, and tested on a
stratified 5,000-review sample (seed 0) of the test split.  Also records prediction
throughput and the model FLOPs per second against the fastest matmul measured in the
same run.  One JSON line per run goes to benchmarks/results/fit_budget.jsonl.

    python benchmarks/fit_budget.py [--n 1000] [--n-test 5000] [--seed 0]
"""

import argparse
import time

import numpy as np
from common import (ROOT, append_result, bert_flops, encoder_label, load_dataset,
                    lstm_flops_per_token, peak_matmul)

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.baselines import tfidf_logreg
from ulmfit_sklearn.training.numerics import native_bf16


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="imdb")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrained", default="default")
    p.add_argument("--skip-tfidf", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fit_budget.jsonl"))
    p.add_argument("--set", nargs="*", default=[], help="extra estimator params, k=v (Python literals)")
    p.add_argument("--family-set", nargs="*", default=[],
                   help="attributes of the encoder's family, k=v (e.g. attention_dropout=False)")
    a = p.parse_args()
    import ast
    extra = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.set)}
    family_extra = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.family_set)}
    if family_extra:
        from ulmfit_sklearn.encoders import load_encoder as _load
        family = _load(a.pretrained).family
        for k, v in family_extra.items():
            if not hasattr(family, k):
                p.error(f"the {family.name} family has no attribute {k!r}")
            setattr(family, k, v)

    X, y, Xt, yt = load_dataset(a.dataset, a.n, a.seed, a.n_test)
    peak = peak_matmul()
    clf = ULMFiTClassifier(a.pretrained, random_state=a.seed, **extra)
    t0 = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = clf.predict(Xt)
    pred_s = time.perf_counter() - t0
    err = float(np.mean(pred != yt))
    from ulmfit_sklearn.encoders import load_encoder
    enc = load_encoder(a.pretrained) if a.pretrained else None
    from ulmfit_sklearn.text import encode_texts
    lengths = [len(d) for d in encode_texts(clf.tokenizer_, Xt)] if enc else []
    if enc is None:
        flops = None
    elif enc.architecture == "bert":
        flops = bert_flops(enc.config, [min(L, clf.max_len) for L in lengths])
    else:
        flops = lstm_flops_per_token(enc.config) * sum(lengths)
    method = encoder_label("ulmfit", a.pretrained) if a.pretrained else "ulmfit_no_pretrain"
    if extra or family_extra:  # a variant of the defaults is its own series
        method += "+" + ",".join(f"{k}={v}" for k, v in sorted({**extra, **family_extra}.items()))
    stage_seconds = {stage: round(sum(e.get("dur", 0) for e in epochs), 1)
                     for stage, epochs in clf.history_.items()}
    row = {"dataset": a.dataset, "n": a.n, "seed": a.seed, "method": method, "error": err,
           "n_test": len(Xt), "n_unlabeled": 0, "fit_seconds": round(fit_s, 1),
           "stage_seconds": stage_seconds, "native_bf16": native_bf16("cpu"),
           "epoch_seconds": {stage: [round(e.get("dur", 0), 1) for e in epochs]
                             for stage, epochs in clf.history_.items()},
           "predict_seconds": round(pred_s, 1), "predict_docs_per_s": round(len(Xt) / pred_s, 1),
           "predict_gflops_per_s": round(flops / pred_s / 1e9, 1) if flops else None,
           "peak_matmul_gflops": {k: round(v, 1) for k, v in peak.items()},
           "encoder_sha256": clf.encoder_sha256_, "params": {**clf.get_params(), "memory": None}}
    row["params"] = {k: repr(v) for k, v in row["params"].items()}
    print(append_result(a.out, row), flush=True)
    if not a.skip_tfidf:
        base = tfidf_logreg()
        t0 = time.perf_counter()
        base.fit(X, y)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        err = float(np.mean(base.predict(Xt) != yt))
        print(append_result(a.out, {"dataset": a.dataset, "n": a.n, "seed": a.seed,
                                    "method": "tfidf_logreg", "error": err, "n_test": len(Xt),
                                    "n_unlabeled": 0, "fit_seconds": round(fit_s, 1),
                                    "predict_seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
