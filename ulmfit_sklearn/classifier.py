"""ULMFiTClassifier: text classification by Universal Language Model Fine-tuning."""

import numbers

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from ._base import AUTO, Targets, ULMFiTBase
from ._compat import Interval, StrOptions, check_score_weight, fit_context
from ._docs import fill_doc


def _check_label_types(y):
    """A ValueError where the labels mix strings and numbers, as scikit-learn's
    ``unique_labels`` raises (numpy would turn the numbers into strings).  Only
    labeled rows are checked: int labels beside a str ``unlabeled_label`` are fine."""
    strings = [v for v in y if isinstance(v, str)]
    if 0 < len(strings) < len(y):
        number = next(v for v in y if not isinstance(v, str))
        raise ValueError(f"Mix of label input types (string and number) in y, e.g. "
                         f"{strings[0]!r} and {number!r}: give every label the same type")


class ULMFiTClassifier(ClassifierMixin, ULMFiTBase):
    """Text classifier by ULMFiT (Howard & Ruder 2018), as a scikit-learn estimator.

    ``fit`` starts from a pretrained AWD-LSTM language model (stage 1, done once,
    shipped in the package), fine-tunes it on the training texts (stage 2) and then
    trains a concat-pooling classifier on top with gradual unfreezing (stage 3).
    Training runs through skorch.

    ``y`` may be one label per document (binary or multiclass: softmax outputs,
    cross-entropy), or a 2-D indicator matrix (multi-label: one sigmoid output per
    column, binary cross-entropy, ``threshold`` decides), as in scikit-learn.

    Parameters
    ----------
{{lm_params}}{{stage3_params}}    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in LogisticRegression.

    validation_fraction : float or None, default=None
        None: all data trains.  A fraction holds out that stratified share of the
        labeled data and stops stage 3 early when its loss stops improving (the best
        epoch's weights are kept).

    unlabeled_label : object, default=None
        Rows whose target equals this value are unlabeled: they join stage 2 only,
        are not classes, and are ignored by ``score``.  None: every row is labeled,
        and a missing label (None, NaN, pandas' NA) is an error.  ``float("nan")``:
        the rows with a missing label are the unlabeled ones.  Labels keep their
        type next to a marker of another type (int labels with ``"u"``).  (Not for
        multi-label ``y``.)

    contrastive_pairs : int, default=0
        SetFit's idea (Tunstall et al. 2022) as a stage between stages 2 and 3: the
        encoder is trained on this many random pairs of labeled texts, half of one
        class and half of two, to make the cosine of their pooled embeddings 1 or 0
        (SetFit's loss), before the classifier is trained on top.  It learns from
        comparisons, which helps most with few labels; 0 skips it.  Single-label
        ``y`` only.

    contrastive_lr : float, default=2e-5
        The contrastive stage's learning rate (every layer; AdamW, linear warm-up
        over a tenth of the steps, then linear decay: SetFit's defaults).

    bidirectional : bool, default=False
        The paper's ensemble (section 3.4): fine-tune a forward and a backward
        classifier, the backward one from the encoder's backward language model
        reading each document right to left, and average their predicted
        probabilities.  Twice the fit and prediction time.  The encoder folder must
        hold a backward model (in its subfolder ``backward/``; ``ulmfit-sklearn
        pretrain --backward`` trains one): otherwise ``fit`` says so.

    threshold : float, default=0.5
        Multi-label only: ``predict`` sets a label where its probability is at
        least this.

{{run_params}}    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the user's own type; for multi-label ``y``, the
        column indices ``0 .. n_labels - 1`` (as scikit-learn's MLPClassifier).
    net_ : DocumentNet
        The fitted skorch net (trimmed for prediction).
    tokenizer_ : tokenizer
        The encoder's tokenizer.
    encoder_sha256_ : str
        Checksum (key) of the encoder that fitting started from.
    history_ : dict
        skorch histories of stage 2 (``"lm"``) and stage 3 (``"classifier"``); with
        ``bidirectional``, also ``"lm_backward"`` and ``"classifier_backward"``.
    net_backward_, tokenizer_backward_, encoder_sha256_backward_ : object
        With ``bidirectional``: the backward classifier's net, tokenizer and
        encoder checksum.
    n_outputs_ : int
        Number of outputs of the network (the number of classes or labels).
    multilabel_ : bool
        Whether ``y`` was a multi-label indicator matrix.

    Examples
    --------
    >>> from ulmfit_sklearn import ULMFiTClassifier  # doctest: +SKIP
    >>> clf = ULMFiTClassifier(random_state=0).fit(texts, labels)  # doctest: +SKIP
    >>> clf.predict(["what a film"])  # doctest: +SKIP
    """

    __doc__ = fill_doc(__doc__)

    _parameter_constraints = {
        **ULMFiTBase._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "unlabeled_label": "no_validation",
        "threshold": [Interval(numbers.Real, 0, 1, closed="neither")],
        "bidirectional": ["boolean"],
        "contrastive_pairs": [Interval(numbers.Integral, 0, None, closed="left")],
        "contrastive_lr": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, pretrained="default", *, lm_epochs=AUTO, lm_lr=AUTO, lm_lr_decay=2.6,
                 lm_drop_mult=0.3, lm_bptt=70, lm_batch_size=AUTO, lm_sampled_softmax=False,
                 unfreeze_epochs=None, lr=AUTO, lr_decay=1.0, stlr_cut_frac=0.1, stlr_ratio=32,
                 stlr=True, drop_mult=0.5, bptt=72, max_len=1440, train_max_len=AUTO,
                 batch_size=AUTO,
                 class_weight=None, validation_fraction=None, unlabeled_label=None, threshold=0.5,
                 bidirectional=False, contrastive_pairs=0, contrastive_lr=2e-5, device="auto",
                 autocast="auto", quantize=False, memory=None, random_state=None, verbose=0):
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
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.unlabeled_label = unlabeled_label
        self.threshold = threshold
        self.bidirectional = bidirectional
        self.contrastive_pairs = contrastive_pairs
        self.contrastive_lr = contrastive_lr
        self.device = device
        self.autocast = autocast
        self.quantize = quantize
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fine-tune the language model on X, then train the classifier on (X, y).

        Parameters
        ----------
        X : iterable of str
            Training documents (and unlabeled ones, see ``unlabeled_label``).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels of one type (str, int, bool, ...: strings mixed with
            numbers are an error, as in scikit-learn), or a 0/1 indicator matrix
            for multi-label classification.

        Returns
        -------
        self : ULMFiTClassifier
            The fitted estimator.
        """
        return self._fit(X, y)

    def _training_targets(self, texts, y):
        if np.ndim(y) == 2 and np.shape(y)[1] > 1:
            return self._multilabel_targets(texts, y)
        y = self._targets(y, len(texts))
        labeled = self._labeled_mask(y)
        y_lab = y[labeled]
        if y_lab.dtype == object:  # e.g. ints mixed with a str unlabeled marker
            _check_label_types(y_lab)
            y_lab = np.asarray(y_lab.tolist())
        if len(y_lab) == 0:
            raise ValueError("y has no labeled rows: every target equals unlabeled_label")
        check_classification_targets(y_lab)
        classes, y_enc = np.unique(y_lab, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"the labeled data has {len(classes)} class ({classes!r}); a classifier needs "
                "at least two")
        kwargs = None
        if self.class_weight is not None:
            w = compute_class_weight(self.class_weight, classes=classes, y=y_lab)
            kwargs = {"weight": torch.tensor(w, dtype=torch.float32)}
        return Targets(y_enc.astype(np.int64), len(classes), torch.nn.CrossEntropyLoss, labeled,
                       kwargs, attrs={"classes_": classes, "n_outputs_": len(classes),
                                      "multilabel_": False})

    def _multilabel_targets(self, texts, y):
        y = np.asarray(y)
        if len(y) != len(texts):
            raise ValueError(f"X and y have different lengths: {len(texts)} documents, {len(y)} targets")
        if type_of_target(y) != "multilabel-indicator":
            raise ValueError("a 2-D y must be a multi-label indicator matrix of 0 and 1 "
                             f"(got {type_of_target(y)!r}); for one label per row pass a 1-D y")
        if self.class_weight is not None or self.unlabeled_label is not None:
            raise ValueError("class_weight and unlabeled_label are not supported with multi-label y")
        return Targets(y.astype(np.float32), y.shape[1], torch.nn.BCEWithLogitsLoss, stratify=False,
                       attrs={"classes_": np.arange(y.shape[1]), "n_outputs_": y.shape[1],
                              "multilabel_": True})

    def _class_scores(self, X):
        """Per-class scores whose argmax is the prediction: the logits, or with
        ``bidirectional`` the log of the two directions' averaged probabilities."""
        if len(self._fitted_directions()) == 1:
            return self._forward(X)
        log_p = self.predict_log_proba(X)
        if self.multilabel_:  # the logit of the averaged probability
            return log_p - np.log(-np.expm1(np.minimum(log_p, -1e-12)))
        return log_p

    def decision_function(self, X):
        """Confidence scores of the documents, as scikit-learn's classifiers give them.

        Parameters
        ----------
        X : iterable of str
            Documents.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary ``y``: the score of ``classes_[1]``, the difference of the two
            logits (positive where ``classes_[1]`` is predicted), so that
            ``roc_auc_score(y, clf.decision_function(X))`` works.  Multiclass:
            the logit of each class.  Multi-label: the logit of each label
            (positive where the label's probability is above 0.5).  With
            ``bidirectional``, log-probabilities of the averaged probabilities
            take the logits' place.
        """
        scores = self._class_scores(X)
        if not self.multilabel_ and scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`."""
        log_ps = []
        for direction in self._fitted_directions():
            logits = torch.from_numpy(self._forward(X, direction)).double()
            log_ps.append((torch.nn.functional.logsigmoid(logits) if self.multilabel_
                           else torch.log_softmax(logits, dim=1)).numpy())
        if len(log_ps) == 1:
            return log_ps[0]
        return np.logaddexp.reduce(log_ps, axis=0) - np.log(len(log_ps))  # averaged probabilities

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes): rows sum to 1; for
        multi-label ``y``, each column is that label's probability.  With
        ``bidirectional``, the mean of the forward and backward classifiers'."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The most probable class of each document, in the labels' own type; for
        multi-label ``y``, an indicator matrix of the labels whose probability is
        at least ``threshold``."""
        check_is_fitted(self, "net_")
        if self.multilabel_:
            return (self.predict_proba(X) >= self.threshold).astype(np.int64)
        return self.classes_[np.argmax(self._class_scores(X), axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy on (X, y) (for multi-label ``y``, of whole label sets); rows
        labeled ``unlabeled_label`` are ignored.

        Parameters
        ----------
        X : iterable of str
            Documents.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the documents.

        Returns
        -------
        score : float
            The (weighted) accuracy.
        """
        check_is_fitted(self, "net_")
        texts = self._texts(X, reset=False)
        sample_weight = check_score_weight(sample_weight, len(texts))
        if self.multilabel_:
            return accuracy_score(np.asarray(y), self.predict(texts), sample_weight=sample_weight)
        y = self._targets(y, len(texts))
        keep = self._labeled_mask(y)
        if sample_weight is not None:
            sample_weight = sample_weight[keep]
        texts = [t for t, k in zip(texts, keep) if k]
        return accuracy_score(y[keep], self.predict(texts), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # y may be an indicator matrix
        return tags
