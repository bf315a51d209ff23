"""Stage 3's vocabulary, A/B on validation splits (n = 1,000; 2,000 validation texts):
words that only later texts have, aliased to their nearest vocabulary word (the
package now), against the previous extension of the classifier's vocabulary by every
vector word (with mapped vectors).  Default encoder and settings.
Appends to benchmarks/results/vocab_aliases.jsonl.

    python benchmarks/vocab_aliases.py alias agnews 0 1 2
    python benchmarks/vocab_aliases.py extend agnews 0 1 2
"""
import sys
import time

import numpy as np
from common import ROOT, append_result
from schedule import split

import ulmfit_sklearn._base as base
from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, extend_vocabulary, load_encoder

variant, ds, seeds = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
if variant == "extend":
    base.alias_vector_words = lambda tuned, nearest: (
        extend_vocabulary(tuned, tuned.vectors[0]) if tuned.vectors is not None else tuned)
for seed in seeds:
    Xtr, ytr, Xv, yv = split(ds, 1000, 2000, seed)
    t0 = time.time()
    clf = ULMFiTClassifier(AWD_LSTM_ENCODER, random_state=seed).fit(Xtr, ytr)
    err = float(np.mean(clf.predict(Xv) != yv))
    print(append_result(ROOT / "benchmarks" / "results" / "vocab_aliases.jsonl", {
        "variant": variant, "dataset": ds, "n": 1000, "seed": seed, "split": "validation",
        "error": err, "vocab": clf.tokenizer_.vocab_size, "fit_seconds": round(time.time() - t0, 1),
        "encoder_sha256": load_encoder(AWD_LSTM_ENCODER).sha256}), flush=True)
