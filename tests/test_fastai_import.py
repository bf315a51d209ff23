"""Importing fastai's AWD-LSTM files, on a small state dict with fastai's key names."""

import pickle

import pytest
import torch

from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import EncoderError, extend_vocabulary, load_encoder, new_words
from ulmfit_sklearn.encoders.fastai import load_itos

from conftest import make_toy_data

EMB, HID, LAYERS = 8, 12, 3


def fastai_state_dict(vocab, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {"0.encoder.weight": torch.randn(vocab, EMB, generator=g)}
    sd["0.encoder_dp.emb.weight"] = sd["0.encoder.weight"].clone()
    sizes = [EMB] + [HID] * (LAYERS - 1) + [EMB]
    for i in range(LAYERS):
        n_in, n_out = sizes[i], sizes[i + 1]
        sd[f"0.rnns.{i}.weight_hh_l0_raw"] = torch.randn(4 * n_out, n_out, generator=g)
        sd[f"0.rnns.{i}.module.weight_ih_l0"] = torch.randn(4 * n_out, n_in, generator=g)
        sd[f"0.rnns.{i}.module.bias_ih_l0"] = torch.randn(4 * n_out, generator=g)
        sd[f"0.rnns.{i}.module.bias_hh_l0"] = torch.randn(4 * n_out, generator=g)
        sd[f"0.rnns.{i}.module.weight_hh_l0"] = torch.zeros(4 * n_out, n_out)  # dropped copy
    sd["1.decoder.weight"] = sd["0.encoder.weight"]
    sd["1.decoder.bias"] = torch.randn(vocab, generator=g)
    return sd


@pytest.fixture
def fastai_dir(tmp_path):
    # fastai v1 order of the special tokens (no xxeos), then words
    itos = ["xxunk", "xxpad", "xxbos", "xxfld", "xxmaj", "xxup", "xxrep", "xxwrep", "the", "film",
            "good", "bad", "a", "was", "."]
    torch.save(fastai_state_dict(len(itos)), tmp_path / "lstm_fwd.pth")
    (tmp_path / "itos_wt103.pkl").write_bytes(pickle.dumps(itos))
    return tmp_path


def test_weights_convert_by_name(fastai_dir):
    enc = load_encoder(str(fastai_dir))
    sd = fastai_state_dict(15)
    assert enc.config["n_layers"] == LAYERS and enc.config["emb_size"] == EMB
    assert enc.config["hidden_size"] == HID
    torch.testing.assert_close(enc.state_dict["encoder.rnns.1.lstm.weight_hh_l0"],
                               sd["0.rnns.1.weight_hh_l0_raw"])
    torch.testing.assert_close(enc.state_dict["encoder.encoder.weight"][:15], sd["0.encoder.weight"])
    # xxeos was missing: added at the end with the mean embedding
    tok = enc.tokenizer
    assert tok.itos[-1] == "xxeos" and tok.stoi["xxmaj"] == 4
    torch.testing.assert_close(enc.state_dict["encoder.encoder.weight"][-1],
                               sd["0.encoder.weight"].mean(0))
    lm = enc.build_language_model()
    logits, *_ = lm(torch.tensor([[2, 8, 9]]))
    assert logits.shape == (1, 3, 16)


def test_target_words_get_the_mean_embedding(fastai_dir):
    enc = load_encoder(str(fastai_dir))
    ext = extend_vocabulary(enc, new_words(enc, ["a zebra film", "the zebra was good", "one okapi"]))
    assert "zebra" in ext.tokenizer.stoi and "okapi" not in ext.tokenizer.stoi
    row = ext.state_dict["encoder.encoder.weight"][ext.tokenizer.stoi["zebra"]]
    torch.testing.assert_close(row, enc.state_dict["encoder.encoder.weight"].mean(0))
    assert ext.config["vocab_size"] == enc.config["vocab_size"] + 1


def test_classifier_uses_a_fastai_folder(fastai_dir):
    X, y = make_toy_data(40)
    clf = ULMFiTClassifier(str(fastai_dir), lm_epochs=1, unfreeze_epochs=(1, 1), random_state=0)
    clf.fit(X, y)
    assert clf.predict_proba(X[:2]).shape == (2, 2)
    assert "actors" in clf.tokenizer_.stoi  # a target-domain word joined the vocabulary


def test_vocabulary_pickle_may_not_hold_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "itos.pkl").write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(ValueError, match="refusing to load"):
        load_itos(tmp_path / "itos.pkl")
    (tmp_path / "itos2.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="list of strings"):
        load_itos(tmp_path / "itos2.pkl")


def test_mismatched_vocabulary_is_a_clear_error(fastai_dir):
    (fastai_dir / "itos_wt103.pkl").write_bytes(pickle.dumps(["xxunk", "xxpad"]))
    with pytest.raises(EncoderError, match="words but the weights have"):
        load_encoder(str(fastai_dir))
