"""lr_find and plot_history."""

import matplotlib
import numpy as np
import pytest

from ulmfit_sklearn import ULMFiTClassifier, ULMFiTVectorizer
from ulmfit_sklearn.diagnostics import lr_find, plot_history, smooth_losses

from conftest import FAST, make_toy_data

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def data():
    return make_toy_data(48, seed=21)


@pytest.mark.parametrize("stage", ["classifier", "lm"])
def test_lr_find_ramps_the_lr_and_stops_when_the_loss_diverges(tiny_encoder_dir, data, stage):
    clf = ULMFiTClassifier(str(tiny_encoder_dir), **FAST)
    res = lr_find(clf, *data, stage=stage, start_lr=1e-5, end_lr=1e3, num_it=40)
    assert res.stage == stage and len(res.lrs) == len(res.losses) >= 5
    assert res.lrs[0] == pytest.approx(1e-5) and (np.diff(res.lrs) > 0).all()
    # an lr of 1000 blows any loss up: the test stops before its last batch
    assert len(res.losses) < 40 or res.losses[-1] > 2 * res.losses.min()
    assert 1e-5 <= res.lr_steep <= 1e3 and res.lr_min == pytest.approx(res.lrs[np.argmin(res.losses)] / 10)
    assert not hasattr(clf, "net_")  # the estimator itself stays unfitted
    res.plot()


def test_lr_find_bounds_and_stage(tiny_encoder_dir, data):
    vec = ULMFiTVectorizer(str(tiny_encoder_dir), random_state=0)
    assert len(lr_find(vec, data[0], stage="lm", num_it=6, end_lr=1e-2).losses) == 6
    with pytest.raises(ValueError, match="needs a classifier"):
        lr_find(vec, data[0])
    with pytest.raises(ValueError, match="stage"):
        lr_find(vec, data[0], stage="head")
    with pytest.raises(ValueError, match="start_lr"):
        lr_find(vec, data[0], stage="lm", start_lr=1.0, end_lr=0.1)


def test_smoothing_is_debiased():
    np.testing.assert_allclose(smooth_losses([2.0, 2.0, 2.0]), [2.0, 2.0, 2.0])


def test_plot_history_draws_both_stages(tiny_encoder_dir, data):
    clf = ULMFiTClassifier(str(tiny_encoder_dir), validation_fraction=0.25, **FAST).fit(*data)
    axes = plot_history(clf)
    assert len(axes) == 2 and axes[1].get_title().startswith("stage 3")
    n_batches = sum(len(e["batches"]) for e in clf.history_["classifier"])
    assert len(axes[1].lines[0].get_xdata()) <= n_batches
    assert any(line.get_label() == "valid (epoch)" for line in axes[1].lines)
    with pytest.raises(ValueError, match="not fitted"):
        plot_history(ULMFiTClassifier())
