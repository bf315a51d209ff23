"""lr_find and plot_history."""

import matplotlib
import numpy as np
import pytest
from skorch.callbacks import Callback

from ulmfit_sklearn import ULMFiTClassifier, ULMFiTVectorizer
from ulmfit_sklearn.diagnostics import LRFinderResult, lr_find, plot_history, smooth_losses
from ulmfit_sklearn.training import stages

from conftest import FAST, make_toy_data

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return make_toy_data(48, seed=21)


@pytest.fixture
def applied_lrs(monkeypatch):
    """The learning rate of each optimizer group at the start of every batch a range
    test trains (what the optimizer really used, not what lr_find reports)."""
    seen = []

    class Spy(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                seen.append([group["lr"] for group in net.optimizer_.param_groups])

    real = stages.lr_range_callbacks
    monkeypatch.setattr(stages, "lr_range_callbacks", lambda *a: real(*a) + [("spy", Spy())])
    return seen


@pytest.mark.parametrize("stage", ["classifier", "lm"])
def test_lr_find_ramps_the_lr_and_stops_when_the_loss_diverges(tiny_encoder_dir, data, stage,
                                                               applied_lrs):
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST)
    start, end, num_it = 1e-5, 1e4, 40
    res = lr_find(clf, *data, stage=stage, start_lr=start, end_lr=end, num_it=num_it)
    assert res.stage == stage and len(res.lrs) == len(res.losses) >= 5
    # geometric from start_lr towards end_lr over num_it batches ...
    steps = np.arange(len(res.lrs))
    np.testing.assert_allclose(res.lrs, start * (end / start) ** (steps / (num_it - 1)), rtol=1e-10)
    assert (np.diff(res.lrs) > 0).all()
    # ... and the optimizer trained each batch at that lr (the top group's; the lower
    # groups keep their discriminative ratios to it)
    used = np.array(applied_lrs)
    assert used.shape[0] == len(res.lrs) and used.shape[1] > 1
    np.testing.assert_allclose(used.max(axis=1), res.lrs, rtol=1e-6)
    np.testing.assert_allclose(used / used[:, -1:], np.broadcast_to(used[0] / used[0, -1], used.shape),
                               rtol=1e-6)
    # an lr of 10000 blows any loss up: the test stops at the first batch whose smoothed
    # loss exceeds 4 times the lowest so far, well before its last batch
    assert len(res.losses) < num_it
    best = np.minimum.accumulate(res.losses)
    assert res.losses[-1] > 4 * best[-2] or np.isnan(res.losses[-1])
    assert (res.losses[:-1] <= 4 * best[:-1]).all()
    assert not hasattr(clf, "net_")  # the estimator itself stays unfitted
    res.plot()


def test_suggestions_on_a_known_curve():
    """lr_steep: where the loss falls fastest per log lr; lr_min: a tenth of the lr of
    the lowest loss."""
    lrs = np.geomspace(1e-6, 1e2, 9)
    #                  0    1    2    3    4    5    6    7    8
    losses = np.array([2.0, 2.0, 1.9, 1.0, 0.4, 0.3, 0.25, 0.5, 4.0])
    res = LRFinderResult(lrs=lrs, losses=losses, stage="lm")
    # central slopes: (1.0 - 2.0) / 2, (0.4 - 1.9) / 2 = steepest, (0.3 - 1.0) / 2, ...
    assert res.lr_steep == pytest.approx(lrs[3])
    assert res.lr_min == pytest.approx(lrs[6] / 10)
    # the steepest fall decides, not the lowest loss: here the first step (one-sided slope)
    falling = LRFinderResult(lrs=lrs, losses=np.array([5.0, 4.0, 3.5, 3.4, 3.3, 3.2, 3.1, 3.0, 2.9]),
                             stage="lm")
    assert falling.lr_steep == pytest.approx(lrs[0])
    assert falling.lr_min == pytest.approx(lrs[8] / 10)
    short = LRFinderResult(lrs=lrs[:2], losses=losses[:2], stage="lm")
    assert short.lr_steep == pytest.approx(lrs[0])  # too few points for a slope


def test_lr_find_bounds_and_stage(tiny_encoder_dir, data):
    vec = ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0)
    assert len(lr_find(vec, data[0], stage="lm", num_it=6, end_lr=1e-2).losses) == 6
    with pytest.raises(ValueError, match="needs a classifier"):
        lr_find(vec, data[0])
    with pytest.raises(ValueError, match="stage"):
        lr_find(vec, data[0], stage="head")
    with pytest.raises(ValueError, match="needs a classifier"):  # not NotImplementedError
        lr_find(vec, data[0], data[1], stage="classifier")
    with pytest.raises(ValueError, match="start_lr"):
        lr_find(vec, data[0], stage="lm", start_lr=1.0, end_lr=0.1)


def test_smoothing_is_debiased():
    np.testing.assert_allclose(smooth_losses([2.0, 2.0, 2.0]), [2.0, 2.0, 2.0])


def test_plot_history_draws_both_stages(tiny_encoder_dir, data):
    clf = ULMFiTClassifier(str(tiny_encoder_dir), validation_fraction=0.25, **FAST).fit(*data)
    axes = plot_history(clf)
    assert len(axes) == 2 and axes[1].get_title().startswith("stage 3")
    history = clf.history_["classifier"]
    train = [b["train_loss"] for e in history for b in e["batches"] if "train_loss" in b]
    lines = {line.get_label(): line for line in axes[1].lines}
    np.testing.assert_allclose(lines["train (batch)"].get_ydata(), train)  # every training batch
    np.testing.assert_array_equal(lines["train (batch)"].get_xdata(), np.arange(1, len(train) + 1))
    # one validation point per epoch, at the epoch's last training batch
    valid = lines["valid (epoch)"]
    np.testing.assert_allclose(valid.get_ydata(), [e["valid_loss"] for e in history])
    ends = np.cumsum([sum("train_loss" in b for b in e["batches"]) for e in history])
    np.testing.assert_array_equal(valid.get_xdata(), ends)
    with pytest.raises(ValueError, match="not fitted"):
        plot_history(ULMFiTClassifier())
