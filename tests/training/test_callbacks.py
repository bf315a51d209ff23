import numpy as np
import pytest
import torch
from skorch import NeuralNet

from ulmfit_sklearn.training.callbacks import (StagedSTLR, gradual_unfreezing_callbacks,
                                               stlr_callback, stlr_multiplier)
from ulmfit_sklearn.training.nets import discriminative_param_groups


def test_stlr_shape():
    total, cut_frac, ratio = 100, 0.1, 32
    lrs = [stlr_multiplier(t, total, cut_frac, ratio) for t in range(total)]
    assert lrs[0] == pytest.approx(1 / ratio)
    assert max(lrs) == pytest.approx(1.0) and int(np.argmax(lrs)) == 10
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # rising
    assert all(a > b for a, b in zip(lrs[10:-1], lrs[11:]))  # falling
    assert lrs[-1] < 0.05


def test_staged_stlr_restarts_each_stage_with_its_factor():
    sched = StagedSTLR([10, 0, 20], cut_frac=0.1, ratio=32, stage_factors=[1.0, 0.5, 0.25])
    assert sched(0) == pytest.approx(1 / 32)
    assert sched(1) == pytest.approx(1.0)  # peak of stage 1 (cut = 1 step)
    assert sched(10) == pytest.approx(0.25 / 32)  # a fresh cycle; the empty stage is skipped
    assert sched(12) == pytest.approx(0.25)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.low = torch.nn.Linear(2, 2)
        self.top = torch.nn.Linear(2, 2)
        self.head = torch.nn.Linear(2, 1)

    def forward(self, x):
        return self.head(self.top(self.low(x)))


def _net(callbacks, **kw):
    return NeuralNet(Tiny, criterion=torch.nn.MSELoss, optimizer=torch.optim.SGD, lr=0.1,
                     batch_size=4, train_split=None, callbacks=callbacks, verbose=0, **kw)


def test_discriminative_lrs_and_stlr_through_skorch():
    groups = discriminative_param_groups([["low*"], ["top*"]], lr=0.1, lr_decay=2.0)
    X, y = np.random.rand(8, 2).astype("float32"), np.random.rand(8, 1).astype("float32")
    net = _net([("stlr", stlr_callback([6], 0.5, 4))], optimizer__param_groups=groups, max_epochs=3)
    net.fit(X, y)
    seen = [b["event_lr"] for h in net.history for b in h["batches"]]
    # first group is 'low' at lr / 2; the recorded lrs follow the STLR shape
    assert seen[0] == pytest.approx(0.05 / 4)
    assert max(seen) == pytest.approx(0.05)
    lrs = [g["lr"] for g in net.optimizer_.param_groups]
    assert lrs[0] * 2 == pytest.approx(lrs[1]) and lrs[1] == pytest.approx(lrs[2])


def test_gradual_unfreezing_freezes_from_the_bottom_and_unfreezes_stage_by_stage():
    layers = [["low*"], ["top*"]]
    cbs = gradual_unfreezing_callbacks(layers, [1, 1, 2])
    X, y = np.random.rand(8, 2).astype("float32"), np.random.rand(8, 1).astype("float32")
    trainable = []

    from skorch.callbacks import Callback

    class Spy(Callback):
        def on_epoch_begin(self, net, **kw):
            m = net.module_
            trainable.append((m.low.weight.requires_grad, m.top.weight.requires_grad,
                              m.head.weight.requires_grad))

    _net(cbs + [("spy", Spy())], max_epochs=4).fit(X, y)
    assert trainable == [(False, False, True), (False, True, True), (True, True, True),
                         (True, True, True)]


def test_gradual_unfreezing_edge_cases():
    layers = [["a*"], ["b*"], ["c*"]]
    assert gradual_unfreezing_callbacks(layers, [3]) == []  # everything from the start
    cbs = dict(gradual_unfreezing_callbacks(layers, [1, 0, 0, 2]))  # head, then all
    assert cbs["freeze"].patterns == ["a*", "b*", "c*"] and len(cbs) == 2
    with pytest.raises(ValueError, match="stages"):
        gradual_unfreezing_callbacks(layers, [1, 1, 1, 1, 1])
