"""skorch nets for ULMFiT's language-model and classifier training.

Training runs through skorch's own loop (``fit`` / ``partial_fit``, callbacks,
history); these subclasses only add what the AWD-LSTM needs:

* :class:`LanguageModelNet` carries the LSTM state from batch to batch (the state
  lives in the net during a pass, never in the module), and adds AR/TAR
  activation regularisation to the loss;
* :class:`DocumentNet` runs a module over padded batches of whole documents:
  stage 3's classifiers, the masked LM of a BERT's stage 2, and the feature
  modules of prediction.

Both can run under bf16 autocast (``autocast=True``), both treat denormal floats
as zero while they train or predict
(:func:`~ulmfit_sklearn.training.numerics.flush_denormals`), and both build
discriminative learning rates as optimizer parameter groups with
:func:`discriminative_param_groups`.

skorch ends training quietly on a ``KeyboardInterrupt``, which its callbacks
(``EarlyStopping``) and ours (the range test's stopper, pretraining's time limit)
raise to stop early.  A Ctrl-C of the user is something else: both nets re-raise
it after skorch's clean-up, so that a fit that was cut short never passes for a
finished one (see :func:`user_interrupts`).
"""

import contextlib
import signal
import threading

import torch
import torch.nn.functional as F
from skorch import NeuralNet
from skorch.utils import to_tensor

from ..models.awd_lstm import detach_state
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


@contextlib.contextmanager
def user_interrupts():
    """Note whether the user pressed Ctrl-C (SIGINT) while the block runs.

    Yields a dict whose ``"interrupted"`` turns True on a SIGINT; the signal is
    then handled as before (Python's default raises ``KeyboardInterrupt``).  Only
    the main thread receives signals, so elsewhere nothing is installed.
    """
    seen = {"interrupted": False}
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield seen
        return

    def handler(signum, frame):
        seen["interrupted"] = True
        previous(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


class _NumericsMixin:
    """Training (``partial_fit``, which ``fit`` calls) and ``forward`` run with
    denormals flushed; forward passes run under bf16 autocast when
    ``self.autocast`` is set.  A Ctrl-C during training is re-raised after
    skorch's ``on_train_end`` (skorch itself swallows it)."""

    def _autocast(self):
        if not getattr(self, "autocast", False):
            return contextlib.nullcontext()
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16)

    def _flushed(self):
        # on a GPU the CPU's mode changes nothing; flush_denormals nests and is per thread
        if str(self.device).startswith("cuda"):
            return contextlib.nullcontext()
        return flush_denormals()

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        with self._flushed(), user_interrupts() as seen:
            super().partial_fit(X, y, classes=classes, **fit_params)
        if seen["interrupted"]:
            raise KeyboardInterrupt("training was interrupted")
        return self

    def forward(self, X, training=False, device="cpu"):
        with self._flushed():
            return super().forward(X, training=training, device=device)


class LanguageModelNet(_NumericsMixin, NeuralNet):
    """A skorch net for a :class:`~ulmfit_sklearn.models.awd_lstm.LanguageModel`.

    Extra parameters: ``alpha`` (AR) and ``beta`` (TAR) regularisation,
    ``autocast`` and ``sampled_log_q``.  X is a
    :class:`~ulmfit_sklearn.training.batching.TokenStream` read by
    :class:`~ulmfit_sklearn.training.batching.LMStreamBatches`.

    ``sampled_log_q`` (a float tensor over the vocabulary, or None) makes each
    training step's softmax cover only the token ids among that batch's targets
    (in-batch sampled softmax, with the logQ correction of Bengio & Senecal:
    ``sampled_log_q[i]`` is the log-probability that id ``i`` is among a batch's
    targets, see :func:`batch_inclusion_log_q`).  On a 30k vocabulary a batch of
    64 x 70 tokens holds ~2k distinct ids, so the softmax, most of a step's cost,
    shrinks ~15 times.  Validation and prediction keep the full softmax.
    """

    def __init__(self, module, *args, alpha=2.0, beta=1.0, autocast=False, sampled_log_q=None,
                 **kwargs):
        super().__init__(module, *args, **kwargs)
        self.alpha, self.beta, self.autocast = alpha, beta, autocast
        self.sampled_log_q = sampled_log_q

    def train_step_single(self, batch, **fit_params):
        if self.sampled_log_q is None:
            return super().train_step_single(batch, **fit_params)
        lm, kept = self.module_, self.module_.output_ids
        lm.restrict_output(torch.unique(batch[1]))
        try:
            return super().train_step_single(batch, **fit_params)
        finally:
            lm.output_ids = kept

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
        if training and self.sampled_log_q is not None:
            ids = self.module_.output_ids
            logits = logits.float() - self.sampled_log_q.to(logits.device)[ids]
        y_true = self.module_.output_positions(to_tensor(y_true, device=self.device))
        loss = F.cross_entropy(logits.float().flatten(0, 1), y_true.flatten())
        if training:
            if self.alpha:
                loss = loss + self.alpha * dropped.float().pow(2).mean()
            if self.beta and raw.size(1) > 1:
                loss = loss + self.beta * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        return loss

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.history.record_batch("train_tokens", int(batch[0].numel()))
        super().on_batch_end(net, batch=batch, training=training, **kwargs)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self._lm_state = None
        super().on_train_end(net, X=X, y=y, **kwargs)


def batch_inclusion_log_q(counts, batch_tokens):
    """Log-probability that each token id is among the targets of a batch of
    ``batch_tokens`` tokens drawn from unigram ``counts`` (``1 - (1 - p)^n``): the
    correction of :class:`LanguageModelNet`'s in-batch sampled softmax."""
    p = torch.as_tensor(counts, dtype=torch.float64) / max(1, float(sum(counts)))
    q = -torch.expm1(batch_tokens * torch.log1p(-p.clamp(max=1 - 1e-12)))
    return torch.log(q.clamp(min=1e-30)).float()


class DocumentNet(_NumericsMixin, NeuralNet):
    """A skorch net for a module over padded batches of documents: stage 3's
    classifiers (:class:`~ulmfit_sklearn.models.heads.SequenceClassifier`, ...), a
    BERT's masked LM in stage 2, and the feature modules that only predict.

    X is a :class:`~ulmfit_sklearn.training.batching.DocumentDataset` read by
    :class:`~ulmfit_sklearn.training.batching.DocumentBatches` (or
    :class:`~ulmfit_sklearn.training.batching.MaskedWindowBatches`); each batch is
    the module's keyword arguments, its output the criterion's input (logits and
    cross-entropy, outputs and MSE, ...).
    """

    def __init__(self, module, *args, autocast=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.autocast = autocast

    def infer(self, x, **fit_params):
        x = to_tensor(x, device=self.device)
        with self._autocast():
            return self.module_(**x, **fit_params).float()


#: The old name of :class:`DocumentNet` (it trains more than classifiers), kept for old
#: code and pickles.
ClassifierNet = DocumentNet
