"""ULMFiTRegressor: learning, target shapes and scales, bad targets, sklearn tools."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold

from ulmfit_sklearn import ULMFiTRegressor

from conftest import FAST, make_toy_data


@pytest.fixture(scope="module")
def data():
    X, labels = make_toy_data(200, seed=5)
    # star ratings in the thousands: the fit must not depend on the targets' scale
    y = np.where(labels == "pos", 4500.0, 1500.0)
    return X, y


@pytest.fixture(scope="module")
def fitted(tiny_encoder_dir, data):
    return ULMFiTRegressor(str(tiny_encoder_dir), lm_epochs=1, unfreeze_epochs=(8,), drop_mult=0.0,
                           batch_size=16, random_state=0).fit(*data)


def test_learns_the_signal_in_the_targets_units(fitted):
    X, labels = make_toy_data(100, seed=6)
    y = np.where(labels == "pos", 4500.0, 1500.0)
    pred = fitted.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    assert pred[y > 3000].mean() - pred[y < 3000].mean() > 1000
    assert fitted.score(X, y) == pytest.approx(r2_score(y, pred)) and fitted.score(X, y) > 0.3
    np.testing.assert_allclose(fitted.y_mean_, [3000.0])
    assert fitted.n_outputs_ == 1


def test_several_targets(tiny_encoder_dir, data):
    X, y = data
    Y = np.column_stack([y, -y / 1000, np.ones_like(y)])  # a constant target too
    reg = ULMFiTRegressor(str(tiny_encoder_dir), **FAST).fit(X, Y)
    pred = reg.predict(X[:5])
    assert pred.shape == (5, 3)
    np.testing.assert_allclose(pred[:, 2], 1.0)  # a constant target is predicted exactly


@pytest.mark.parametrize("y, match", [
    ([1.0, float("nan")], "NaN"),
    (["good", "bad"], "numeric"),
    ([1.0, 2.0, 3.0], "different lengths"),
    (np.zeros((2, 1, 1)), "1-D or 2-D"),
])
def test_bad_targets(tiny_encoder_dir, y, match):
    reg = ULMFiTRegressor(str(tiny_encoder_dir), **FAST)
    with pytest.raises(ValueError, match=match):
        reg.fit(["a film", "another film"], y)
    assert not hasattr(reg, "net_")


def test_pickles_and_predicts_the_same(fitted, data):
    X, _ = data
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X[:6]), fitted.predict(X[:6]))


def test_grid_search_scores_r2(tiny_encoder_dir, data):
    X, y = data
    est = ULMFiTRegressor(str(tiny_encoder_dir), **FAST)
    gs = GridSearchCV(est, {"lr_decay": [1.0, 2.6]}, cv=2).fit(X, y)
    assert set(gs.cv_results_["param_lr_decay"]) == {1.0, 2.6}
    # the default scoring is R^2 on the held-out fold: refit one candidate on the first fold
    train, test = next(KFold(2).split(X))
    one = clone(est).set_params(lr_decay=2.6).fit([X[i] for i in train], y[train])
    k = list(gs.cv_results_["param_lr_decay"]).index(2.6)
    assert gs.cv_results_["split0_test_score"][k] == pytest.approx(
        r2_score(y[test], one.predict([X[i] for i in test])), rel=1e-5)
    assert gs.score(X, y) == pytest.approx(r2_score(y, gs.predict(X)))
