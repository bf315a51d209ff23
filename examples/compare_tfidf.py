"""ULMFiT against TF-IDF + logistic regression, by cross-validation.

Run: python examples/compare_tfidf.py
"""

from _common import fast_params, parse_args
from sklearn.model_selection import StratifiedKFold, cross_val_score

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.baselines import tfidf_logreg
from ulmfit_sklearn.datasets import load_trec6_sample

args = parse_args(__doc__)
X, y, _, _ = load_trec6_sample()
if args.fast:
    X, y = X[:60], y[:60]

cv = StratifiedKFold(3, shuffle=True, random_state=0)
for name, est in [("ULMFiT", ULMFiTClassifier(random_state=0, **fast_params(args.fast))),
                  ("TF-IDF + LogisticRegressionCV", tfidf_logreg())]:
    scores = cross_val_score(est, X, y, cv=cv)
    print(f"{name:30s} accuracy {scores.mean():.3f} +- {scores.std():.3f}")
