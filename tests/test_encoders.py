import json
import shutil

import pytest
import torch

from ulmfit_sklearn.encoders import (EncoderError, bundled_encoders, load_encoder,
                                     load_encoder_folder)


def test_roundtrip_gives_the_same_weights_and_tokenizer(tiny_encoder_dir):
    enc = load_encoder(str(tiny_encoder_dir))
    assert enc.config["format_version"] == 1
    assert enc.config["tokenizer"]["type"] == "word"
    assert enc.sha256 and len(enc.sha256) == 64
    lm = enc.build_module()
    assert lm.decoder.weight is lm.encoder.encoder.weight
    for k, v in enc.state_dict.items():
        assert v.dtype == torch.float32
    again = load_encoder(tiny_encoder_dir)  # a Path works too
    assert again.sha256 == enc.sha256


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


def test_missing_folder():
    with pytest.raises(EncoderError, match="not found"):
        load_encoder("/nonexistent/folder")


def test_bundled_default_loads_and_verifies():
    names = bundled_encoders()
    assert "gutenberg-small" in names
    enc = load_encoder("default")
    assert enc.metadata["files"]
    assert enc.config["vocab_size"] == enc.tokenizer.vocab_size
