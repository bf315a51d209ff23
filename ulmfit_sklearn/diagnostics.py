"""Insight into training: the learning-rate finder and plots of ``history_``.

:func:`lr_find` is fastai's learning-rate range test for a ULMFiT estimator: the
learning rate grows exponentially over ``num_it`` batches while the (smoothed)
training loss is recorded; a good peak learning rate lies where the loss falls
fastest, well before it blows up.  ``stage="lm"`` tests stage 2 (language-model
fine-tuning, all layers with discriminative rates); ``stage="classifier"`` runs
stage 2 as the estimator would (through its ``memory`` cache) and tests the first
stage of the unfreezing schedule (the head alone, by default).

Plots need matplotlib (``pip install matplotlib``); nothing else here does.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor

from .training.callbacks import ExponentialRamp, SmoothedLoss


@dataclass
class LRFinderResult:
    """The range test's record: learning rate and smoothed loss per batch."""

    lrs: np.ndarray
    losses: np.ndarray
    stage: str

    @property
    def lr_steep(self):
        """The learning rate where the smoothed loss falls fastest (per log lr)."""
        if len(self.losses) < 3:
            return float(self.lrs[0])
        grads = np.gradient(self.losses, np.log(self.lrs))
        return float(self.lrs[int(np.argmin(grads))])

    @property
    def lr_min(self):
        """A tenth of the learning rate of the lowest smoothed loss (fastai's rule)."""
        return float(self.lrs[int(np.argmin(self.losses))] / 10)

    def plot(self, ax=None):
        """Loss against learning rate (log scale), with the two suggestions marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        ax.plot(self.lrs, self.losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss (smoothed)")
        ax.set_title(f"lr_find, stage {self.stage!r}")
        for lr, label in [(self.lr_steep, "steepest"), (self.lr_min, "min / 10")]:
            ax.axvline(lr, ls="--", lw=1, color="grey")
            ax.annotate(f"{label}\n{lr:.1e}", (lr, ax.get_ylim()[1]), va="top", fontsize=8)
        return ax


def smooth_losses(losses, beta=0.98):
    """fastai's smoothing: a debiased exponential moving average
    (:class:`~ulmfit_sklearn.training.callbacks.SmoothedLoss`)."""
    smoothed = SmoothedLoss(beta)
    return np.asarray([smoothed.update(loss) for loss in losses])


def _batch_losses(history):
    return [b["train_loss"] for epoch in history for b in epoch["batches"] if "train_loss" in b]


def lr_find(estimator, X, y=None, *, stage="classifier", start_lr=1e-7, end_lr=10.0, num_it=100):
    """Run the learning-rate range test of a ULMFiT estimator on (X, y).

    Parameters
    ----------
    estimator : ULMFiTClassifier, ULMFiTRegressor or ULMFiTVectorizer
        Its parameters set everything but the learning rate (a clone is used; the
        estimator itself is left as it is).
    X : iterable of str
        Texts.
    y : array-like or None
        Targets (needed for ``stage="classifier"``).
    stage : {"classifier", "lm"}
        Which stage to test.
    start_lr, end_lr : float
        The range of the top layer group's learning rate (lower groups keep the
        ``lr_decay`` ratios).
    num_it : int
        Batches to run (fewer if the loss diverges first).

    Returns
    -------
    LRFinderResult
        ``lrs`` and smoothed ``losses``; ``lr_steep`` and ``lr_min`` suggest a peak
        learning rate (``lr`` or ``lm_lr``); ``plot()`` draws the curve.
    """
    if stage not in ("classifier", "lm"):
        raise ValueError(f"stage must be 'classifier' or 'lm', got {stage!r}")
    if not 0 < start_lr < end_lr:
        raise ValueError("need 0 < start_lr < end_lr")
    est = clone(estimator)
    est._check_params()
    texts = est._texts(X, reset=True)
    targets = None
    if stage == "classifier":
        if not (is_classifier(est) or is_regressor(est)) or y is None:
            raise ValueError("stage='classifier' needs a classifier or regressor and y")
        targets = est._training_targets(texts, y)
    run = est._run_stages(texts, targets, lr_range=(float(start_lr), float(end_lr), int(num_it)),
                          range_stage=stage)
    history = run.lm_history if stage == "lm" else run.net.history.to_list()
    losses = _batch_losses(history)[:num_it]
    ramp = ExponentialRamp(start_lr, end_lr, num_it, lr=1.0)  # the test's own lr policy
    lrs = np.asarray([ramp.lr_at(step) for step in range(len(losses))])
    return LRFinderResult(lrs=lrs, losses=smooth_losses(losses), stage=stage)


def plot_history(estimator, axes=None):
    """Training loss per batch of each stage of a fitted estimator (and the
    validation loss per epoch when there is one), epochs marked by dotted lines.
    Returns the matplotlib axes, one per stage."""
    import matplotlib.pyplot as plt

    history = getattr(estimator, "history_", None)
    if history is None:
        raise ValueError("the estimator is not fitted (no history_)")
    stages = [(name, h) for name, h in history.items() if h]
    if axes is None:
        _, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.5), squeeze=False)
        axes = axes[0]
    for ax, (name, h) in zip(axes, stages):
        losses = _batch_losses(h)
        ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, alpha=0.5, label="train (batch)")
        ax.plot(np.arange(1, len(losses) + 1), smooth_losses(losses, 0.9), label="train (smoothed)")
        ends = np.cumsum([sum(1 for b in e["batches"] if "train_loss" in b) for e in h])
        if any("valid_loss" in e for e in h):
            ax.plot(ends, [e.get("valid_loss", np.nan) for e in h], "o-", label="valid (epoch)")
        for e_end in ends[:-1]:
            ax.axvline(e_end, color="grey", lw=0.5, ls=":")
        ax.set_title({"lm": "stage 2: language model", "classifier": "stage 3: classifier"}.get(name, name))
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    return axes
