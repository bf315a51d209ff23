"""A saved model folder is untrusted input: load() checks it and every problem is a
ModelFileError naming the file; save() never destroys an earlier model; fitted
weights are stored compactly (int8 rows) within a tolerance."""

import json
import shutil

import numpy as np
import pytest
import torch
from sklearn.base import clone

import ulmfit_sklearn
from ulmfit_sklearn import ULMFiTClassifier, persistence
from ulmfit_sklearn.persistence import ModelFileError
from ulmfit_sklearn.text import WordTokenizer

from conftest import FAST
from test_bert_estimators import _data as bert_data
from test_bert_estimators import hf_folder  # noqa: F401  (a fixture)
from test_persistence import data, fitted  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return fitted.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def copy(saved, tmp_path):
    """A fresh copy of the saved model to damage."""
    return shutil.copytree(saved, tmp_path / "copy")


def edit_json(folder, change):
    path = folder / "model.json"
    model = json.loads(path.read_text())
    change(model)
    path.write_text(json.dumps(model))


# --- 1. saves that cannot destroy ---------------------------------------------------
def test_a_failing_save_leaves_the_earlier_model(tiny_encoder_dir, data, copy, monkeypatch):
    X, y = data
    other = ULMFiTClassifier(str(tiny_encoder_dir), **dict(FAST, lm_epochs=0, random_state=1))
    other.fit(X, y)
    before = ulmfit_sklearn.load(copy).predict_proba(X)
    assert not np.allclose(other.predict_proba(X), before, atol=1e-3)
    files = sorted(p.name for p in copy.iterdir())

    def broken(self, folder):
        raise OSError("disk full")

    monkeypatch.setattr(WordTokenizer, "save", broken)  # after the weights were written
    with pytest.raises(OSError, match="disk full"):
        other.save(copy)
    assert sorted(p.name for p in copy.iterdir()) == files
    np.testing.assert_array_equal(ulmfit_sklearn.load(copy).predict_proba(X), before)
    assert [p.name for p in copy.parent.iterdir()] == ["copy"]  # no half-written folder left


def test_save_replaces_a_model_whole_but_no_other_folder(fitted, tiny_encoder_dir, data, tmp_path):
    X, y = data
    bi = ULMFiTClassifier(str(tiny_encoder_dir), **dict(FAST, lm_epochs=0))
    folder = fitted.save(tmp_path / "m")
    (folder / "backward").mkdir()  # a leftover of an earlier bidirectional model
    assert ulmfit_sklearn.load(fitted.save(folder)).predict(X[:3]).shape == (3,)
    assert not (folder / "backward").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a saved model"):
        fitted.save(other)
    assert (other / "notes.txt").read_text() == "keep me"
    assert bi.fit(X, y).save(tmp_path / "empty-ok").is_dir()


def test_the_vocabulary_round_trips_any_str(tmp_path):
    words = ["\ud800", "a\u2028b", "x\x85y", "tab\there", "\ufeffbom"]
    tok = WordTokenizer(WordTokenizer.train(["a b"], min_freq=1).itos + words,
                        aliases={"\udfff": 4})
    tok.save(tmp_path)
    again = WordTokenizer.load(tmp_path / tok.filename)
    assert again.itos == tok.itos and again.aliases == tok.aliases
    with pytest.raises(ValueError, match="line break"):
        WordTokenizer(tok.itos + ["two\nlines"])


# --- 4. a damaged folder: ModelFileError naming the file ----------------------------
@pytest.mark.parametrize("damage, match", [
    (lambda f: (f / "weights.safetensors").write_bytes(b""), "weights.safetensors.*truncated"),
    (lambda f: (f / "weights.safetensors").write_bytes(
        (f / "weights.safetensors").read_bytes()[:-100]), "weights.safetensors.*truncated"),
    (lambda f: (f / "weights.safetensors").write_bytes(
        (f / "weights.safetensors").read_bytes()[:8] + b"{not json" * 50), "weights.safetensors"),
    (lambda f: (f / "model.json").write_text("[1, 2]"), "model.json: must hold a JSON object"),
    (lambda f: edit_json(f, lambda m: m.pop("networks")), "model.json: missing keys.*networks"),
    (lambda f: edit_json(f, lambda m: m.pop("tokenizer")), "model.json: missing keys.*tokenizer"),
    (lambda f: edit_json(f, lambda m: m.pop("ulmfit_sklearn_version")),
     "model.json: missing keys.*ulmfit_sklearn_version"),
    (lambda f: edit_json(f, lambda m: m["networks"]["forward"].update(kind="Evil")),
     "model.json.*unknown network kind 'Evil'"),
    (lambda f: edit_json(f, lambda m: m["params"].update(no_such_param=1)),
     "model.json: unknown parameters \\['no_such_param'\\]"),
    (lambda f: (f / "vocab.txt").unlink(), "vocab.txt: the tokenizer file is missing"),
    (lambda f: (f / "vocab.txt").write_text("just\nwords\n"), "vocab.txt: not a valid word"),
    (lambda f: edit_json(f, lambda m: m.update(extra=1)), "model.json: unknown keys \\['extra'\\]"),
    (lambda f: edit_json(f, lambda m: m["networks"]["forward"].update(emb_size=-3)),
     "model.json.*emb_size = -3 is not valid"),
    (lambda f: edit_json(f, lambda m: m["networks"].update(sideways={})),
     "model.json: networks"),
    (lambda f: edit_json(f, lambda m: m.update(weights="int4")), "model.json: weights"),
    (lambda f: edit_json(f, lambda m: m.update(predict_batch_size=0)), "predict_batch_size"),
])
def test_a_damaged_folder_is_a_model_file_error(copy, damage, match):
    damage(copy)
    with pytest.raises(ModelFileError, match=match):
        ulmfit_sklearn.load(copy)


def test_edited_bert_sizes_are_model_file_errors(hf_folder, tmp_path):  # noqa: F811
    X, y = bert_data()
    clf = ULMFiTClassifier(str(hf_folder), lm_epochs=0, unfreeze_epochs=(1,), random_state=0,
                           batch_size=8).fit(X, y)
    folder = clf.save(tmp_path / "bert")
    for change, match in [({"n_heads": 5}, "cannot be built"),
                          ({"hidden_size": 48}, "tensor .* the network needs"),
                          ({"intermediate_size": 7}, "tensor .* the network needs"),
                          ({"max_positions": 0}, "max_positions = 0 is not valid")]:
        copy = shutil.copytree(folder, tmp_path / f"c{len(list(tmp_path.iterdir()))}")
        edit_json(copy, lambda m: m["networks"]["forward"].update(change))
        with pytest.raises(ModelFileError, match=match):
            ulmfit_sklearn.load(copy)
    np.testing.assert_allclose(ulmfit_sklearn.load(folder).predict_proba(X), clf.predict_proba(X),
                               atol=0.02)


# --- 5. load() believes nothing ----------------------------------------------------
def test_classes_must_fit_the_head(copy):
    edit_json(copy, lambda m: m["fitted"]["classes_"].update(
        __ndarray__=["neg", "pos", "meh"], shape=[3]))
    with pytest.raises(ModelFileError, match="classes_ has 3 entries, but the forward network "
                                             "has 2 outputs"):
        ulmfit_sklearn.load(copy)


@pytest.mark.parametrize("params, match", [({"lr": "x"}, "invalid parameters"),
                                           ({"unfreeze_epochs": [-1]}, "invalid parameters"),
                                           ({"device": 3}, "invalid parameters")])
def test_parameters_are_checked_against_their_constraints(copy, params, match):
    edit_json(copy, lambda m: m["params"].update(params))
    with pytest.raises(ModelFileError, match=match):
        ulmfit_sklearn.load(copy)


@pytest.mark.parametrize("name", ["lr", "net_", "tokenizer_", "predict", "__class__", "_reset"])
def test_only_known_fitted_attributes_are_restored(copy, name):
    edit_json(copy, lambda m: m["fitted"].update({name: 1}))
    with pytest.raises(ModelFileError, match="unknown fitted attributes"):
        ulmfit_sklearn.load(copy)


@pytest.mark.parametrize("attr, value", [("n_outputs_", "2"), ("multilabel_", 1),
                                         ("history_", [1]), ("encoder_sha256_", 5)])
def test_fitted_attributes_have_their_types(copy, attr, value):
    edit_json(copy, lambda m: m["fitted"].update({attr: value}))
    with pytest.raises(ModelFileError, match=f"fitted attribute {attr}"):
        ulmfit_sklearn.load(copy)


def test_sizes_are_checked_against_the_weights_before_allocating(copy, monkeypatch):
    built = []
    real = persistence._build_network

    def watched(spec):
        built.append(torch.empty(0).device.type)
        return real(spec)

    monkeypatch.setattr(persistence, "_build_network", watched)
    edit_json(copy, lambda m: m["networks"]["forward"].update(vocab_size=40_000_000))
    with pytest.raises(ModelFileError, match="encoder.encoder.weight.*40000000"):
        ulmfit_sklearn.load(copy)
    assert built == ["meta"]  # only the allocation-free copy was built


def test_memory_is_never_saved_or_restored(tiny_encoder_dir, data, tmp_path):
    X, y = data
    clf = ULMFiTClassifier(str(tiny_encoder_dir), memory=str(tmp_path / "cache"),
                           **dict(FAST, lm_epochs=0)).fit(X, y)
    folder = clf.save(tmp_path / "m")
    assert json.loads((folder / "model.json").read_text())["params"]["memory"] is None
    edit_json(folder, lambda m: m["params"].update(memory="/planted/cache"))
    loaded = ulmfit_sklearn.load(folder)
    assert loaded.memory is None and clone(loaded).memory is None


# --- 7. compact storage -------------------------------------------------------------
def test_weights_are_stored_as_int8_rows_within_tolerance(fitted, data, tmp_path):
    X, _ = data
    small = fitted.save(tmp_path / "int8")
    half = fitted.save(tmp_path / "fp16", weights="float16")
    exact = fitted.save(tmp_path / "fp32", weights="float32")
    size = {f.name: (f / "weights.safetensors").stat().st_size for f in (small, half, exact)}
    assert size["int8"] < 0.4 * size["fp32"] and size["fp16"] < 0.55 * size["fp32"]
    header = persistence.safetensors_header(small / "weights.safetensors")
    assert {dtype for dtype, shape in header.values() if len(shape) == 2} == {torch.int8}
    proba = fitted.predict_proba(X)
    for folder, tol in ((small, 0.02), (half, 1e-3)):
        loaded = ulmfit_sklearn.load(folder)
        np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=tol)
        assert not np.array_equal(loaded.predict_proba(X), proba)
    np.testing.assert_array_equal(ulmfit_sklearn.load(exact).predict_proba(X), proba)
    with pytest.raises(ValueError, match="weights must be .auto. or one of"):
        fitted.save(tmp_path / "x", weights="int4")


def test_auto_storage_is_the_familys(fitted, hf_folder, tmp_path):  # noqa: F811
    assert persistence.safetensors_header(fitted.save(tmp_path / "awd") / "weights.safetensors")[
        "head.lin1.weight"][0] == torch.int8
    X, y = bert_data()
    bert = ULMFiTClassifier(str(hf_folder), lm_epochs=0, unfreeze_epochs=(1,), random_state=0,
                            batch_size=8).fit(X, y)
    folder = bert.save(tmp_path / "bert")
    dtypes = {d for d, _ in persistence.safetensors_header(folder / "weights.safetensors").values()
              if d.is_floating_point}
    assert dtypes == {torch.float16}
    assert json.loads((folder / "model.json").read_text())["weights"] == "float16"
