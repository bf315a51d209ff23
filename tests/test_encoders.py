import json
import shutil

import numpy as np
import pytest
import torch

from ulmfit_sklearn.encoders import (EncoderError, bundled_encoders, extend_vocabulary,
                                     load_encoder, load_encoder_folder, new_words, save_encoder)


def test_roundtrip_gives_the_same_weights_and_tokenizer(tiny_encoder_dir):
    enc = load_encoder(str(tiny_encoder_dir))
    assert enc.config["format_version"] == 1
    assert enc.config["tokenizer"]["type"] == "word"
    assert enc.sha256 and len(enc.sha256) == 64
    lm = enc.build_language_model()
    assert lm.decoder.weight is lm.encoder.embedding.weight
    for k, v in enc.state_dict.items():
        assert v.dtype == torch.float32
    again = load_encoder(tiny_encoder_dir)  # a Path works too
    assert again.sha256 == enc.sha256


def test_an_encoder_builds_through_its_family(tiny_encoder_dir):
    from ulmfit_sklearn.families import FAMILIES
    from ulmfit_sklearn.models.awd_lstm import AWDLSTM, LanguageModel

    enc = load_encoder(tiny_encoder_dir)
    assert enc.family is FAMILIES["awd_lstm"] and enc.architecture == "awd_lstm"
    assert isinstance(enc.build_encoder(), AWDLSTM)
    assert isinstance(enc.build_language_model(), LanguageModel)
    with pytest.warns(DeprecationWarning, match="build_language_model"):
        old = enc.build_module()  # what it was: an AWD-LSTM's language model
    assert isinstance(old, LanguageModel)
    with pytest.raises(EncoderError, match="unknown encoder architecture 'gpt'"):
        type(enc)(dict(enc.config, architecture="gpt"), enc.state_dict, enc.tokenizer).family


def test_sentencepiece_encoder_loads(tiny_sp_encoder_dir):
    enc = load_encoder(str(tiny_sp_encoder_dir))
    assert enc.config["tokenizer"]["type"] == "sentencepiece"
    assert enc.tokenizer.vocab_size == enc.config["vocab_size"]


@pytest.fixture
def broken(tiny_encoder_dir, tmp_path):
    dst = tmp_path / "enc"
    shutil.copytree(tiny_encoder_dir, dst)
    return dst


def test_missing_file_is_named(broken):
    (broken / "weights.safetensors").unlink()
    with pytest.raises(EncoderError, match="weights.safetensors"):
        load_encoder_folder(broken)


def test_corrupt_file_is_named(broken):
    path = broken / "weights.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match="corrupt.*weights.safetensors"):
        load_encoder_folder(broken)


def test_truncated_file_is_named(broken):
    path = broken / "vocab.txt"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(EncoderError, match="vocab.txt"):
        load_encoder_folder(broken)


def test_bad_config(broken):
    (broken / "config.json").write_text("{not json")
    with pytest.raises(EncoderError, match="config.json"):
        load_encoder_folder(broken)


def test_unknown_format_version(broken):
    cfg = json.loads((broken / "config.json").read_text())
    cfg["format_version"] = 99
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(EncoderError, match="format_version"):
        load_encoder_folder(broken)


def test_unknown_name_lists_the_bundled_ones():
    with pytest.raises(EncoderError, match="unknown encoder 'no-such-encoder'"):
        load_encoder("no-such-encoder")


def test_a_bare_bundled_name_is_the_bundled_encoder_beside_a_folder_of_that_name(tmp_path,
                                                                                   monkeypatch):
    from pathlib import Path

    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, BUNDLED_DIR

    monkeypatch.chdir(tmp_path)
    for name in (AWD_LSTM_ENCODER, "mine"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")  # a folder, but not an encoder
    assert Path(load_encoder(AWD_LSTM_ENCODER).path) == BUNDLED_DIR / AWD_LSTM_ENCODER
    for path in (f"./{AWD_LSTM_ENCODER}", str(tmp_path / AWD_LSTM_ENCODER),
                 Path(AWD_LSTM_ENCODER), "mine"):  # a path, or a name nothing bundled has
        with pytest.raises(EncoderError, match="metadata.json"):  # the folder is read
            load_encoder(path)


def test_missing_folder():
    with pytest.raises(EncoderError, match="not found"):
        load_encoder("/nonexistent/folder")


def test_bundled_encoders_load_and_verify():
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, DEFAULT_ENCODER

    assert {DEFAULT_ENCODER, AWD_LSTM_ENCODER} <= set(bundled_encoders())
    awd, minilm = load_encoder("awd-lstm"), load_encoder("default")
    assert minilm.path == load_encoder("minilm-l6").path == load_encoder(DEFAULT_ENCODER).path
    assert awd.path == load_encoder(AWD_LSTM_ENCODER).path
    assert awd.architecture == "awd_lstm" and awd.metadata["valid"]["ppl_word"] > 1
    assert minilm.architecture == "bert" and minilm.has_language_model
    assert minilm.metadata["files"] and minilm.metadata["license"] == "Apache-2.0"
    for enc in (awd, minilm):
        assert enc.config["vocab_size"] == enc.tokenizer.vocab_size


def test_bundled_awd_lstm_places_unseen_words_by_their_vectors():
    """The shipped vectors explain the trained embedding: mapped through the fitted
    map, a word's vector lands nearer its trained embedding than the mean does."""
    from ulmfit_sklearn.encoders import AWD_LSTM_ENCODER, vector_map

    enc = load_encoder(AWD_LSTM_ENCODER)
    words, matrix = enc.vectors
    ids = [(enc.tokenizer.stoi[w], i) for i, w in enumerate(words[:2000]) if w in enc.tokenizer.stoi]
    emb = enc.state_dict["encoder.encoder.weight"]
    target = emb[[t for t, _ in ids]]
    mapped = vector_map(enc)(matrix[[i for _, i in ids]])
    assert (mapped - target).pow(2).sum() < 0.8 * (emb.mean(0) - target).pow(2).sum()
    outside = [w for w in words[enc.config["vocab_size"]:] if w not in enc.tokenizer.stoi][:50]
    ext = extend_vocabulary(enc, outside)
    assert not torch.allclose(ext.state_dict["encoder.encoder.weight"][-50:], emb.mean(0).expand(50, -1))


# ---------------------------------------------------------------- word vectors
def _vector_encoder(tmp_path, tiny_encoder_dir):
    """The tiny encoder with vectors for its words and for three more, such that
    every embedding row is an exact affine function of the word's vector."""
    enc = load_encoder(tiny_encoder_dir)
    gen = torch.Generator().manual_seed(0)
    extra = ["zebra", "okapi", "gnu"]
    words = [w for w in enc.tokenizer.itos if not w.startswith("xx")] + extra
    vectors = torch.randn(len(words), 5, generator=gen)
    a, b = torch.randn(5, 16, generator=gen), torch.randn(16, generator=gen)
    state = dict(enc.state_dict)
    emb = state["encoder.encoder.weight"].clone()
    for i, w in enumerate(words[: -len(extra)]):
        emb[enc.tokenizer.stoi[w]] = vectors[i] @ a + b
    state["encoder.encoder.weight"] = emb
    folder = save_encoder(tmp_path / "vec", enc.config, state, enc.tokenizer, {}, torch.float32,
                          vectors=(words, vectors))
    return load_encoder(folder), (a, b)


def test_vectors_roundtrip_and_are_verified(tmp_path, tiny_encoder_dir):
    enc, _ = _vector_encoder(tmp_path, tiny_encoder_dir)
    words, matrix = enc.vectors
    assert words[-3:] == ["zebra", "okapi", "gnu"] and matrix.shape == (len(words), 5)
    assert set(enc.metadata["files"]) >= {"vectors.safetensors", "vectors.txt"}
    (tmp_path / "vec" / "vectors.txt").write_text("zebra\n")
    with pytest.raises(EncoderError, match="vectors.txt"):
        load_encoder_folder(tmp_path / "vec")


def test_new_words_with_a_vector_are_placed_by_the_fitted_map(tmp_path, tiny_encoder_dir):
    enc, (a, b) = _vector_encoder(tmp_path, tiny_encoder_dir)
    texts = ["a zebra and an aardvark", "the aardvark again"]
    words = new_words(enc, texts)
    assert "zebra" in words  # seen once, but it has a vector
    assert "aardvark" in words  # seen twice
    assert "an" not in words  # seen once, no vector: left out
    ext = extend_vocabulary(enc, words)
    emb = ext.state_dict["encoder.encoder.weight"]
    zebra = enc.vectors[1][enc.vectors[0].index("zebra")]
    torch.testing.assert_close(emb[ext.tokenizer.stoi["zebra"]], zebra @ a + b, atol=1e-3, rtol=1e-3)
    old = enc.state_dict["encoder.encoder.weight"]
    torch.testing.assert_close(emb[ext.tokenizer.stoi["aardvark"]], old.mean(0))
    assert ext.vectors is enc.vectors and ext.config["vocab_size"] == len(ext.tokenizer.itos)
    assert ext.tokenizer.itos[: len(enc.tokenizer.itos)] == enc.tokenizer.itos


def test_classifier_knows_vector_words_its_training_texts_lack(tmp_path, tiny_encoder_dir):
    from conftest import FAST, make_toy_data
    from ulmfit_sklearn import ULMFiTClassifier

    enc, _ = _vector_encoder(tmp_path, tiny_encoder_dir)
    X, y = make_toy_data(30)
    clf = ULMFiTClassifier(enc, **FAST).fit(X, y)
    tok = clf.tokenizer_
    # no embedding row for them: they read as their nearest vocabulary word
    assert not {"zebra", "okapi", "gnu"} & set(tok.stoi)
    assert clf.net_.module_.encoder.embedding.weight.shape[0] == tok.vocab_size
    zebra = tok.encode_words(["zebra"])[0]
    assert zebra == tok.aliases["zebra"] != tok.stoi["xxunk"]
    saved = ULMFiTClassifier.load(clf.save(tmp_path / "model", weights="float32"))
    assert saved.tokenizer_.aliases == tok.aliases
    np.testing.assert_allclose(saved.predict_proba(["a zebra film"]),
                               clf.predict_proba(["a zebra film"]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(clf.predict_proba(["a zebra film"]),
                           clf.predict_proba(["a xxunk film"]))


def test_vector_words_outside_the_vocabulary_alias_their_nearest_word(tmp_path, tiny_encoder_dir):
    from ulmfit_sklearn import encoders
    from ulmfit_sklearn.encoders import alias_vector_words, nearest_vocabulary_words

    enc, _ = _vector_encoder(tmp_path, tiny_encoder_dir)
    words, matrix = enc.vectors
    encoders._NEAREST.clear()
    nearest = nearest_vocabulary_words(enc, batch_size=2)  # several chunks
    assert nearest_vocabulary_words(enc) is nearest  # kept for the next fit
    aliased = alias_vector_words(enc)
    tok = aliased.tokenizer
    assert tok.itos == enc.tokenizer.itos and aliased.state_dict is enc.state_dict
    assert set(tok.aliases) == {"zebra", "okapi", "gnu"}
    for word in tok.aliases:
        v = matrix[words.index(word)]
        sims = {w: float(torch.nn.functional.cosine_similarity(v, matrix[i], dim=0))
                for i, w in enumerate(words) if w in tok.stoi}
        assert tok.itos[tok.aliases[word]] == max(sims, key=sims.get)
    assert list(tok.encode_words(["zebra", "okapi", "aardvark"])) == \
        [tok.aliases["zebra"], tok.aliases["okapi"], tok.stoi["xxunk"]]
    assert alias_vector_words(load_encoder(tiny_encoder_dir)).tokenizer.aliases == {}  # no vectors
    grown = extend_vocabulary(enc, ["zebra"])  # a word the texts brought is no alias
    assert set(alias_vector_words(grown, nearest).tokenizer.aliases) == {"okapi", "gnu"}
