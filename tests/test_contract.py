"""The scikit-learn contract beyond the estimator checks: decision_function's shape,
tags, score's sample_weight, the supported scikit-learn versions (issue 20), and bad
input that every estimator refuses with a clear error (issue 34)."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.utils import get_tags

import ulmfit_sklearn._base as base
from ulmfit_sklearn import (ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer, _compat,
                            baselines)

from conftest import FAST, make_toy_data

ROOT = Path(__file__).resolve().parents[1]


def _version(text):
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


@pytest.fixture(scope="module")
def data():
    return make_toy_data(40, seed=4)


@pytest.fixture(scope="module")
def binary(tiny_encoder_dir, data):
    return ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(*data)


@pytest.fixture(scope="module")
def regressor(tiny_encoder_dir, data):
    X, y = data
    return ULMFiTRegressor(str(tiny_encoder_dir), **FAST).fit(X, (y == "pos") * 3.0 + 1)


# ---------------------------------------------------------------- decision_function
def test_binary_decision_function_is_one_column(binary, data):
    X, y = data
    scores = binary.decision_function(X)
    assert scores.shape == (len(X),)
    # the score of classes_[1]: positive where it is predicted, sigmoid is its probability
    np.testing.assert_array_equal(binary.predict(X), binary.classes_[(scores > 0).astype(int)])
    np.testing.assert_allclose(1 / (1 + np.exp(-scores)), binary.predict_proba(X)[:, 1],
                               rtol=1e-4, atol=1e-6)
    # ranking by the score is ranking by the probability of classes_[1]
    assert roc_auc_score(y, scores) == roc_auc_score(y, binary.predict_proba(X)[:, 1])
    assert binary.decision_function([]).shape == (0,)


def test_roc_auc_scoring_works_on_binary_tasks(tiny_encoder_dir, data):
    X, y = data
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST)
    scores = cross_val_score(clf, X, y, cv=2, scoring="roc_auc", error_score="raise")
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_multiclass_and_multilabel_decision_function_keep_a_column_per_class(tiny_encoder_dir,
                                                                             data):
    X, y = data
    y3 = np.where(np.arange(len(y)) % 3 == 0, "mid", y)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y3)
    assert clf.decision_function(X[:5]).shape == (5, 3)
    np.testing.assert_array_equal(clf.predict(X[:5]),
                                  clf.classes_[clf.decision_function(X[:5]).argmax(1)])
    Y = np.column_stack([y == "pos", ["film" in t.lower() for t in X]]).astype(int)
    ml = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, Y)
    scores = ml.decision_function(X[:5])
    assert scores.shape == (5, 2)  # one logit per label
    np.testing.assert_array_equal(ml.predict(X[:5]), (scores >= 0).astype(int))
    with pytest.raises(ValueError, match="sample_weight"):
        ml.score(X, Y, sample_weight=np.ones(3))


# ---------------------------------------------------------------- tags
def test_tags_declare_multilabel_and_multioutput():
    clf_tags = get_tags(ULMFiTClassifier())
    assert clf_tags.classifier_tags.multi_label
    assert clf_tags.input_tags.string
    reg_tags = get_tags(ULMFiTRegressor())
    assert reg_tags.target_tags.multi_output and reg_tags.target_tags.single_output


def test_regressor_predicts_several_outputs(regressor, tiny_encoder_dir, data):
    X, y = data
    Y = np.column_stack([(y == "pos") * 3.0, np.arange(len(y), dtype=float)])
    reg = ULMFiTRegressor(str(tiny_encoder_dir), **FAST).fit(X, Y)
    assert reg.predict(X[:4]).shape == (4, 2)
    assert np.isfinite(reg.score(X, Y))


# ---------------------------------------------------------------- score's sample_weight
@pytest.mark.parametrize("weight", [np.ones(5), np.ones((40, 1)), np.ones(41), 1.0,
                                    ["a"] * 40, [np.nan] + [1.0] * 39])
@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_score_rejects_bad_sample_weight_first(which, weight, binary, regressor, data,
                                               monkeypatch):
    X, y = data
    est = binary if which == "classifier" else regressor
    target = y if which == "classifier" else (y == "pos") * 3.0 + 1

    def no_forward(*args, **kwargs):
        raise AssertionError("score predicted before checking sample_weight")

    monkeypatch.setattr(type(est), "_forward", no_forward)
    with pytest.raises(ValueError, match="sample_weight"):
        est.score(X, target, sample_weight=weight)


@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_score_uses_sample_weight(which, binary, regressor, data):
    """Weights that differ from row to row change the score as scikit-learn's metric
    computes it (equal weights would pass with the weights ignored)."""
    from sklearn.metrics import accuracy_score, r2_score

    X, y = data
    est = binary if which == "classifier" else regressor
    if which == "classifier":  # a quarter of the labels flipped, so some rows are wrong
        target = np.where(np.arange(len(y)) % 4 == 0, np.where(y == "pos", "neg", "pos"), y)
        metric = accuracy_score
    else:
        target, metric = (y == "pos") * 3.0 + 1 + np.arange(len(y)) % 3, r2_score
    weight = 1.0 + 9.0 * (np.arange(len(X)) % 4 == 0)  # the flipped rows weigh ten times more
    weighted = est.score(X, target, sample_weight=weight)
    assert weighted == pytest.approx(metric(target, est.predict(X), sample_weight=weight))
    assert weighted != pytest.approx(est.score(X, target))
    assert est.score(X, target, sample_weight=[2.0] * len(X)) == pytest.approx(
        est.score(X, target))


def test_classifier_score_weights_skip_unlabeled_rows(tiny_encoder_dir):
    X, y = make_toy_data(40, seed=4)
    y = y.astype(object)
    y[::4] = "?"
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label="?", **FAST).fit(X, y)
    weight = np.ones(len(X))
    weight[::4] = 1e6  # weights of unlabeled rows are dropped with the rows
    assert clf.score(X, y, sample_weight=weight) == pytest.approx(clf.score(X, y))


# ---------------------------------------------------------------- fit's parameter validation
class _Stop(Exception):
    pass


@pytest.mark.parametrize("cls", [ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer])
def test_fit_validates_as_scikit_learn_fit_context_does(cls, tiny_encoder_dir, data, monkeypatch):
    """``fit`` checks the parameters once, through scikit-learn's fit context: not under
    ``skip_parameter_validation``, and the scikit-learn calls inside it skip theirs."""
    X, y = data
    target = y if cls is ULMFiTClassifier else (y == "pos") * 1.0
    calls, nested = [], []
    real = cls._validate_params
    monkeypatch.setattr(cls, "_validate_params", lambda self: calls.append(1) or real(self))

    def stop(self, *args, **kwargs):
        nested.append(sklearn.get_config()["skip_parameter_validation"])
        raise _Stop

    monkeypatch.setattr(cls, "_run_stages", stop)
    est = cls(str(tiny_encoder_dir), **({} if cls is ULMFiTVectorizer else FAST))
    with pytest.raises(_Stop):
        est.fit(X, target)
    assert calls == [1] and nested == [True]
    with sklearn.config_context(skip_parameter_validation=True), pytest.raises(_Stop):
        est.fit(X, target)
    assert calls == [1]
    with pytest.raises(_compat.InvalidParameterError):
        cls(str(tiny_encoder_dir), lm_lr_decay=0.5).fit(X, target)


# ---------------------------------------------------------------- scikit-learn versions
def test_sklearn_floor_is_consistent_and_installed():
    deps = re.search(r"dependencies\s*=\s*\[(.*?)\]", (ROOT / "pyproject.toml").read_text(),
                     re.S).group(1)
    floor = re.search(r'"scikit-learn>=([\d.]+)"', deps).group(1)
    assert floor == _compat.SKLEARN_MIN_VERSION
    assert _version(sklearn.__version__) >= _version(floor)


def test_compat_shim_provides_the_private_names():
    from sklearn.utils import _param_validation as pv

    for name in ("Interval", "StrOptions", "InvalidParameterError"):
        assert getattr(_compat, name) is getattr(pv, name)


def test_no_module_imports_private_param_validation_directly():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "ulmfit_sklearn").rglob("*.py")
                 if p.name != "_compat.py" and "_param_validation" in p.read_text()]
    assert offenders == []


def test_baseline_fits_quietly_on_the_installed_sklearn():
    X, y = make_toy_data(60, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", UserWarning)
        model = baselines.tfidf_logreg().fit(X, y)
    assert model.score(X, y) > 0.9


def test_baseline_passes_only_arguments_the_sklearn_has(monkeypatch):
    class PreOneEight(LogisticRegressionCV):
        """LogisticRegressionCV as scikit-learn 1.6 and 1.7 have it: no
        use_legacy_attributes (and l1_ratios only for penalty="elasticnet")."""

        def __init__(self, *, Cs=10, max_iter=100, scoring=None):
            super().__init__(Cs=Cs, max_iter=max_iter, scoring=scoring)

    monkeypatch.setattr(baselines, "LogisticRegressionCV", PreOneEight)
    model = baselines.tfidf_logreg(max_iter=50)
    assert model[-1].get_params() == {"Cs": 10, "max_iter": 50, "scoring": "accuracy"}


# ---------------------------------------------------------------- bad input (issue 34)
ESTIMATORS = [ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer]


def _no_encoder(*args, **kwargs):
    raise AssertionError("the encoder was loaded")


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("device, cuda, message", [
    ("tpu", 1, r"device must be 'auto', 'cpu', 'cuda' or 'cuda:N' \(N an int\), got 'tpu'"),
    ("cuda:abc", 1, r"device must be .*, got 'cuda:abc'; this machine has 1 CUDA device"),
    ("CPU", 0, r"got 'CPU'; this machine has no CUDA device"),
    ("cuda", 0, r"device 'cuda' is not available: this machine has no CUDA device"),
    ("cuda:0", 0, r"device 'cuda:0' is not available: this machine has no CUDA device"),
    ("cuda:2", 2, r"device 'cuda:2' is not available: this machine has 2 CUDA devices "
                  r"\(cuda:0 to cuda:1\)"),
])
def test_a_device_this_machine_lacks_is_refused_before_the_encoder_loads(cls, device, cuda, message,
                                                                         data, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(base, "load_encoder", _no_encoder)
    X, y = data
    with pytest.raises(ValueError, match=message):
        cls("default", device=device).fit(X, (y == "pos") * 1.0 if cls is ULMFiTRegressor else y)


def test_check_device_accepts_auto_cpu_and_the_cuda_devices_there(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for device in ("auto", "cpu", "cuda", "cuda:0", "cuda:1"):
        assert base.check_device(device) == device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert base.check_device("auto") == "auto" and base.check_device("cpu") == "cpu"


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("X", [["", " "], ["\n", "\t \r\n", "\u3000", ""]])
def test_documents_all_empty_or_whitespace_are_refused(cls, X, monkeypatch):
    from ulmfit_sklearn.diagnostics import lr_find

    monkeypatch.setattr(base, "load_encoder", _no_encoder)
    y = [0.0, 1.0] * (len(X) // 2) if cls is ULMFiTRegressor else ["a", "b"] * (len(X) // 2)
    with pytest.raises(ValueError, match="all documents are empty or whitespace"):
        cls("default").fit(X, y)
    with pytest.raises(ValueError, match="all documents are empty or whitespace"):
        lr_find(cls("default"), X, y, stage="lm")
