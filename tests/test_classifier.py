"""ULMFiTClassifier: behaviour, the scikit-learn contract and bad input (tiny encoder)."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import (GridSearchCV, StratifiedKFold, cross_val_predict,
                                     cross_val_score)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError

import ulmfit_sklearn._base as base
from ulmfit_sklearn import ULMFiTClassifier
from ulmfit_sklearn.encoders import EncoderError

from conftest import FAST, make_toy_data


@pytest.fixture(scope="module")
def data():
    return make_toy_data(60)


@pytest.fixture
def clf(tiny_encoder_dir):
    return ULMFiTClassifier(str(tiny_encoder_dir), **FAST)


@pytest.fixture(scope="module")
def fitted(tiny_encoder_dir, data):
    X, y = data
    return ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)


def test_fit_predict_shapes_and_labels(fitted, data):
    X, y = data
    assert list(fitted.classes_) == ["neg", "pos"]
    proba = fitted.predict_proba(X[:7])
    assert proba.shape == (7, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = fitted.predict(X[:7])
    assert pred.dtype == y.dtype and set(pred) <= {"neg", "pos"}
    assert fitted.decision_function(X[:3]).shape == (3,)  # binary: scikit-learn's shape
    assert fitted.score(X, y) == np.mean(fitted.predict(X) == y)
    assert fitted.history_["lm"] and fitted.history_["classifier"]


def test_learns_an_easy_task(tiny_encoder_dir):
    X, y = make_toy_data(200)
    Xt, yt = make_toy_data(100, seed=5)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=1, unfreeze_epochs=(8,), drop_mult=0.0,
                           batch_size=16, random_state=0).fit(X, y)
    assert clf.score(Xt, yt) > 0.9


def test_predictions_in_input_order(fitted, data):
    X, _ = data
    idx = np.random.default_rng(0).permutation(len(X))
    p = fitted.predict_proba(X)
    p_perm = fitted.predict_proba([X[i] for i in idx])
    np.testing.assert_allclose(p[idx], p_perm, rtol=1e-5, atol=1e-6)
    one = fitted.predict_proba([X[3]])  # a batch of one document
    np.testing.assert_allclose(one[0], p[3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("labels", [[3, 7], [True, False], ["b", "a"], [1.0, 2.0]])
def test_classes_keep_the_users_type(tiny_encoder_dir, data, labels):
    X, y = data
    y2 = np.where(y == "pos", labels[0], labels[1])
    clf = ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0, unfreeze_epochs=(1,),
                           random_state=0).fit(X, list(y2))
    assert sorted(clf.classes_.tolist()) == sorted(labels)
    assert type(clf.predict(X[:1])[0].item()) is type(np.asarray(labels)[0].item())


def test_three_classes(tiny_encoder_dir, data):
    X, y = data
    y3 = np.array(["a", "b", "c"] * 20)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0, unfreeze_epochs=(1,), random_state=0)
    proba = clf.fit(X, y3).predict_proba(X[:4])
    assert proba.shape == (4, 3)


def test_same_random_state_same_predictions_and_global_rng_untouched(tiny_encoder_dir, data):
    X, y = data
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    a = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y).predict_proba(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    b = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = ULMFiTClassifier(str(tiny_encoder_dir), **{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)


def test_pickle_and_joblib_roundtrip(fitted, data, tmp_path):
    X, _ = data
    expected = fitted.predict_proba(X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), expected)
    joblib.dump(fitted, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X), expected)


def test_clone_get_set_params(clf):
    params = clf.get_params()
    assert params["lr_decay"] == 1.0 and params["unfreeze_epochs"] == (1, 2)
    c = clone(clf)
    assert c.get_params() == params
    c.set_params(lr_decay=2.6, unfreeze_epochs=(3,))
    assert c.lr_decay == 2.6 and clf.lr_decay == 1.0


def test_pipeline_and_cross_validation(tiny_encoder_dir, data):
    X, y = data
    pipe = make_pipeline(FunctionTransformer(lambda docs: [d.lower() for d in docs]),
                         ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0, unfreeze_epochs=(1,),
                                          random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    pred = cross_val_predict(ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0,
                                              unfreeze_epochs=(1,), random_state=0), X, y, cv=3)
    assert pred.shape == (len(X),)


def test_grid_search_in_two_processes(tiny_encoder_dir, data):
    X, y = data
    gs = GridSearchCV(ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0, random_state=0),
                      {"unfreeze_epochs": [(1,), (1, 1)], "lr_decay": [1.0, 2.6]}, cv=2, n_jobs=2)
    gs.fit(X, y)
    assert len(gs.cv_results_["params"]) == 4
    assert gs.best_estimator_.predict(X[:2]).shape == (2,)


def test_memory_runs_stage_two_once_per_fold(tiny_encoder_dir, data, tmp_path, monkeypatch):
    X, y = data
    calls = []
    real = base.finetune_encoder

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "finetune_encoder", counting)
    est = ULMFiTClassifier(str(tiny_encoder_dir), memory=str(tmp_path / "cache"), **FAST)
    gs = GridSearchCV(est, {"lr": [1e-2, 2e-2], "unfreeze_epochs": [(1,), (1, 1)],
                            "lr_decay": [1.0, 2.6], "stlr_cut_frac": [0.1, 0.2]}, cv=2)
    gs.fit(X, y)
    assert len(calls) == 3  # two folds, plus the refit on all the data
    # a changed lm_ parameter is a new key
    clone(est).set_params(lm_lr=1e-3).fit(X, y)
    assert len(calls) == 4


def test_memory_without_int_seed_warns_and_does_not_cache(tiny_encoder_dir, data, tmp_path):
    X, y = data
    est = ULMFiTClassifier(str(tiny_encoder_dir), memory=str(tmp_path),
                           **{**FAST, "random_state": np.random.RandomState(0)})
    with pytest.warns(UserWarning, match="not cached"):
        est.fit(X, y)


def test_unlabeled_rows_join_stage_two_only(tiny_encoder_dir, data):
    X, y = data
    extra = make_toy_data(40, seed=9)[0]
    X2 = list(X) + extra
    y2 = np.array(list(y) + ["?"] * 40, dtype=object)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label="?", **FAST).fit(X2, y2)
    assert list(clf.classes_) == ["neg", "pos"]
    lm_tokens = sum(b["train_tokens"] for h in clf.history_["lm"] for b in h["batches"])
    ref = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    ref_tokens = sum(b["train_tokens"] for h in ref.history_["lm"] for b in h["batches"])
    assert lm_tokens > ref_tokens
    # score ignores the unlabeled rows
    assert clf.score(X2, y2) == pytest.approx(clf.score(X, y))
    scores = cross_val_score(clone(clf), X2, y2, cv=StratifiedKFold(2))
    assert np.isfinite(scores).all()
    pipe = make_pipeline(FunctionTransformer(lambda docs: [d.lower() for d in docs]), clone(clf))
    pipe.fit(X2, y2)
    assert pipe.score(X2, y2) == pytest.approx(pipe.score(X, y))


def test_unlabeled_marker_of_another_type(tiny_encoder_dir, data):
    X, y = data
    y_int = np.where(y == "pos", 1, 0).astype(object)
    y_int[:10] = "unlabeled"
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label="unlabeled",
                           **{**FAST, "lm_epochs": 0}).fit(X, y_int)
    assert clf.classes_.tolist() == [0, 1]
    y_neg = np.where(y == "pos", 1, 0)
    y_neg[:10] = -1  # scikit-learn's semi-supervised convention
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label=-1,
                           **{**FAST, "lm_epochs": 0}).fit(X, y_neg)
    assert clf.classes_.tolist() == [0, 1]


def test_validation_fraction_stops_early_at_the_best_epoch(tiny_encoder_dir, data):
    X, y = data
    clf = ULMFiTClassifier(str(tiny_encoder_dir), validation_fraction=0.25,
                           **{**FAST, "unfreeze_epochs": (1, 40), "lr": 0.1}).fit(X, y)
    history = clf.history_["classifier"]
    losses = [epoch["valid_loss"] for epoch in history]
    assert len(history) < 41  # stopped before the schedule's end
    assert int(np.argmin(losses)) == len(history) - 3  # patience 2 after the best epoch
    # 45 of 60 documents train: 6 batches of 8 an epoch
    assert sum("train_loss" in b for b in history[0]["batches"]) == 6
    without = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    assert "valid_loss" not in without.history_["classifier"][0]


def test_class_weight_reaches_the_loss(tiny_encoder_dir, data):
    X, y = data
    keep = np.r_[np.flatnonzero(y == "neg"), np.flatnonzero(y == "pos")[:10]]  # 30 neg, 10 pos
    X, y = [X[i] for i in keep], y[keep]
    clf = ULMFiTClassifier(str(tiny_encoder_dir), class_weight="balanced", **FAST).fit(X, y)

    def loss_weight(est):
        return est.net_.get_params().get("criterion__weight")

    assert loss_weight(clf).tolist() == pytest.approx([40 / (2 * 30), 40 / (2 * 10)])  # neg, pos
    clf = ULMFiTClassifier(str(tiny_encoder_dir), class_weight={"neg": 1.0, "pos": 5.0},
                           **FAST).fit(X, y)
    assert loss_weight(clf).tolist() == [1.0, 5.0]
    assert loss_weight(ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)) is None


def test_int_labels_with_a_str_unlabeled_marker_keep_their_type(tiny_encoder_dir, data):
    X, y = data
    y_int = [1 if v == "pos" else 0 for v in y]
    mixed = list(y_int)
    mixed[:10] = ["u"] * 10
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label="u",
                           **{**FAST, "lm_epochs": 0}).fit(X, mixed)
    assert clf.classes_.tolist() == [0, 1] and clf.classes_.dtype.kind == "i"
    # int labels score without a type error
    assert clf.score(X, y_int) == np.mean(clf.predict(X) == np.asarray(y_int))
    assert set(clf.predict(X).tolist()) <= {0, 1}


def test_labels_mixing_types_beside_an_unlabeled_marker_are_refused(clf):
    with pytest.raises(ValueError, match=r"Mix of label input types .* e\.g\. 'b' and 0"):
        clf.set_params(unlabeled_label="u").fit(["a", "b", "c", "d"], [0, "u", 1, "b"])
    assert not hasattr(clf, "net_")


def test_nan_as_unlabeled_marker_makes_missing_labels_unlabeled(tiny_encoder_dir, data):
    X, y = data
    y_missing = np.array(y, dtype=object)
    y_missing[:5], y_missing[5:10] = None, float("nan")
    clf = ULMFiTClassifier(str(tiny_encoder_dir), unlabeled_label=float("nan"),
                           **{**FAST, "lm_epochs": 0}).fit(X, y_missing)
    assert clf.classes_.tolist() == ["neg", "pos"]
    assert len(clf.history_["classifier"][0]["batches"]) == 7  # the 50 labeled documents


def test_empty_and_very_long_documents(tiny_encoder_dir, data):
    X, y = data
    long_doc = " ".join(["good film"] * 50_000)  # 100,000 words
    X2 = list(X) + ["", long_doc]
    y2 = list(y) + ["neg", "pos"]
    clf = ULMFiTClassifier(str(tiny_encoder_dir), lm_epochs=0, unfreeze_epochs=(1, 1), max_len=64,
                           random_state=0).fit(X2, y2)
    proba = clf.predict_proba(["", long_doc])
    assert proba.shape == (2, 2) and np.isfinite(proba).all()


@pytest.mark.parametrize("encoder", ["tiny_encoder_dir", "tiny_sp_encoder_dir"])
def test_a_lone_surrogate_reads_as_the_replacement_character(encoder, data, request):
    X, y = data
    odd = ["Good film \ud800 really.", "Bad \ud800 plot \udfff."]
    clean = ["Good film \ufffd really.", "Bad \ufffd plot \ufffd."]
    clf = ULMFiTClassifier(str(request.getfixturevalue(encoder)), **FAST)
    clf.fit(list(X) + odd, list(y) + ["pos", "neg"])
    np.testing.assert_array_equal(clf.predict_proba(odd), clf.predict_proba(clean))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("X, match", [
    ("a single string", "Iterable over raw text documents expected"),
    (b"bytes", "Iterable over raw text documents expected"),
    (42, "iterable of strings"),
    (["ok", None], "item 1 is NoneType"),
    (["ok", float("nan")], "item 1 is float"),
    (["ok", 3], "item 1 is int"),
    (["ok", b"bytes"], "item 1 is bytes"),
])
def test_bad_X(clf, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, ["a", "b"])
    assert not hasattr(clf, "net_")


@pytest.mark.parametrize("X, y, match", [
    (["a", "b", "c"], ["x", "y"], "different lengths"),
    (["a", "b"], ["x", "x"], "at least two"),
    (["a", "b"], [1.0, float("nan")], "missing values"),
    (["a", "b"], ["x", None], "missing values"),
    (["a", "b", "c"], ["x", "y", float("nan")], "missing values"),  # not a class 'nan'
    (["a", "b", "c"], np.array(["x", "y", float("nan")], dtype=object), "missing values"),
    ([], [], "empty"),
    (["a", "b", "c", "d"], [0, "a", 1, "b"], r"Mix of label input types \(string and number\)"),
    (["a", "b", "c"], np.array(["x", 1.5, "y"], dtype=object), "Mix of label input types"),
])
def test_bad_y(clf, X, y, match):
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_failed_refit_leaves_the_estimator_as_it_was(tiny_encoder_dir, data):
    X, y = data
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    before = clf.predict_proba(X)
    net = clf.net_
    clf.set_params(unfreeze_epochs=(1, 1, 1, 1, 1))  # longer than the encoder allows
    with pytest.raises(ValueError, match="at most 3 stages"):
        clf.fit(X, y)
    assert clf.net_ is net
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_missing_labels_of_pandas(clf):
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="missing values"):
        clf.fit(["a", "b", "c"], pd.Series(["x", pd.NA, "y"], dtype="string"))
    with pytest.raises(ValueError, match="missing values"):
        clf.fit(["a", "b", "c"], pd.array([1, pd.NA, 0], dtype="Int64"))


def test_ctrl_c_raises_leaves_the_estimator_and_caches_nothing(tiny_encoder_dir, data, tmp_path,
                                                             monkeypatch, sigint_raises):
    import os
    import signal

    from skorch.callbacks import Callback

    import ulmfit_sklearn.training.stages as stages

    class CtrlC(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                os.kill(os.getpid(), signal.SIGINT)

    X, y = data
    cache = str(tmp_path / "cache")
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    before = clf.predict_proba(X)
    real = stages.make_lm_net
    monkeypatch.setattr(stages, "make_lm_net",
                        lambda *a, **kw: real(*a, **{**kw, "callbacks": [("ctrl_c", CtrlC())]}))
    clf.set_params(memory=cache)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)  # interrupted in stage 2
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    monkeypatch.setattr(stages, "make_lm_net", real)
    calls = []
    real_finetune = base.finetune_encoder
    monkeypatch.setattr(base, "finetune_encoder",
                        lambda *a, **kw: calls.append(1) or real_finetune(*a, **kw))
    clf.fit(X, y)
    assert calls == [1]  # the interrupted stage 2 was not cached


def test_predict_before_fit(clf):
    with pytest.raises(NotFittedError):
        clf.predict(["text"])
    with pytest.raises(NotFittedError):
        clf.predict_proba(["text"])


def test_predict_single_string_is_an_error(fitted):
    with pytest.raises(ValueError, match="Iterable over raw text"):
        fitted.predict("one string")


def test_unknown_or_broken_encoder(data, tmp_path):
    X, y = data
    with pytest.raises(EncoderError, match="unknown encoder"):
        ULMFiTClassifier("nope", **FAST).fit(X, y)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EncoderError):
        ULMFiTClassifier(str(tmp_path), **FAST).fit(X, y)


@pytest.mark.parametrize("params", [
    {"lr": -1.0}, {"lr_decay": 0.5}, {"stlr_cut_frac": 0.0}, {"batch_size": 1},
    {"unfreeze_epochs": (0, 0)}, {"unfreeze_epochs": (1, -1)}, {"device": 3},
    {"class_weight": "sometimes"}, {"autocast": "sometimes"},
])
def test_invalid_parameters(clf, data, params):
    X, y = data
    with pytest.raises((InvalidParameterError, ValueError)):
        clf.set_params(**params).fit(X, y)


@pytest.mark.parametrize("native", [True, False])
def test_autocast_auto_is_bf16_for_a_bert_where_the_device_has_it(clf, data, monkeypatch, native):
    import ulmfit_sklearn._base as base
    from ulmfit_sklearn.families import FAMILIES

    monkeypatch.setattr(base, "native_bf16", lambda device_type: native)
    X, y = data
    fitted = clf.set_params(autocast="auto", lm_epochs=0).fit(X, y)
    assert fitted.net_.autocast is False  # an AWD-LSTM: measured worse under bf16
    assert clf._autocast(FAMILIES["bert"]) is native
    assert clf.set_params(autocast=True)._autocast(FAMILIES["awd_lstm"]) is True
    assert clf.set_params(autocast=False)._autocast(FAMILIES["bert"]) is False


def test_no_pretraining_uses_the_default_shape_and_tokenizer(data):
    from ulmfit_sklearn.encoders import load_encoder
    X, y = data
    default = load_encoder("modern-glove")  # the bundled AWD-LSTM: its shape, its tokenizer
    clf = ULMFiTClassifier(None, lm_epochs=0, unfreeze_epochs=(1,), random_state=0).fit(X, y)
    emb = clf.net_.module_.encoder.embedding.weight
    assert emb.shape == (default.config["vocab_size"], default.config["emb_size"])
    assert not torch.allclose(emb, default.state_dict["encoder.encoder.weight"])
    assert clf.encoder_sha256_.startswith("random:")


def _with_params(fitted, **params):
    """A copy of ``fitted`` (its fitted state, not refitted) with other parameters."""
    est = clone(fitted).set_params(**params)
    for name, value in vars(fitted).items():
        if name.endswith("_") and not name.startswith("_"):
            setattr(est, name, value)
    return est


def test_quantize_predicts_with_int8_layers_and_saves_fp32(fitted, data, tmp_path):
    from torch.ao.nn.quantized.dynamic import LSTM as Int8LSTM

    X, _ = data
    expected = _with_params(fitted, quantize=False).predict_proba(X)
    q = _with_params(fitted, quantize=True)
    proba = q.predict_proba(X)
    layers = [type(m) for m in q._int8_nets_[""].module_.modules()]
    assert Int8LSTM in layers and torch.nn.LSTM not in layers
    int8_net = q._int8_nets_[""]
    before, after = fitted.net_.get_params(), int8_net.get_params()
    assert after.get("iterator_valid__batch_size", int8_net.batch_size) == \
        before["iterator_valid__batch_size"]  # batches as the fp32 net's
    for key in ("iterator_valid__pad_idx", "iterator_valid__max_tokens"):
        assert after[key] == before[key]
    assert not np.array_equal(proba, expected)  # int8 arithmetic: close, not equal
    np.testing.assert_allclose(proba, expected, atol=0.05)
    # why it is off by default: activations are quantized per batch, so a document's
    # prediction depends on its batch mates (fp32 predictions do not)
    assert fitted.quantize is False
    np.testing.assert_allclose(fitted.predict_proba(X[:1]), expected[:1], rtol=1e-7)
    alone = q.predict_proba(X[:1])
    assert np.abs(alone - proba[:1]).max() > 1e-5
    np.testing.assert_allclose(alone, proba[:1], atol=0.05)
    # the fitted network stays fp32, and pickles and saves as before
    assert {type(m) for m in fitted.net_.module_.modules()} >= {torch.nn.LSTM}
    again = pickle.loads(pickle.dumps(q))
    assert not hasattr(again, "_int8_nets_")
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    np.testing.assert_array_equal(again.set_params(quantize=False).predict_proba(X), expected)
    loaded = ULMFiTClassifier.load(q.save(tmp_path / "m", weights="float32"))
    assert loaded.quantize is True and not hasattr(loaded, "_int8_nets_")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_lm_sampled_softmax_reaches_stage_two(tiny_encoder_dir, data, monkeypatch):
    import ulmfit_sklearn.families.awd_lstm as awd_family

    seen = []
    real = awd_family.finetune_language_model

    def spy(*args, **kwargs):
        seen.append(kwargs.get("sampled_softmax", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(awd_family, "finetune_language_model", spy)
    X, y = data
    sampled = ULMFiTClassifier(str(tiny_encoder_dir), lm_sampled_softmax=True, **FAST).fit(X, y)
    full = ULMFiTClassifier(str(tiny_encoder_dir), **FAST).fit(X, y)
    assert seen == [True, False]
    assert not np.allclose(sampled.predict_proba(X), full.predict_proba(X))


def test_default_schedule_gives_small_sets_a_longer_last_stage(tiny_encoder_dir, data):
    X, y = data  # 60 documents in batches of 8: 8 steps an epoch
    params = dict(FAST, lm_epochs=0)
    default = ULMFiTClassifier(str(tiny_encoder_dir), **dict(params, unfreeze_epochs=None)).fit(X, y)
    paper = ULMFiTClassifier(str(tiny_encoder_dir), **dict(params, unfreeze_epochs=(1, 1, 2))).fit(X, y)
    assert len(paper.history_["classifier"]) == 4  # a given schedule runs as given
    assert len(default.history_["classifier"]) == 2 + 8  # 2 layers; the last stage: 64 steps


def test_a_floor_in_documents_gives_small_sets_more_steps_and_large_ones_none():
    from ulmfit_sklearn.training.stages import last_stage_floor

    assert last_stage_floor(0, 2048, 8) == 256  # 100 labels in batches of 8
    assert last_stage_floor(0, 2048, 32) == 64  # 1,000 in batches of 32: two epochs anyway
    assert last_stage_floor(64, 100, 8) == 64 and last_stage_floor(0, 0, 8) == 0


def test_the_family_floor_in_documents_lengthens_the_default_last_stage(tiny_encoder_dir, data,
                                                                         monkeypatch):
    from ulmfit_sklearn.families.awd_lstm import AWD_LSTM

    X, y = data  # 60 documents in batches of 8: 8 steps an epoch
    monkeypatch.setattr(AWD_LSTM, "min_last_stage_steps", 0)
    monkeypatch.setattr(AWD_LSTM, "min_last_stage_docs", 200)  # 25 steps: 4 epochs
    params = dict(FAST, lm_epochs=0, unfreeze_epochs=None)
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **params).fit(X, y)
    assert len(clf.history_["classifier"]) == 2 + 4


def test_the_contrastive_stage_trains_an_awd_lstm_too(tiny_encoder_dir, data):
    X, y = data
    params = dict(FAST, lm_epochs=0)
    plain = ULMFiTClassifier(str(tiny_encoder_dir), **params).fit(X, y)
    paired = ULMFiTClassifier(str(tiny_encoder_dir), contrastive_pairs=32, contrastive_lr=1e-3,
                              **params).fit(X, y)
    assert not np.allclose(paired.predict_proba(X), plain.predict_proba(X))
    assert paired.score(X, y) >= 0.5
