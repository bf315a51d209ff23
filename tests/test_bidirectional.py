"""The paper's bidirectional ensemble: a forward and a backward classifier, averaged."""

import pickle

import numpy as np
import pytest
import torch

import ulmfit_sklearn
import ulmfit_sklearn._base as base
from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import EncoderError

from conftest import FAST, make_toy_data


@pytest.fixture(scope="module")
def data():
    return make_toy_data(40)


@pytest.fixture(scope="module")
def fitted(pair_dir, data):
    X, y = data
    return ULMFiTClassifier(str(pair_dir), bidirectional=True, **FAST).fit(X, y)


def test_probabilities_are_the_mean_of_both_directions(fitted, data):
    X, y = data
    forward = torch.softmax(torch.from_numpy(fitted._forward(X)).double(), 1).numpy()
    backward = torch.softmax(torch.from_numpy(fitted._forward(X, "backward")).double(), 1).numpy()
    np.testing.assert_allclose(fitted.predict_proba(X), (forward + backward) / 2, rtol=1e-12)
    assert not np.allclose(forward, backward)
    assert set(fitted.history_) == {"lm", "classifier", "lm_backward", "classifier_backward"}
    scores = fitted.decision_function(X)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[(scores > 0).astype(int)])
    assert fitted.encoder_sha256_ != fitted.encoder_sha256_backward_


def test_the_backward_classifier_reads_right_to_left(fitted, data):
    X, _ = data
    net, tok = fitted.net_backward_, fitted.tokenizer_backward_
    docs = [tok.encode(t)[::-1] for t in X[:3]]
    from ulmfit_sklearn.training.batching import DocumentDataset
    with torch.inference_mode():
        expected = torch.cat([net.forward(DocumentDataset([d])) for d in docs]).numpy()
    np.testing.assert_allclose(fitted._forward(X[:3], "backward"), expected, rtol=1e-5, atol=1e-6)


def test_stage_two_of_the_backward_model_sees_reversed_documents(pair_dir, data, monkeypatch):
    X, y = data
    seen = []
    real = base.finetune_encoder

    def spy(encoder, docs, **kw):
        seen.append((encoder.config.get("direction", "forward"), [d.copy() for d in docs]))
        return real(encoder, docs, **kw)

    monkeypatch.setattr(base, "finetune_encoder", spy)
    ULMFiTClassifier(str(pair_dir), bidirectional=True, **FAST).fit(X, y)
    (d1, fwd), (d2, bwd) = seen
    assert (d1, d2) == ("forward", "backward")
    assert all(np.array_equal(f[::-1], b) for f, b in zip(fwd, bwd))


def test_a_missing_direction_is_a_clear_error(tiny_encoder_dir, pair_dir, data):
    X, y = data
    clf = ULMFiTClassifier(str(tiny_encoder_dir), bidirectional=True, **FAST)
    with pytest.raises(EncoderError, match="no backward one"):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")
    with pytest.raises(EncoderError, match="holds a backward language model and no forward"):
        ULMFiTClassifier(str(pair_dir / "backward"), **FAST).fit(X, y)


def test_round_trips(fitted, data, tmp_path):
    X, _ = data
    expected = fitted.predict_proba(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(X), expected)
    loaded = ulmfit_sklearn.load(fitted.save(tmp_path / "bi", weights="float32"))
    assert (tmp_path / "bi" / "backward" / "weights.safetensors").is_file()
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert loaded.bidirectional and loaded._fitted_directions() == ("forward", "backward")
