"""ULMFiTVectorizer: features, feature names, and use inside scikit-learn tools."""

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from ulmfit_sklearn import ULMFiTVectorizer
from ulmfit_sklearn.encoders import load_encoder

from conftest import NEG, POS, TINY_SHAPE, make_toy_data


@pytest.fixture(scope="module")
def data():
    return make_toy_data(60, seed=11)


@pytest.fixture(scope="module")
def fitted(tiny_encoder_dir, data):
    return ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0).fit(data[0])


def test_one_vector_per_document(fitted, data):
    X, _ = data
    Z = fitted.transform(X)
    d = TINY_SHAPE["emb_size"]
    assert Z.shape == (len(X), 3 * d) == (len(X), fitted.n_features_out_) and Z.dtype == np.float32
    names = fitted.get_feature_names_out()
    assert len(names) == Z.shape[1] and names[0] == "last0" and names[d] == "max0"
    assert (Z[:, d:2 * d] >= Z[:, 2 * d:] - 1e-5).all()  # max-pooled >= mean-pooled
    assert fitted.transform([]).shape == (0, 3 * d)


def test_features_do_not_depend_on_the_batch(fitted, data):
    X, _ = data
    full = fitted.transform(X)
    one = np.vstack([fitted.transform([x]) for x in X[:5]])
    np.testing.assert_allclose(full[:5], one, rtol=1e-4, atol=1e-5)


def test_without_fine_tuning_the_features_come_from_the_encoder_as_is(tiny_encoder_dir, fitted, data):
    """lm_epochs=0: the weights are the encoder's; lm_epochs=1 changes them."""
    enc = load_encoder(tiny_encoder_dir)
    lstm = fitted.net_.module_.encoder
    emb = lstm.embedding.weight.detach()
    np.testing.assert_array_equal(emb[: enc.config["vocab_size"]].numpy(),
                                  enc.state_dict["encoder.encoder.weight"].numpy())
    tuned = ULMFiTVectorizer(str(tiny_encoder_dir), lm_epochs=1, random_state=0).fit(data[0])
    assert not np.allclose(tuned.transform(data[0][:5]), fitted.transform(data[0][:5]))
    assert tuned.history_["lm"] and not fitted.history_["lm"]


def _one_sided(n, seed):
    """An easy task for a random encoder: each document is made of its class's words only."""
    rng = np.random.default_rng(seed)
    y = np.array(["neg", "pos"] * (n // 2))
    return [" ".join(rng.choice(POS if label == "pos" else NEG, size=rng.integers(3, 8)))
            for label in y], y


def test_in_a_pipeline_and_next_to_tfidf(tiny_encoder_dir, data):
    X_train, y_train = _one_sided(60, 0)
    pipe = make_pipeline(ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0), StandardScaler(),
                         LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    X_test, y_test = _one_sided(100, 100)
    assert pipe.score(X_test, y_test) > 0.9  # the features carry the words: chance is 0.5
    X, y = data
    union = make_union(TfidfVectorizer(), ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0))
    Z = union.fit_transform(X)
    n_tfidf = len(TfidfVectorizer().fit(X).vocabulary_)
    assert Z.shape == (len(X), n_tfidf + 3 * TINY_SHAPE["emb_size"])
    assert any(n.startswith("ulmfitvectorizer__max") for n in union.get_feature_names_out())


def test_pickles(fitted, data):
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.transform(data[0][:4]), fitted.transform(data[0][:4]))
