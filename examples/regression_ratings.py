"""Predict a movie review's star rating (1-10) with ULMFiTRegressor.

Reads the Large Movie Review Dataset (``load_imdb``): pass the aclImdb folder or
archive with --imdb, or --download to fetch it (84 MB) once.  --fast instead
makes a few made-up reviews, so the example runs without the data (CI).

Run: python examples/regression_ratings.py --imdb path/to/aclImdb_v1.tar.gz
"""

import argparse

import numpy as np
from sklearn.metrics import mean_absolute_error

from ulmfit_sklearn import ULMFiTRegressor
from ulmfit_sklearn.datasets import load_imdb

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("--imdb", default=None, help="aclImdb folder or aclImdb_v1.tar.gz")
p.add_argument("--download", action="store_true", help="download the archive if missing")
p.add_argument("--n", type=int, default=1000, help="training reviews")
p.add_argument("--fast", action="store_true")
args = p.parse_args()

if args.fast:
    rng = np.random.default_rng(0)
    words = {1: "awful dreadful", 4: "weak dull", 7: "good fun", 10: "superb masterpiece"}
    ratings = rng.choice(list(words), 80)
    texts = [f"The film was {words[r].split()[rng.integers(2)]}, the plot {words[r].split()[0]}."
             for r in ratings]
    X, y, X_test, y_test = texts[:60], ratings[:60], texts[60:], ratings[60:]
    params = dict(lm_epochs=1, unfreeze_epochs=(1, 1), batch_size=8)
else:
    texts, _, ratings = load_imdb(args.imdb, "train", download_if_missing=args.download)
    test_texts, _, test_ratings = load_imdb(args.imdb, "test", download_if_missing=args.download)
    rng = np.random.default_rng(0)
    idx, tidx = rng.permutation(len(texts))[: args.n], rng.permutation(len(test_texts))[:2000]
    X, y = [texts[i] for i in idx], ratings[idx]
    X_test, y_test = [test_texts[i] for i in tidx], test_ratings[tidx]
    params = {}

reg = ULMFiTRegressor(random_state=0, **params).fit(X, y)
pred = np.clip(reg.predict(X_test), 1, 10)
print(f"mean absolute error {mean_absolute_error(y_test, pred):.2f} stars "
      f"(predicting the mean: {mean_absolute_error(y_test, np.full(len(y_test), np.mean(y))):.2f})")
