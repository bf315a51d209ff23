"""Quickstart: fit ULMFiTClassifier on 500 TREC-6 questions and predict.

Run: python examples/quickstart.py   (about a minute on 2 CPU cores)
"""

from _common import fast_params, parse_args

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.datasets import load_trec6_sample

args = parse_args(__doc__)
X_train, y_train, X_test, y_test = load_trec6_sample()  # bundled with the package
if args.fast:
    X_train, y_train, X_test, y_test = X_train[:60], y_train[:60], X_test[:30], y_test[:30]

# stage 1 is done: the package ships a pretrained encoder ("default");
# fit runs stage 2 (LM fine-tuning on X_train) and stage 3 (the classifier)
clf = ULMFiTClassifier(random_state=0, **fast_params(args.fast))
clf.fit(X_train, y_train)

print("classes:", clf.classes_)
print(clf.predict(["Who wrote Hamlet?", "How far is the Moon from the Earth?"]))
print(clf.predict_proba(["What is a mongoose?"]).round(3))
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
