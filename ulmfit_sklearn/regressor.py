"""ULMFiTRegressor: text regression (e.g. a review's rating) by ULMFiT."""

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._base import AUTO, Targets, ULMFiTBase
from ._compat import check_score_weight, fit_context
from ._docs import fill_doc


class ULMFiTRegressor(RegressorMixin, ULMFiTBase):
    """Text regressor by ULMFiT (Howard & Ruder 2018), as a scikit-learn estimator.

    The stages of :class:`~ulmfit_sklearn.ULMFiTClassifier` with a regression head:
    the encoder's language model is fine-tuned on the training texts (stage 2), then
    the concat-pooling head is trained with mean squared error and gradual
    unfreezing (stage 3).  The targets are standardised for training (so the
    learning rates do not depend on their scale) and predictions are returned in
    the targets' own units.

    Parameters
    ----------
{{lm_params}}{{stage3_params}}    validation_fraction : float or None, default=None
        None: all data trains.  A fraction holds out that random share of the data
        and stops stage 3 early when its loss stops improving (the best epoch's
        weights are kept).

{{run_params}}    Attributes
    ----------
    n_outputs_ : int
        Number of targets (1 for a 1-D ``y``).
    y_mean_, y_scale_ : ndarray of shape (n_targets,)
        Mean and standard deviation of the training targets; the network learns the
        standardised targets (a constant target, of scale 0, is predicted exactly).
    net_ : DocumentNet
        The fitted skorch net (trimmed for prediction).
    tokenizer_ : tokenizer
        The tokenizer (with the vocabulary the fit extended).
    encoder_sha256_ : str
        Checksum (key) of the encoder that fitting started from.
    history_ : dict
        skorch histories of stage 2 (``"lm"``) and stage 3 (``"classifier"``).

    Examples
    --------
    >>> from ulmfit_sklearn import ULMFiTRegressor  # doctest: +SKIP
    >>> reg = ULMFiTRegressor(random_state=0).fit(reviews, stars)  # doctest: +SKIP
    >>> reg.predict(["what a film"])  # doctest: +SKIP
    """

    __doc__ = fill_doc(__doc__)

    def __init__(self, pretrained="default", *, lm_epochs=AUTO, lm_lr=AUTO, lm_lr_decay=2.6,
                 lm_drop_mult=0.3, lm_bptt=70, lm_batch_size=AUTO, lm_sampled_softmax=False,
                 unfreeze_epochs=None, lr=AUTO, lr_decay=1.0, stlr_cut_frac=0.1, stlr_ratio=32,
                 stlr=True, drop_mult=0.5, bptt=72, max_len=1440, train_max_len=AUTO,
                 batch_size=AUTO,
                 validation_fraction=None, device="auto", autocast="auto", quantize=False,
                 memory=None, random_state=None, verbose=0):
        self.pretrained = pretrained
        self.lm_epochs = lm_epochs
        self.lm_lr = lm_lr
        self.lm_lr_decay = lm_lr_decay
        self.lm_drop_mult = lm_drop_mult
        self.lm_bptt = lm_bptt
        self.lm_batch_size = lm_batch_size
        self.lm_sampled_softmax = lm_sampled_softmax
        self.unfreeze_epochs = unfreeze_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.stlr_cut_frac = stlr_cut_frac
        self.stlr_ratio = stlr_ratio
        self.stlr = stlr
        self.drop_mult = drop_mult
        self.bptt = bptt
        self.max_len = max_len
        self.train_max_len = train_max_len
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.device = device
        self.autocast = autocast
        self.quantize = quantize
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    def _regression_targets(self, y, n):
        if y is None:
            raise ValueError("y is required: this estimator is supervised")
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("y must be numeric for a regressor") from None
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        if len(y) != n:
            raise ValueError(f"X and y have different lengths: {n} documents, {len(y)} targets")
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        return y

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune the language model on X, then train the regressor on (X, y).

        Parameters
        ----------
        X : iterable of str
            Training documents.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Numeric targets.

        Returns
        -------
        self : ULMFiTRegressor
            The fitted estimator.
        """
        return self._fit(X, y)

    def _training_targets(self, texts, y):
        y = self._regression_targets(y, len(texts))
        y2 = y.reshape(len(y), -1)
        mean, scale = y2.mean(0), y2.std(0)
        standard = (y2 - mean) / np.where(scale > 0, scale, 1.0)
        return Targets(standard.astype(np.float32), y2.shape[1], torch.nn.MSELoss, stratify=False,
                       attrs={"y_mean_": mean, "y_scale_": scale, "n_outputs_": y2.shape[1],
                              "y_ndim_": y.ndim})

    def predict(self, X):
        """Predicted targets, shape (n_samples,) or (n_samples, n_targets) as ``y`` was."""
        check_is_fitted(self, "net_")
        out = self._forward(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out.ravel() if self.y_ndim_ == 1 else out

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of the predictions on (X, y).

        Parameters
        ----------
        X : iterable of str
            Documents.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the documents.

        Returns
        -------
        score : float
            R² of ``self.predict(X)`` (averaged uniformly over several targets,
            as :meth:`sklearn.base.RegressorMixin.score`).
        """
        check_is_fitted(self, "net_")
        texts = self._texts(X, reset=False)
        sample_weight = check_score_weight(sample_weight, len(texts))
        return super().score(texts, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y may have several columns
        tags.target_tags.single_output = True
        return tags
