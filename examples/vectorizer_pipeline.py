"""ULMFiTVectorizer: document vectors for any scikit-learn model, alone or next
to TF-IDF features.

Run: python examples/vectorizer_pipeline.py
"""

from _common import parse_args
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from ulmfit_sklearn import ULMFiTVectorizer
from ulmfit_sklearn.datasets import load_trec6_sample

args = parse_args(__doc__)
X, y, X_test, y_test = load_trec6_sample()
if args.fast:
    X, y, X_test, y_test = X[:60], y[:60], X_test[:30], y_test[:30]

vectors = make_pipeline(ULMFiTVectorizer(random_state=0), StandardScaler(),
                        LogisticRegression(max_iter=2000))
both = make_pipeline(
    make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
               make_pipeline(ULMFiTVectorizer(random_state=0), StandardScaler())),
    LogisticRegression(max_iter=2000))
for name, pipe in [("encoder vectors", vectors), ("TF-IDF + encoder vectors", both)]:
    pipe.fit(X, y)
    print(f"{name:26s} test accuracy {pipe.score(X_test, y_test):.3f}")
print("features:", vectors[0].get_feature_names_out()[:3], "...")
