import contextlib

import numpy as np
import pytest
import torch

from ulmfit_sklearn.modules import AWDLSTM, LanguageModel
from ulmfit_sklearn.training.batching import DocumentDataset, TokenStream
from ulmfit_sklearn.training.stages import make_inference_net, make_lm_net


def _lm():
    torch.manual_seed(0)
    return LanguageModel(AWDLSTM(20, 16, 32, 2, pad_idx=1))


def test_lm_net_learns_a_repeating_stream_and_carries_state():
    stream = TokenStream(np.tile(np.arange(2, 12), 300))
    net = make_lm_net(_lm(), stream, epochs=4, lr=3e-2, batch_size=4, bptt=10, seed=0)
    states = []
    net.initialize()
    real_forward = net.module_.forward

    def spy(x, state=None):
        states.append(state is not None)
        return real_forward(x, state)

    net.module_.forward = spy
    net.partial_fit(stream, None)
    losses = [h["train_loss"] for h in net.history]
    assert losses[-1] < 1.0 < np.log(10)  # far below the unigram entropy of the cycle
    # the first batch of each epoch starts from zeros, the following ones carry the state
    per_epoch = len(net.history[0]["batches"])
    assert states[0] is False and all(states[1:per_epoch])
    assert states[per_epoch] is False


def test_lm_param_groups_follow_discriminative_lrs():
    lm = _lm()
    stream = TokenStream(np.arange(2, 500) % 18 + 2)
    net = make_lm_net(lm, stream, epochs=1, lr=1e-2, lr_decay=2.0, batch_size=2, bptt=5)
    net.initialize()
    lr_of = {id(p): g["lr"] for g in net.optimizer_.param_groups for p in g["params"]}
    named = dict(net.module_.named_parameters())
    # fastai's LM split: one group per LSTM layer, the tied embedding/decoder on top
    assert lr_of[id(named["encoder.rnns.0.lstm.weight_hh_l0"])] == 1e-2 / 4
    assert lr_of[id(named["encoder.rnns.1.lstm.weight_hh_l0"])] == 1e-2 / 2
    assert lr_of[id(named["encoder.embedding.weight"])] == 1e-2  # new words learn at the top rate
    assert lr_of[id(named["decoder.bias"])] == 1e-2
    assert len(lr_of) == len(named)


def _classifier_net(**kw):
    from ulmfit_sklearn.modules import SequenceClassifier
    from ulmfit_sklearn.training.stages import make_classifier_net

    torch.manual_seed(0)
    module = SequenceClassifier(AWDLSTM(20, 8, 12, 3, pad_idx=1), 2, bptt=4)
    return make_classifier_net(module, **{"n_train": 16, "stage_epochs": [1, 1, 1, 1], "lr": 1e-2,
                                          "batch_size": 4, "seed": 0, **kw})


def _toy_docs(n=16):
    rng = np.random.default_rng(0)
    docs = [rng.integers(2, 20, size=int(rng.integers(3, 9))) for _ in range(n)]
    return DocumentDataset(docs, np.arange(n) % 2)


def test_classifier_param_groups_follow_fastai_split():
    net = _classifier_net(lr_decay=2.0)
    net.initialize()
    lr_of = {id(p): g["lr"] for g in net.optimizer_.param_groups for p in g["params"]}
    named = dict(net.module_.named_parameters())
    # bottom up: embedding, LSTM layers 0-2, head (at lr, the top LSTM layer at lr / 2)
    assert lr_of[id(named["encoder.embedding.weight"])] == 1e-2 / 16
    assert lr_of[id(named["encoder.rnns.0.lstm.weight_hh_l0"])] == 1e-2 / 8
    assert lr_of[id(named["encoder.rnns.1.lstm.weight_hh_l0"])] == 1e-2 / 4
    assert lr_of[id(named["encoder.rnns.2.lstm.weight_hh_l0"])] == 1e-2 / 2
    assert lr_of[id(named["head.lin2.weight"])] == 1e-2
    assert len(lr_of) == len(named)


def test_gradual_unfreezing_trains_one_more_layer_per_stage_of_the_real_classifier():
    net = _classifier_net()
    data = _toy_docs()
    net.initialize()
    before = {k: v.detach().clone() for k, v in net.module_.named_parameters()}
    moved = []

    def changed(prefix):
        return any(not torch.equal(before[k], v) for k, v in net.module_.named_parameters()
                   if k.startswith(prefix))

    for _ in range(4):
        net.partial_fit(data, data.y, epochs=1)
        moved.append([changed(p) for p in ("head.", "encoder.rnns.2.", "encoder.rnns.1.",
                                           "encoder.rnns.0.", "encoder.embedding.")])
    assert moved == [[True, False, False, False, False],
                     [True, True, False, False, False],
                     [True, True, True, False, False],
                     [True, True, True, True, True]]


def test_each_unfreezing_stage_has_its_own_stlr_cycle():
    net = _classifier_net(stage_epochs=[1, 2], cut_frac=0.25, ratio=10)
    data = _toy_docs()
    lrs = []
    net.initialize()
    real = net.train_step

    def spy(batch, **kw):
        lrs.append(net.optimizer_.param_groups[-1]["lr"])  # the head's
        return real(batch, **kw)

    net.train_step = spy
    net.fit(data, data.y)
    # 4 batches an epoch: stage 1 (head, lr) is 4 steps, stage 2 (all, lr / 20) 8 steps
    assert len(lrs) == 12
    first, second = np.array(lrs[:4]), np.array(lrs[4:])
    assert first[0] == pytest.approx(1e-2 / 10) and first.max() == pytest.approx(1e-2)
    assert second[0] == pytest.approx(1e-2 / 20 / 10)  # a fresh cycle starts from its bottom
    assert second.max() == pytest.approx(1e-2 / 20) and int(np.argmax(second)) == 2


def test_lm_fine_tuning_applies_the_output_dropout(tiny_encoder_dir):
    from ulmfit_sklearn.encoders import load_encoder
    from ulmfit_sklearn.modules import LM_DROPOUT, scaled_dropout

    lm = load_encoder(tiny_encoder_dir).build_language_model(**scaled_dropout(LM_DROPOUT, 3.0))
    assert lm.output_dp.p == pytest.approx(0.3)
    assert lm.encoder.hidden_dps[0].p == pytest.approx(0.45)


def test_a_user_interrupt_propagates_but_callback_stops_end_quietly(sigint_raises):
    import os
    import signal

    from skorch.callbacks import Callback

    class CtrlC(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                os.kill(os.getpid(), signal.SIGINT)

    class Stop(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            raise KeyboardInterrupt  # as skorch's EarlyStopping does

    stream = TokenStream(np.arange(2, 500) % 18 + 2)
    quiet = make_lm_net(_lm(), stream, epochs=2, lr=1e-2, batch_size=2, bptt=5,
                        callbacks=[("stop", Stop())])
    quiet.fit(stream, None)
    assert len(quiet.history) == 1
    net = make_lm_net(_lm(), stream, epochs=2, lr=1e-2, batch_size=2, bptt=5,
                      callbacks=[("ctrl_c", CtrlC())])
    with pytest.raises(KeyboardInterrupt):
        net.fit(stream, None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ar_tar_only_in_training():
    lm = _lm()
    stream = TokenStream(np.arange(2, 500) % 18 + 2)
    net = make_lm_net(lm, stream, epochs=1, lr=1e-2, batch_size=2, bptt=5)
    net.initialize()
    x = torch.randint(2, 20, (2, 6))
    y_pred = net.infer(x)
    train_loss = net.get_loss(y_pred, x, training=True)
    eval_loss = net.get_loss(y_pred, x, training=False)
    assert train_loss > eval_loss


def test_lm_loss_over_a_restricted_output_is_the_renormalised_softmax():
    lm = _lm()
    stream = TokenStream(np.arange(2, 500) % 18 + 2)
    net = make_lm_net(lm, stream, epochs=1, lr=1e-2, batch_size=2, bptt=5)
    net.initialize()
    net.module_.eval()
    x = torch.randint(2, 8, (2, 6))
    keep = torch.arange(2, 8)
    logits = net.infer(x)[0]
    net.module_.restrict_output(keep)
    net._lm_state = None  # the net carries the state from call to call
    loss = net.get_loss(net.infer(x), x)
    expected = torch.nn.functional.cross_entropy(logits[..., keep].flatten(0, 1), (x - 2).flatten())
    torch.testing.assert_close(loss, expected)


def _denormal_survives():
    # float32 denormals made from bits (a float conversion would flush them already),
    # enough of them for torch to split the product across its threads
    tiny = torch.full((1 << 20,), 1 << 20, dtype=torch.int32).view(torch.float32)
    return bool(((tiny * 1.0) != 0).any())


def _flush_probe_net(barrier=None):
    """An inference net whose module records whether denormals survive (after
    waiting at ``barrier``, if given)."""
    seen = []

    class Probe(torch.nn.Module):
        n_out = 1

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens, lengths):
            if barrier is not None:
                barrier.wait(10)
            seen.append(_denormal_survives())
            return self.w.expand(tokens.size(0), 1)

    return make_inference_net(Probe()), seen


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="CPU cannot flush denormals")
def test_training_and_forward_flush_denormals_then_restore():
    stream = TokenStream(np.arange(2, 500) % 18 + 2)
    net = make_lm_net(_lm(), stream, epochs=1, lr=1e-2, batch_size=2, bptt=5)
    seen = []
    real_infer = net.infer

    def spy(x, **kw):
        seen.append(_denormal_survives())
        return real_infer(x, **kw)

    net.infer = spy
    assert _denormal_survives()
    net.fit(stream, None)  # fit goes through partial_fit
    assert seen and not any(seen)
    assert _denormal_survives()  # torch's default is back

    probe, seen = _flush_probe_net()
    probe.forward(DocumentDataset([[2, 3, 4], [5, 6]]))
    assert seen and not any(seen)
    assert _denormal_survives()


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="CPU cannot flush denormals")
def test_a_net_call_nested_in_a_flushed_block_leaves_restoring_to_the_outer_one():
    probe, seen = _flush_probe_net()
    with probe._flushed():
        probe.forward(DocumentDataset([[2, 3, 4]]))
        still_flushing = not _denormal_survives()
    assert seen == [False] and still_flushing
    assert _denormal_survives()


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="CPU cannot flush denormals")
def test_two_threads_predicting_with_one_net_both_flush():
    """Both threads are inside the same net's forward at once: each flushes on its
    own thread, and one's exit does not end the other's flushing."""
    import threading

    probe, seen = _flush_probe_net(threading.Barrier(2))
    threads = [threading.Thread(target=probe.forward, args=(DocumentDataset([[2, 3, 4]]),))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert seen == [False, False]
    assert _denormal_survives()


def test_a_cuda_net_leaves_the_cpus_floating_point_mode_alone(monkeypatch):
    from ulmfit_sklearn.training import nets

    calls = []
    monkeypatch.setattr(nets, "flush_denormals", lambda: calls.append(1) or contextlib.nullcontext())
    probe, _ = _flush_probe_net()
    with probe._flushed():
        pass
    assert calls == [1]
    probe.device = "cuda"
    with probe._flushed():
        pass
    assert calls == [1]


def test_stage_two_with_a_sampled_softmax_covers_each_batchs_targets_only(monkeypatch):
    """Each training step's softmax spans the ids among that batch's targets (not
    every id of the texts), corrected by their frequencies; the model still learns."""
    from ulmfit_sklearn.training.nets import LanguageModelNet
    from ulmfit_sklearn.training.stages import finetune_language_model

    # two kinds of documents: cycles over the ids 2..9 and over 10..17
    docs = [np.tile(np.arange(2, 10) + 8 * (i % 2), 6) for i in range(40)]
    steps, real = [], LanguageModelNet.get_loss

    def spy(self, y_pred, y_true, X=None, training=False):
        if training:
            steps.append((set(self.module_.output_ids.tolist()), set(y_true.unique().tolist())))
        return real(self, y_pred, y_true, X=X, training=training)

    monkeypatch.setattr(LanguageModelNet, "get_loss", spy)
    kw = dict(epochs=6, lr=3e-2, lr_decay=1.0, bptt=4, batch_size=2, cut_frac=0.1, ratio=32,
              seed=0, device="cpu", autocast=False, verbose=0)
    net = finetune_language_model(_lm(), docs, sampled_softmax=True, **kw)
    assert net.sampled_log_q is not None and steps
    assert all(ids == targets for ids, targets in steps)
    assert any(len(ids) < 16 for ids, _ in steps)  # fewer than the 16 ids of the texts
    assert set(net.module_.output_ids.tolist()) == set(range(2, 18))  # restored after each step
    losses = [h["train_loss"] for h in net.history]
    assert losses[-1] < 0.5 * losses[0]
    steps.clear()
    full = finetune_language_model(_lm(), docs, **kw)
    assert full.sampled_log_q is None
    assert all(ids == set(range(2, 18)) for ids, _ in steps)


def test_last_stage_epochs_floor_counts_steps_not_epochs():
    from ulmfit_sklearn.training.stages import last_stage_epochs

    assert last_stage_epochs(2, batches=13, min_steps=64) == 5  # 100 docs in batches of 8
    assert last_stage_epochs(2, batches=25, min_steps=64) == 3  # 500 docs in batches of 20
    assert last_stage_epochs(2, batches=32, min_steps=64) == 2  # 1,000 in batches of 32
    assert last_stage_epochs(6, batches=32, min_steps=64) == 6  # never fewer than given
    assert last_stage_epochs(2, batches=1, min_steps=0) == 2  # no floor
    assert last_stage_epochs(0, batches=1, min_steps=64) == 0  # a skipped stage stays skipped


def test_min_last_steps_lengthens_the_last_stage_and_its_stlr_cycle():
    net = _classifier_net(stage_epochs=[1, 2], min_last_steps=20)  # 16 docs, batches of 4
    assert net.max_epochs == 1 + 5
    net.fit(_toy_docs(), _toy_docs().y)
    assert len(net.history) == 6
    # one STLR cycle of 4 steps for the head, then one of all 20 for the last stage
    assert dict(net.callbacks_)["stlr"].lr_lambda.stage_steps == [4, 20]
    assert _classifier_net(stage_epochs=[1, 2]).max_epochs == 3  # no floor by default
