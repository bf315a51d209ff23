"""Shared fixtures: a tiny encoder and a toy labeled data set."""

import shutil
import signal

import numpy as np
import pytest
import torch

from ulmfit_sklearn.encoders import load_encoder, random_encoder, save_encoder
from ulmfit_sklearn.text import SentencePieceTokenizer, WordTokenizer

torch.set_num_threads(1)

POS = ["good", "great", "excellent", "wonderful", "lovely", "superb"]
NEG = ["bad", "awful", "terrible", "boring", "poor", "dreadful"]
FILL = ["the", "film", "was", "really", "a", "story", "actors", "and", "plot", "it", "movie", "quite"]


def make_toy_data(n=60, seed=0):
    """Short reviews whose label is carried by one sentiment word."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILL, size=rng.integers(4, 12)))
        words.insert(int(rng.integers(0, len(words))), str(rng.choice(POS if label else NEG)))
        text = " ".join(words)
        texts.append(text[0].upper() + text[1:] + ".")
        labels.append("pos" if label else "neg")
    return texts, np.array(labels)


TINY_SHAPE = {"emb_size": 16, "hidden_size": 24, "n_layers": 2}


@pytest.fixture(scope="session")
def toy_data():
    return make_toy_data()


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory):
    """A randomly initialised word-vocabulary encoder, saved as a folder."""
    texts, _ = make_toy_data(200, seed=1)
    tok = WordTokenizer.train(texts, min_freq=1)
    enc = random_encoder(tok, seed=0, **TINY_SHAPE)
    return save_encoder(tmp_path_factory.mktemp("enc") / "tiny", enc.config, enc.state_dict, tok,
                        {"corpus": "toy", "pretraining": "none"})


@pytest.fixture(scope="session")
def pair_dir(tiny_encoder_dir, tmp_path_factory):
    """The tiny forward encoder with a backward one in its subfolder backward/."""
    folder = tmp_path_factory.mktemp("pair") / "tiny-pair"
    shutil.copytree(tiny_encoder_dir, folder)
    tok = load_encoder(tiny_encoder_dir).tokenizer
    enc = random_encoder(tok, seed=1, **TINY_SHAPE)
    save_encoder(folder / "backward", dict(enc.config, direction="backward"), enc.state_dict, tok)
    return folder


@pytest.fixture(scope="session")
def tiny_sp_encoder_dir(tmp_path_factory):
    """A randomly initialised SentencePiece encoder, saved as a folder."""
    texts, _ = make_toy_data(300, seed=2)
    tok = SentencePieceTokenizer.train(texts, vocab_size=60)
    enc = random_encoder(tok, seed=0, **TINY_SHAPE)
    return save_encoder(tmp_path_factory.mktemp("enc") / "tiny_sp", enc.config, enc.state_dict, tok)


FAST = dict(lm_epochs=1, unfreeze_epochs=(1, 2), batch_size=8, random_state=0)


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt during the test, as in an interactive Python, even
    where the test runner was started with SIGINT ignored (a background job of a
    non-interactive shell, where Python keeps the ignore and a Ctrl-C does nothing)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
