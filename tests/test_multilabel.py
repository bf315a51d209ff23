"""ULMFiTClassifier with a multi-label indicator matrix as y."""

import numpy as np
import pytest
from sklearn.base import clone

from ulmfit_sklearn import ULMFiTClassifier

from conftest import FAST, make_toy_data


def _multilabel(n, seed):
    X, labels = make_toy_data(n, seed=seed)
    Y = np.column_stack([labels == "pos", ["film" in t.lower() for t in X]]).astype(int)
    return X, Y


@pytest.fixture(scope="module")
def fitted(tiny_encoder_dir):
    X, Y = _multilabel(200, 7)
    return ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=1, unfreeze_epochs=(8,),
                            drop_mult=0.0, batch_size=16, random_state=0).fit(X, Y)


def test_learns_each_label(fitted):
    X, Y = _multilabel(100, 8)
    pred = fitted.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean(axis=0).min() > 0.75
    assert fitted.multilabel_ and list(fitted.classes_) == [0, 1] and fitted.n_outputs_ == 2
    # scikit-learn's multi-label score: the fraction of documents with every label right
    assert fitted.score(X, Y) == pytest.approx(np.mean((pred == Y).all(axis=1)))
    assert fitted.score(X, Y) > 0.5  # two labels, each a coin flip: 0.25 by chance


def test_probabilities_are_per_label(fitted):
    X, _ = _multilabel(30, 9)
    proba = fitted.predict_proba(X)
    assert proba.shape == (30, 2) and ((proba >= 0) & (proba <= 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    np.testing.assert_allclose(np.exp(fitted.predict_log_proba(X)), proba)


def test_threshold_decides(fitted):
    X, _ = _multilabel(30, 9)
    strict = clone(fitted).set_params(threshold=0.999)
    strict.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    assert strict.predict(X).sum() < fitted.predict(X).sum()


@pytest.mark.parametrize("params, Y, match", [
    ({"class_weight": "balanced"}, None, "not supported"),
    ({}, np.array([["a", "b"], ["b", "a"]] * 3), "indicator"),
    ({}, np.eye(2, dtype=int)[[0, 1, 0]], "different lengths"),
])
def test_bad_multilabel_input(tiny_encoder_dir, params, Y, match):
    X, Y0 = _multilabel(6, 1)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, Y0 if Y is None else Y)
