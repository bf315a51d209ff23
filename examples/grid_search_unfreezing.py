"""Grid-search the gradual-unfreezing schedule and discriminative learning rates.

Stage 2 (LM fine-tuning) depends only on the ``lm_*`` parameters and the texts, so
with ``memory`` set it runs once per cross-validation training fold, not once per
candidate: a grid over stage-3 parameters costs little more than stage 3 itself.

Run: python examples/grid_search_unfreezing.py
"""

import tempfile

from _common import fast_params, parse_args
from sklearn.model_selection import GridSearchCV

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.datasets import load_trec6_sample

args = parse_args(__doc__)
X, y, X_test, y_test = load_trec6_sample()
if args.fast:
    X, y, X_test, y_test = X[:60], y[:60], X_test[:30], y_test[:30]

grid = {
    "unfreeze_epochs": [(1, 1), (1, 3)] if args.fast else [(1, 1, 1, 2), (1, 1, 1, 4), (4,)],
    "lr_decay": [2.6] if args.fast else [1.0, 2.6],
}
params = fast_params(args.fast)
params.pop("unfreeze_epochs", None)
with tempfile.TemporaryDirectory() as cache:
    search = GridSearchCV(ULMFiTClassifier(memory=cache, random_state=0, **params), grid,
                          cv=2 if args.fast else 3)
    search.fit(X, y)

for p, s in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"{s:.3f}  {p}")
print("best:", search.best_params_, f"test accuracy {search.score(X_test, y_test):.3f}")
