"""The safe model format: save(folder) / load(folder), and what a pickle holds."""

import json
import pickle

import numpy as np
import pytest
import torch

import ulmfit_sklearn
from ulmfit_sklearn import ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer
from ulmfit_sklearn.persistence import ModelFileError

from conftest import FAST, make_toy_data


@pytest.fixture(scope="module")
def data():
    return make_toy_data(40)


@pytest.fixture(scope="module")
def fitted(tiny_encoder_dir, data):
    X, y = data
    return ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the safe format must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_classifier_round_trip_is_exact_and_unpickles_nothing(fitted, data, tmp_path,
                                                              no_unpickling):
    X, _ = data
    folder = fitted.save(tmp_path / "model", weights="float32")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "vocab.txt",
                                                        "weights.safetensors"]
    loaded = ulmfit_sklearn.load(folder)
    assert type(loaded) is ULMFiTClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.classes_.dtype == fitted.classes_.dtype
    assert loaded.get_params() == fitted.get_params()
    assert loaded.history_ == json.loads(json.dumps(fitted.history_))
    assert ULMFiTClassifier.load(folder).encoder_sha256_ == fitted.encoder_sha256_


@pytest.mark.parametrize("labels", ["int", "bool", "nan-marker"])
def test_label_types_and_parameters_survive(tiny_encoder_dir, data, tmp_path, labels):
    X, y = data
    params = dict(FAST, lm_epochs=0)
    if labels == "int":
        y, params["class_weight"] = np.where(y == "pos", 7, 3), {3: 1.0, 7: 2.0}
    elif labels == "bool":
        y = y == "pos"
    else:
        y = np.array(y, dtype=object)
        y[:4] = None
        params["unlabeled_label"] = float("nan")
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **params).fit(X, y)
    loaded = ulmfit_sklearn.load(clf.save(tmp_path / "m", weights="float32"))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    if labels == "int":
        assert loaded.class_weight == {3: 1.0, 7: 2.0}
    if labels == "nan-marker":
        assert np.isnan(loaded.unlabeled_label)


def test_regressor_multilabel_and_vectorizer_round_trip(tiny_encoder_dir, data, tmp_path):
    X, y = data
    targets = np.c_[np.arange(len(X)) % 5, np.arange(len(X)) % 3].astype(float)
    reg = ULMFiTRegressor(str(tiny_encoder_dir), **FAST).fit(X, targets)
    np.testing.assert_array_equal(ulmfit_sklearn.load(reg.save(tmp_path / "r", weights="float32")).predict(X),
                                  reg.predict(X))
    labels = np.c_[y == "pos", np.arange(len(X)) % 2].astype(int)
    multi = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, labels)
    loaded = ulmfit_sklearn.load(multi.save(tmp_path / "ml", weights="float32"))
    np.testing.assert_array_equal(loaded.predict_proba(X), multi.predict_proba(X))
    vec = ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0).fit(X)
    loaded = ulmfit_sklearn.load(vec.save(tmp_path / "v", weights="float32"))
    np.testing.assert_array_equal(loaded.transform(X), vec.transform(X))
    assert loaded.n_features_out_ == vec.n_features_out_
    with pytest.raises(ModelFileError, match="holds a ULMFiTVectorizer"):
        ULMFiTClassifier.load(tmp_path / "v")


def test_broken_or_foreign_folders_are_clear_errors(fitted, tmp_path):
    with pytest.raises(ModelFileError, match="not a saved ulmfit-sklearn model"):
        ulmfit_sklearn.load(tmp_path)
    folder = fitted.save(tmp_path / "m")
    model = json.loads((folder / "model.json").read_text())
    for change, match in [({"estimator": "os.system"}, "unknown estimator"),
                          ({"format_version": 99}, "model format 99"),
                          ({"tokenizer": {"type": "word", "file": "../../etc/passwd"}},
                           "unknown tokenizer")]:
        (folder / "model.json").write_text(json.dumps({**model, **change}))
        with pytest.raises(ModelFileError, match=match):
            ulmfit_sklearn.load(folder)
    (folder / "model.json").write_text(json.dumps(model))
    (folder / "weights.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelFileError, match="weights.safetensors"):
        ulmfit_sklearn.load(folder)


def test_a_pickle_holds_the_weights_once(fitted):
    weights = sum(t.numel() * t.element_size() for t in fitted.net_.module_.state_dict().values())
    assert len(pickle.dumps(fitted)) < 1.2 * weights + 2e6  # + the tokenizer and the rest
