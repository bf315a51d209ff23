"""Semi-supervised: few labels, many unlabeled texts for language-model fine-tuning.

Rows whose label equals ``unlabeled_label`` feed stage 2 (LM fine-tuning) only;
stage 3 trains on the labeled rows.  This is the paper's semi-supervised setting.

Run: python examples/semi_supervised.py
"""

import numpy as np
from _common import fast_params, parse_args

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.datasets import load_trec6_sample

args = parse_args(__doc__)
X, y, X_test, y_test = load_trec6_sample()
n_labeled = 30 if args.fast else 100
if args.fast:
    X, y, X_test, y_test = X[:80], y[:80], X_test[:30], y_test[:30]

y_partial = np.array(y, dtype=object)
y_partial[n_labeled:] = -1  # scikit-learn's marker for "no label"
clf = ULMFiTClassifier(unlabeled_label=-1, random_state=0, **fast_params(args.fast))
clf.fit(X, y_partial)
print(f"{n_labeled} labeled + {len(X) - n_labeled} unlabeled questions: "
      f"test accuracy {clf.score(X_test, y_test):.3f}")
