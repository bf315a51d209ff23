"""ULMFiT's schedules as skorch callbacks.

* Slanted triangular learning rates (STLR) are a learning-rate *policy*: a
  picklable multiplier for ``torch.optim.lr_scheduler.LambdaLR``, stepped every
  batch by skorch's :class:`~skorch.callbacks.LRScheduler`.  LambdaLR multiplies
  each parameter group's own initial lr, so discriminative learning rates (set as
  optimizer parameter groups) keep their ratios.
* Gradual unfreezing is skorch's :class:`~skorch.callbacks.Freezer` at the first
  epoch and one :class:`~skorch.callbacks.Unfreezer` per later stage.
* The learning-rate range test (fastai's ``lr_find``) swaps STLR for an
  exponential ramp and stops at a step count or when the loss diverges.
"""

import bisect

from skorch.callbacks import Callback, Freezer, LRScheduler, Unfreezer
from torch.optim.lr_scheduler import LambdaLR


def stlr_multiplier(t, total, cut_frac=0.1, ratio=32):
    """Howard & Ruder's slanted triangular schedule, as a fraction of the peak lr.

    Rises linearly for the first ``cut_frac`` of ``total`` steps from
    ``1 / ratio`` to 1, then falls linearly back to ``1 / ratio``.
    """
    cut = max(1, int(total * cut_frac))
    if t < cut:
        p = t / cut
    else:
        p = max(0.0, 1 - (t - cut) / max(1, total - cut))
    return (1 + p * (ratio - 1)) / ratio


class StagedSTLR:
    """A fresh STLR cycle in each training stage, scaled by the stage's factor.

    Parameters
    ----------
    stage_steps : list of int
        Optimizer steps in each stage.
    cut_frac, ratio : float
        STLR's shape.
    stage_factors : list of float or None
        Peak lr of each stage relative to the optimizer's lr (default all 1).
    """

    def __init__(self, stage_steps, cut_frac=0.1, ratio=32, stage_factors=None):
        self.stage_steps = [int(s) for s in stage_steps]
        self.cut_frac, self.ratio = cut_frac, ratio
        self.stage_factors = list(stage_factors or [1.0] * len(self.stage_steps))
        self._bounds = [0]
        for s in self.stage_steps:
            self._bounds.append(self._bounds[-1] + s)

    def stage_of(self, step):
        """(the stage of optimizer step ``step``, the step within that stage)."""
        k = min(max(bisect.bisect_right(self._bounds, step) - 1, 0), len(self.stage_steps) - 1)
        return k, step - self._bounds[k]

    def __call__(self, step):
        k, t = self.stage_of(step)
        return self.stage_factors[k] * stlr_multiplier(t, self.stage_steps[k], self.cut_frac, self.ratio)


def stlr_callback(stage_steps, cut_frac, ratio, stage_factors=None, constant=False, start_step=0):
    """A skorch LRScheduler running :class:`StagedSTLR` (or constant lrs) per batch.

    ``start_step`` resumes the schedule at that step (after a restart).
    """
    schedule = StagedSTLR(stage_steps, cut_frac, ratio, stage_factors)
    if constant:
        schedule = ConstantStages(schedule)
    if start_step:
        schedule = ShiftedSchedule(schedule, start_step)
    return LRScheduler(policy=LambdaLR, lr_lambda=schedule, step_every="batch", last_epoch=-1)


class ShiftedSchedule:
    """``schedule`` started ``offset`` steps in."""

    def __init__(self, schedule, offset):
        self.schedule, self.offset = schedule, offset

    def __call__(self, step):
        return self.schedule(step + self.offset)


class ConstantStages:
    """Each stage's factor without the STLR shape (the "no STLR" ablation)."""

    def __init__(self, staged):
        self.staged = staged

    def __call__(self, step):
        return self.staged.stage_factors[self.staged.stage_of(step)[0]]


def gradual_unfreezing_callbacks(layer_patterns, stage_epochs):
    """Freezer/Unfreezer callbacks for gradual unfreezing.

    Parameters
    ----------
    layer_patterns : list of list of str
        Parameter-name patterns of each encoder layer group, bottom up.  The head
        is never frozen.
    stage_epochs : list of int
        Epochs of each stage: stage 1 trains the head only, stage k also the top
        k - 1 groups, the last trains everything.  Stages of 0 epochs are skipped.

    Returns
    -------
    list of (name, callback)
    """
    n_groups = len(layer_patterns)
    n_stages = len(stage_epochs)
    if n_stages > n_groups + 1:
        raise ValueError(f"{n_stages} unfreezing stages but only {n_groups + 1} layer groups")
    # frozen groups in stage k: all but the top k (the last stage: none)
    frozen_in = [n_groups - k for k in range(n_stages)]
    frozen_in[-1] = 0
    first = next((k for k, e in enumerate(stage_epochs) if e > 0), None)
    if first is None or frozen_in[first] == 0:
        return []
    pats = lambda groups: [p for g in groups for p in g]  # noqa: E731
    callbacks = [("freeze", Freezer(pats(layer_patterns[: frozen_in[first]]), at=1))]
    epoch, still_frozen = 1 + stage_epochs[first], frozen_in[first]
    for k in range(first + 1, n_stages):
        if stage_epochs[k] == 0:
            continue
        if frozen_in[k] < still_frozen:
            groups = layer_patterns[frozen_in[k]:still_frozen]
            callbacks.append((f"unfreeze_{k}", Unfreezer(pats(groups), at=epoch)))
            still_frozen = frozen_in[k]
        epoch += stage_epochs[k]
    return callbacks


class ExponentialRamp:
    """The learning-rate range test's policy: the lr grows exponentially from
    ``start`` to ``end`` over ``steps`` steps, as a multiplier of the peak ``lr``
    the optimizer was built with (so discriminative ratios are kept)."""

    def __init__(self, start, end, steps, lr):
        self.start, self.end, self.steps, self.lr = start, end, max(2, int(steps)), lr

    def lr_at(self, step):
        return self.start * (self.end / self.start) ** (min(step, self.steps - 1) / (self.steps - 1))

    def __call__(self, step):
        return self.lr_at(step) / self.lr


class SmoothedLoss:
    """fastai's smoothing of a training loss: an exponential moving average of factor
    ``beta``, debiased (the first values are not pulled towards 0)."""

    def __init__(self, beta=0.98):
        self.beta, self.avg, self.count = beta, 0.0, 0

    def update(self, loss):
        """Add the next loss; returns the smoothed loss so far."""
        self.count += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * float(loss)
        return self.avg / (1 - self.beta ** self.count)


class StopLRRange(Callback):
    """Ends the range test after ``steps`` batches, or once the smoothed training
    loss (:class:`SmoothedLoss`) exceeds ``div`` times its minimum (fastai's
    ``stop_div``)."""

    def __init__(self, steps, div=4.0, beta=0.98):
        self.steps, self.div, self.beta = steps, div, beta

    def on_train_begin(self, net, **kwargs):
        self.step_, self.smoothed_, self.best_ = 0, SmoothedLoss(self.beta), float("inf")
        self.losses_ = []

    def on_batch_end(self, net, training=False, loss=None, **kwargs):
        if not training:
            return
        self.step_ += 1
        smooth = self.smoothed_.update(loss.detach() if hasattr(loss, "detach") else loss)
        self.losses_.append(smooth)
        self.best_ = min(self.best_, smooth)
        if self.step_ >= self.steps or (self.div and smooth > self.div * self.best_) \
                or smooth != smooth:
            raise KeyboardInterrupt  # skorch ends fit() cleanly on it


def lr_range_callbacks(start, end, steps, lr):
    """The ``stlr`` slot's replacement and the stopper for a range test."""
    ramp = ExponentialRamp(start, end, steps, lr)
    return [("stlr", LRScheduler(policy=LambdaLR, lr_lambda=ramp, step_every="batch", last_epoch=-1)),
            ("lr_range", StopLRRange(steps))]
