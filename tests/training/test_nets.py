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
    assert lr_of[id(named["encoder.encoder.weight"])] == 1e-2 / 2  # bottom group (with layer 0)
    assert lr_of[id(named["encoder.rnns.0.lstm.weight_hh_l0"])] == 1e-2 / 2
    assert lr_of[id(named["encoder.rnns.1.lstm.weight_hh_l0"])] == 1e-2  # top group
    assert lr_of[id(named["decoder.bias"])] == 1e-2
    assert len(lr_of) == len(named)


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


def _flush_probe_net():
    """An inference net whose module records whether denormals survive."""
    seen = []

    class Probe(torch.nn.Module):
        n_out = 1

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens, lengths):
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
