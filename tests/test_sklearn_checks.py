"""scikit-learn's own estimator checks that apply to a text estimator, and text
versions of the ones that feed numbers (parametrize_with_checks skips almost all of
them for string input)."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from ulmfit_sklearn import ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer

from conftest import FAST, make_toy_data

DIRECT_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
]


ESTIMATORS = {ULMFiTClassifier: "classifier", ULMFiTRegressor: "regressor"}


@pytest.mark.parametrize("cls", [*ESTIMATORS, ULMFiTVectorizer])
@pytest.mark.parametrize("name", DIRECT_CHECKS)
def test_sklearn_check(name, cls):
    getattr(ec, name)(cls.__name__, cls())


@pytest.mark.parametrize("cls", [*ESTIMATORS, ULMFiTVectorizer])
def test_tags_declare_string_input(cls):
    tags = cls().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.estimator_type == ESTIMATORS.get(cls)


@pytest.fixture(scope="module", params=list(ESTIMATORS), ids=lambda c: c.__name__)
def cls(request):
    return request.param


@pytest.fixture(scope="module")
def data(cls):
    X, y = make_toy_data(40, seed=3)
    if cls is ULMFiTRegressor:
        y = np.where(y == "pos", 4.0, 1.0) + np.linspace(0, 0.5, len(y))
    return X, y


def _outputs(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


@pytest.fixture
def est(cls, tiny_encoder_dir):
    return cls(str(tiny_encoder_dir), **FAST)


def test_fit_returns_self(est, data):
    assert est.fit(*data) is est


def test_fit_does_not_change_parameters(est, data):
    before = clone(est).get_params()
    est.fit(*data)
    after = est.get_params()
    assert before.keys() == after.keys()
    for k in before:
        assert repr(before[k]) == repr(after[k]), k


def test_fit_is_idempotent(est, data):
    X, y = data
    a = _outputs(est.fit(X, y), X)
    b = _outputs(est.fit(X, y), X)
    np.testing.assert_array_equal(a, b)


def test_unfitted_raises_not_fitted(est, data):
    for method in ("predict", "predict_proba", "decision_function"):
        if not hasattr(est, method):
            continue
        with pytest.raises(NotFittedError):
            getattr(est, method)(data[0])


def test_fitted_attributes_end_with_underscore(est, data):
    before = set(vars(est))
    est.fit(*data)
    new = set(vars(est)) - before
    assert new and all(a.endswith("_") for a in new)


def test_methods_subset_invariance(est, data):
    X, y = data
    est.fit(X, y)
    full = _outputs(est, X)
    parts = np.concatenate([_outputs(est, X[i:i + 7]) for i in range(0, len(X), 7)])
    np.testing.assert_allclose(full, parts, rtol=1e-5, atol=1e-6)


def test_classifier_rejects_regression_target(est, data):
    if not isinstance(est, ULMFiTClassifier):
        pytest.skip("classifier only")
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, np.linspace(0, 1, len(X)))


def test_y_2d_column_is_accepted(est, data):
    X, y = data
    est.fit(X, y.reshape(-1, 1))
    # classifiers predict labels; regressors keep y's shape, as LinearRegression does
    assert est.predict(X[:2]).shape == ((2,) if isinstance(est, ULMFiTClassifier) else (2, 1))
