"""skorch nets for ULMFiT's language-model and classifier training.

Training runs through skorch's own loop (``fit`` / ``partial_fit``, callbacks,
history); these subclasses only add what the AWD-LSTM needs:

* :class:`LanguageModelNet` carries the LSTM state from batch to batch (the state
  lives in the net during a pass, never in the module), and adds AR/TAR
  activation regularisation to the loss;
* :class:`ClassifierNet` feeds padded document batches to the BPT3C classifier.

Both can run under bf16 autocast (``autocast=True``), both treat denormal floats
as zero while they train or predict
(:func:`~ulmfit_sklearn.training.numerics.flush_denormals`), and both build
discriminative learning rates as optimizer parameter groups with
:func:`discriminative_param_groups`.
"""

import contextlib

import torch
import torch.nn.functional as F
from skorch import NeuralNet
from skorch.utils import to_tensor

from ..modules import detach_state
from .numerics import flush_denormals


def discriminative_param_groups(layer_patterns, lr, lr_decay):
    """skorch ``optimizer__param_groups`` giving lower layer groups smaller lrs.

    ``layer_patterns`` lists each group's parameter-name patterns, bottom up; the
    top group gets ``lr``, the one below ``lr / lr_decay``, and so on.  Parameters
    matching no pattern (e.g. a classifier head) keep the optimizer's ``lr``.
    """
    groups = []
    n = len(layer_patterns)
    for depth, patterns in enumerate(layer_patterns):
        for pattern in patterns:
            groups.append((pattern, {"lr": lr / lr_decay ** (n - 1 - depth)}))
    return groups


class _NumericsMixin:
    """Training (``partial_fit``, which ``fit`` calls) and ``forward`` run with
    denormals flushed; forward passes run under bf16 autocast when
    ``self.autocast`` is set."""

    def _autocast(self):
        if not getattr(self, "autocast", False):
            return contextlib.nullcontext()
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16)

    @contextlib.contextmanager
    def _flushed(self):
        if getattr(self, "_flushing", False):  # nested call: the outer one restores
            yield
            return
        self._flushing = True
        try:
            with flush_denormals():
                yield
        finally:
            self._flushing = False

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        with self._flushed():
            return super().partial_fit(X, y, classes=classes, **fit_params)

    def forward(self, X, training=False, device="cpu"):
        with self._flushed():
            return super().forward(X, training=training, device=device)


class LanguageModelNet(_NumericsMixin, NeuralNet):
    """A skorch net for a :class:`~ulmfit_sklearn.modules.LanguageModel`.

    Extra parameters: ``alpha`` (AR) and ``beta`` (TAR) regularisation, ``clip``
    (gradient-norm clipping, None for none) and ``autocast``.  X is a
    :class:`~ulmfit_sklearn.training.batching.TokenStream` read by
    :class:`~ulmfit_sklearn.training.batching.LMStreamBatches`.
    """

    def __init__(self, module, *args, alpha=2.0, beta=1.0, clip=0.4, autocast=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.alpha, self.beta, self.clip, self.autocast = alpha, beta, clip, autocast

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        self._lm_state = None  # each pass over the stream starts from a zero state
        return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        state = getattr(self, "_lm_state", None)
        if state is not None and state[0][0].size(1) != x.size(0):
            state = None
        with self._autocast():
            logits, state, raw, dropped = self.module_(x, state)
        self._lm_state = detach_state(state)
        return logits, raw, dropped

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, raw, dropped = y_pred
        y_true = self.module_.output_positions(to_tensor(y_true, device=self.device))
        loss = F.cross_entropy(logits.float().flatten(0, 1), y_true.flatten())
        if training:
            if self.alpha:
                loss = loss + self.alpha * dropped.float().pow(2).mean()
            if self.beta and raw.size(1) > 1:
                loss = loss + self.beta * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        return loss

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.module_.parameters(), self.clip)
        return step

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.history.record_batch("train_tokens", int(batch[0].numel()))
        super().on_batch_end(net, batch=batch, training=training, **kwargs)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self._lm_state = None
        super().on_train_end(net, X=X, y=y, **kwargs)


class ClassifierNet(_NumericsMixin, NeuralNet):
    """A skorch net for a :class:`~ulmfit_sklearn.modules.SequenceClassifier`.

    X is a :class:`~ulmfit_sklearn.training.batching.DocumentDataset` read by
    :class:`~ulmfit_sklearn.training.batching.DocumentBatches`; the module
    returns logits and the criterion takes them (cross-entropy, MSE, ...).
    """

    def __init__(self, module, *args, clip=None, autocast=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.clip, self.autocast = clip, autocast

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        with self._autocast():
            return self.module_(**x, **fit_params).float()

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.module_.parameters(), self.clip)
        return step
