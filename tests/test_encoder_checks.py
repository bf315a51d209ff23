"""Loading refuses encoder folders whose config disagrees with the weights, or whose
config names files outside the folder (issue 20)."""

import json
import os
import shutil

import pytest

from ulmfit_sklearn.encoders import EncoderError, load_encoder, random_encoder, save_encoder
from ulmfit_sklearn.text import WordTokenizer

from conftest import TINY_SHAPE, make_toy_data


@pytest.fixture(scope="module")
def tiny():
    tok = WordTokenizer.train(make_toy_data(40, seed=1)[0], min_freq=1)
    return random_encoder(tok, seed=0, **TINY_SHAPE)


def _save(folder, enc, **config_changes):
    """An encoder folder (with valid checksums) whose config.json has the changes."""
    return save_encoder(folder, dict(enc.config, **config_changes), enc.state_dict, enc.tokenizer)


def _edit_config(folder, **changes):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_consistent_folder_loads(tmp_path, tiny):
    enc = load_encoder(_save(tmp_path / "ok", tiny))
    assert enc.config["hidden_size"] == TINY_SHAPE["hidden_size"]
    enc.build_language_model()


@pytest.mark.parametrize("changes, match", [
    ({"hidden_size": 32}, r"'encoder\.rnns\.0\.lstm\.weight_ih_l0' has shape \(96, 16\).*"
                          r"hidden_size=32.*implies \(128, 16\)"),
    ({"emb_size": 8}, r"encoder\.encoder\.weight.*\(\d+, 16\).*\(\d+, 8\)"),
    ({"n_layers": 3}, r"lack tensors.*encoder\.rnns\.2\."),
    ({"n_layers": 1}, r"tensors.*encoder\.rnns\.1\..*does not describe"),
    ({"hidden_size": "24"}, "hidden_size must be a positive int"),
    ({"n_layers": 0}, "n_layers must be a positive int"),
    ({"pad_idx": -1}, "pad_idx"),
])
def test_config_sizes_must_match_the_weights(tmp_path, tiny, changes, match):
    folder = _save(tmp_path / "bad", tiny, **changes)
    with pytest.raises(EncoderError, match=match) as info:
        load_encoder(folder)
    assert "weights.safetensors" in str(info.value)


def test_vocab_size_mismatch_is_reported(tmp_path, tiny):
    folder = _save(tmp_path / "bad", tiny, vocab_size=tiny.config["vocab_size"] + 1)
    with pytest.raises(EncoderError, match="vocab_size"):
        load_encoder(folder)


@pytest.fixture
def folder(tmp_path, tiny):
    return _save(tmp_path / "enc", tiny)


BAD_NAMES = ["/etc/passwd", "../outside.safetensors", "sub/../../outside.safetensors", "..",
             "C:\\weights.safetensors", "..\\outside.safetensors", "", 3]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("key", ["weights", "tokenizer", "vectors.file", "vectors.words"])
def test_file_names_must_stay_inside_the_folder(folder, key, name):
    if key == "weights":
        _edit_config(folder, weights=name)
    elif key == "tokenizer":
        _edit_config(folder, tokenizer={"type": "word", "file": name})
    else:
        vectors = {"file": "vectors.safetensors", "words": "vectors.txt"}
        vectors[key.split(".")[1]] = name
        _edit_config(folder, vectors=vectors)
    with pytest.raises(EncoderError, match=r"config\.json.*(inside the encoder folder|must be a "
                                           r"file name)"):
        load_encoder(folder)


def test_links_that_resolve_outside_are_refused(tmp_path, folder):
    outside = tmp_path / "elsewhere.safetensors"
    shutil.copy(folder / "weights.safetensors", outside)
    (folder / "weights.safetensors").unlink()
    try:
        os.symlink(outside, folder / "weights.safetensors")
    except OSError:
        pytest.skip("no symlinks here")
    with pytest.raises(EncoderError, match="outside the encoder folder"):
        load_encoder(folder)


def test_names_in_a_subfolder_are_fine(folder):
    (folder / "sub").mkdir()
    shutil.move(folder / "weights.safetensors", folder / "sub" / "weights.safetensors")
    _edit_config(folder, weights="sub/weights.safetensors")
    # accepted by the path check; the edited config.json then fails its checksum
    with pytest.raises(EncoderError, match="sha256 mismatch.*config.json"):
        load_encoder(folder)


@pytest.mark.parametrize("tokenizer", ["vocab.txt", {"type": "word"}])
def test_tokenizer_entry_must_be_a_dict_with_a_file(folder, tokenizer):
    _edit_config(folder, tokenizer=tokenizer)
    with pytest.raises(EncoderError, match="tokenizer"):
        load_encoder(folder)
