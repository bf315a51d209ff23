"""What every ULMFiT estimator shares: parameters, input checks, the encoder, the
LM fine-tuning stage (with its cache) and the classifier-stage net."""

import numbers
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, check_memory

from . import __version__
from .encoders import (Encoder, extend_vocabulary, load_encoder, lm_state_dict, new_words,
                       random_encoder)
from .modules import CLAS_DROPOUT, LM_DROPOUT, SequenceClassifier, scaled_dropout
from .text import encode_texts
from .training.batching import DocumentDataset, TokenStream
from .training.stages import make_classifier_net, make_lm_net

AUTO = "auto"

_LM_PARAMS = """\
    pretrained : str, path or None, default="default"
        The encoder to start from: the name of a bundled encoder (``"default"`` is
        the package's default), a path to an encoder folder (see
        :mod:`ulmfit_sklearn.encoders`), or None for a randomly initialised encoder
        of the default's shape and tokenizer (the paper's "no pretraining" ablation).

    lm_epochs : int, default=1
        Epochs of target-task language-model fine-tuning (stage 2); 0 skips it.

    lm_lr : float, default=5e-3
        Peak learning rate of stage 2 for the top layer group.

    lm_drop_mult : float, default=0.3
        Multiplier of the language model's dropout probabilities in stage 2
        (fastai's LM dropouts: embedding 0.02, input 0.25, weight 0.2, hidden 0.15,
        output 0.1).

    lm_lr_decay : float, default=2.6
        Discriminative fine-tuning in stage 2: each layer group's learning rate is
        the one above divided by ``lm_lr_decay``.  (Stage 2's STLR has the paper's
        shape: cut_frac 0.1, ratio 32.)

    lm_bptt : int, default=70
        Mean length of the language model's training windows.

    lm_batch_size : int or "auto", default="auto"
        Number of parallel rows the token stream is cut into in stage 2.  "auto":
        32, fewer on small data so that an epoch has at least about 25 windows
        (``min(32, max(4, n_tokens // (25 * lm_bptt)))``).

"""

_STAGE3_PARAMS = """\
    unfreeze_epochs : sequence of int or None, default=None
        Epochs of each gradual-unfreezing stage of stage 3.  The first stage trains
        the head only; each further stage unfreezes one more layer group from the
        top (the embedding goes with the lowest LSTM layer); the last stage always
        trains everything.  ``(1, 2)`` is head then all, ``(3,)`` is no gradual
        unfreezing, zeros skip a stage.  None: the paper's schedule, one epoch per
        stage and two for the last (``(1, 1, 1, 2)`` for a 3-layer encoder).

    lr : float, default=2e-2
        Peak learning rate of stage 3's first stage (for the head).  As in fastai's
        recipe, stage k (0-based) peaks at ``lr / 2**k`` and the final all-layers
        stage at ``lr / 20`` (``lr`` itself when it is the only stage).

    lr_decay : float, default=1.0
        Discriminative fine-tuning in stage 3: each layer group gets the learning
        rate of the group above divided by ``lr_decay``; the paper's value is 2.6.
        The default 1.0 (every group at the stage's rate) measured better with the
        bundled encoder: lower validation error on IMDb, TREC-6, SST-2 and AG News
        in 10 of 11 runs at n = 1,000 (docs/benchmarks.md, schedule search); this
        small, CPU-pretrained encoder's lower layers need to move as much as the top.
        Try 2.6 with a stronger encoder (e.g. fastai's WT103).  Stage 2 keeps the
        paper's 2.6 (``lm_lr_decay``).

    stlr_cut_frac : float, default=0.1
        Fraction of each STLR cycle spent increasing the learning rate.

    stlr_ratio : float, default=32
        How much smaller the lowest STLR learning rate is than the peak.

    stlr : bool, default=True
        Use slanted triangular learning rates in stage 3; False keeps each stage's
        peak learning rate constant (the paper's "no STLR" ablation).

    drop_mult : float, default=0.5
        Multiplier of the classifier's dropout probabilities (fastai's classifier
        dropouts: embedding 0.05, input 0.4, weight 0.5, hidden 0.3, head 0.4 and
        0.1).

    bptt : int, default=72
        Chunk length of BPT3C: documents are read ``bptt`` tokens at a time with
        the LSTM state carried across chunks.

    max_len : int, default=1440
        Pooling and gradients cover each document's last ``max_len`` tokens;
        earlier chunks only carry the state (no gradient), so memory stays bounded
        for long documents.

    batch_size : int or "auto", default="auto"
        Documents per batch in stage 3.  "auto": ``min(32, max(8, n // 25))`` for
        ``n`` labeled documents, so that small data sets still get enough
        optimizer steps.

"""

_RUN_PARAMS = """\
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" takes CUDA when available.

    autocast : bool, default=False
        Run forward passes under bf16 autocast.  On this project's development
        CPU (an Intel Xeon, torch 2.13) bf16 LSTMs ran slower than fp32, hence
        off by default; useful on GPUs and on CPUs with fast bf16.

    memory : str, path, joblib.Memory or None, default=None
        Cache for the fine-tuned language model of stage 2, so that a grid search
        over stage-3 parameters runs stage 2 once per training fold.  Keyed by the
        texts, the ``lm_`` parameters (and ``autocast``), the encoder's checksum,
        the (int) ``random_state`` and the package version.  Stage 2 depends on
        nothing else.

    random_state : int, RandomState instance or None, default=None
        Seed of the fit (initialisation, dropout, batch order).  The same int gives
        identical predictions on CPU.  The global torch and numpy generators are
        left as they were.

    verbose : int, default=0
        0 is silent; 1 prints skorch's epoch tables and progress bars.

"""

#: Parameter descriptions shared by the estimators' docstrings (see :func:`fill_doc`).
PARAM_DOCS = {"lm_params": _LM_PARAMS, "stage3_params": _STAGE3_PARAMS, "run_params": _RUN_PARAMS}


def fill_doc(doc):
    """Put the shared parameter descriptions into a docstring's ``{{name}}`` slots."""
    for name, text in PARAM_DOCS.items():
        doc = doc.replace("{{%s}}" % name, text)
    return doc


def validate_texts(X, name="X"):
    """Return X as a list of str, or raise a clear error (as CountVectorizer does)."""
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"Iterable over raw text documents expected, {type(X).__name__} object received.")
    if hasattr(X, "ndim") and getattr(X, "ndim") != 1:
        if not (getattr(X, "ndim") == 2 and X.shape[1] == 1):
            raise ValueError(f"{name} must be a 1-D sequence of strings, got shape {X.shape}")
        X = np.asarray(X).ravel()
    try:
        texts = list(X)
    except TypeError:
        raise TypeError(f"{name} must be an iterable of strings, got {type(X).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(
                f"{name} must contain only strings; item {i} is {type(t).__name__} ({t!r:.50})")
    return texts


def _has_nan(y):
    if y.dtype.kind == "f":
        return bool(np.isnan(y).any())
    if y.dtype.kind == "O":
        return any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y)
    return False


@contextmanager
def seeded(seed, device):
    """Seed torch for a fit without touching the caller's global generators."""
    devices = [torch.device(device).index or 0] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@dataclass
class Targets:
    """What stage 3 trains on, as an estimator's ``_training_targets`` makes it."""

    #: targets of the labeled rows, as the network's loss takes them
    y: np.ndarray
    n_out: int
    criterion: type
    #: which texts are labeled (None: all)
    labeled: np.ndarray = None
    criterion_kwargs: dict = None
    #: stratify a validation split by ``y``
    stratify: bool = True
    #: fitted attributes to set once training succeeded
    attrs: dict = field(default_factory=dict)


def finetune_language_model(encoder, docs, *, epochs, lr, lr_decay, drop_mult, bptt, batch_size,
                            cut_frac, ratio, seed, device, autocast, verbose, lr_range=None):
    """Stage 2: fine-tune the encoder's language model on ``docs`` (token ids).

    The softmax covers only the token ids that ``docs`` contain (fastai's
    target-task vocabulary): on 1,000 IMDb reviews that is 16k of 34k ids, and
    training steps take about 70 % of the time.
    Returns the fine-tuned state dict (fp32, CPU) and the skorch history.
    ``lr_range`` runs a learning-rate range test instead (see ``make_lm_net``).
    """
    stream = TokenStream(docs)
    if batch_size == AUTO:  # at least ~25 windows per epoch on small data
        batch_size = int(min(32, max(4, len(stream) // (bptt * 25))))
    with seeded(seed, device):
        lm = encoder.build_module(**scaled_dropout(LM_DROPOUT, drop_mult))
        lm.restrict_output(np.unique(stream.stream()))
        net = make_lm_net(lm, stream, epochs=epochs, lr=lr, lr_decay=lr_decay,
                          batch_size=batch_size, bptt=bptt, cut_frac=cut_frac, ratio=ratio,
                          seed=seed, device=device, autocast=autocast, verbose=verbose,
                          lr_range=lr_range)
        net.fit(stream, None)
    return lm_state_dict(net.module_), net.history.to_list()


def _cached_finetune(texts, encoder_key, lm_params, seed, version, *, encoder, docs, device, verbose):
    """The memory-cached entry of stage 2; the cache key is every argument but the
    keyword-only ones (texts, encoder checksum, lm_ parameters, seed, version)."""
    return finetune_language_model(encoder, docs, seed=seed, device=device, verbose=verbose,
                                   **lm_params)


class InconsistentVersionWarning(UserWarning):
    """A fitted estimator is loaded by another ulmfit-sklearn version than saved it."""

    def __init__(self, saved, current):
        self.saved, self.current = saved, current
        super().__init__(
            f"this estimator was saved by ulmfit-sklearn {saved} and is loaded by version "
            f"{current}: it may fail or predict differently; refit it, or install {saved}")


class ULMFiTBase(BaseEstimator):
    """Shared machinery of the ULMFiT estimators (not for direct use)."""

    def __getstate__(self):
        return dict(super().__getstate__(), _ulmfit_sklearn_version=__version__)

    def __setstate__(self, state):
        saved = state.pop("_ulmfit_sklearn_version", "unknown (before 0.1.0)")
        if saved != __version__:
            warnings.warn(InconsistentVersionWarning(saved, __version__), stacklevel=2)
        super().__setstate__(state)

    _parameter_constraints = {
        "pretrained": [str, os.PathLike, Encoder, None],
        "lm_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lm_lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lm_drop_mult": [Interval(numbers.Real, 0, None, closed="left")],
        "lm_bptt": [Interval(numbers.Integral, 2, None, closed="left")],
        "lm_batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({AUTO})],
        "lm_lr_decay": [Interval(numbers.Real, 1, None, closed="left")],
        "unfreeze_epochs": ["array-like", None],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_decay": [Interval(numbers.Real, 1, None, closed="left")],
        "stlr_cut_frac": [Interval(numbers.Real, 0, 1, closed="right")],
        "stlr_ratio": [Interval(numbers.Real, 1, None, closed="left")],
        "stlr": ["boolean"],
        "drop_mult": [Interval(numbers.Real, 0, None, closed="left")],
        "bptt": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_len": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left"), StrOptions({AUTO})],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "device": [StrOptions({"auto", "cpu", "cuda"}), str],
        "autocast": ["boolean"],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _reset(self):
        """Forget what an earlier fit learned, so a failing fit leaves no mix of old
        and new state."""
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)

    # ------------------------------------------------------------------ params
    def _check_params(self):
        self._validate_params()
        if getattr(self, "unfreeze_epochs", None) is not None:
            epochs = np.asarray(self.unfreeze_epochs)
            if epochs.ndim != 1 or len(epochs) == 0 or epochs.dtype.kind not in "iu" or (epochs < 0).any():
                raise ValueError("unfreeze_epochs must be a non-empty sequence of non-negative "
                                 f"ints, got {self.unfreeze_epochs!r}")
            if epochs.sum() == 0:
                raise ValueError("unfreeze_epochs must train at least one epoch")

    def _stage_epochs(self, encoder):
        """The gradual-unfreezing schedule: given, or the paper's for this depth."""
        n_groups = encoder.config["n_layers"]
        if self.unfreeze_epochs is None:
            return [1] * n_groups + [2]
        epochs = [int(e) for e in self.unfreeze_epochs]
        if len(epochs) > n_groups + 1:
            raise ValueError(
                f"unfreeze_epochs has {len(epochs)} stages, but this encoder has {n_groups} "
                f"layer groups, so at most {n_groups + 1} stages (head first, then one more "
                "group per stage)")
        return epochs

    def _device(self):
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def _seed(self):
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    # ------------------------------------------------------------------ data
    def _texts(self, X, reset):
        texts = validate_texts(X)
        if reset and len(texts) == 0:
            raise ValueError("X is empty: fit needs at least one document")
        return texts

    def _targets(self, y, n):
        if y is None:
            raise ValueError("y is required: this estimator is supervised")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        if len(y) != n:
            raise ValueError(f"X and y have different lengths: {n} documents, {len(y)} targets")
        if _has_nan(y):
            raise ValueError("y contains NaN or None")
        return y

    def _labeled_mask(self, y):
        if self.unlabeled_label is None:
            return np.ones(len(y), dtype=bool)
        return np.asarray([not _equal(v, self.unlabeled_label) for v in y], dtype=bool)

    # ------------------------------------------------------------------ encoder
    def _load_encoder(self, seed):
        """The encoder to start from, and a key that identifies it for the cache."""
        if self.pretrained is None:
            base = load_encoder("default")
            shape = {k: base.config[k] for k in ("emb_size", "hidden_size", "n_layers")}
            enc = random_encoder(base.tokenizer, seed=seed, **shape)
            return enc, f"random:{base.sha256}:{seed}"
        enc = load_encoder(self.pretrained)
        return enc, enc.sha256

    def _lm_params(self):
        """Everything that configures stage 2: the ``lm_`` parameters (and autocast,
        which changes its numerics).  STLR keeps the paper's shape in stage 2."""
        return dict(epochs=self.lm_epochs, lr=self.lm_lr, lr_decay=self.lm_lr_decay,
                    drop_mult=self.lm_drop_mult, bptt=self.lm_bptt, batch_size=self.lm_batch_size,
                    cut_frac=0.1, ratio=32, autocast=self.autocast)

    def _finetune(self, encoder, encoder_key, texts, docs, seed, device):
        """Stage 2, through the ``memory`` cache when one is given."""
        if self.lm_epochs == 0:
            return dict(encoder.state_dict), []
        memory = check_memory(self.memory)
        cacheable = memory.location is not None
        if cacheable and not isinstance(self.random_state, numbers.Integral):
            warnings.warn("memory is set but random_state is not an int: the fine-tuned "
                          "language model is not cached", UserWarning, stacklevel=3)
            cacheable = False
        if cacheable and encoder_key is None:
            warnings.warn("memory is set but the encoder has no checksum (unsaved): the "
                          "fine-tuned language model is not cached", UserWarning, stacklevel=3)
            cacheable = False
        fn = _cached_finetune
        if cacheable:
            fn = memory.cache(_cached_finetune, ignore=["encoder", "docs", "device", "verbose"])
        return fn(texts, encoder_key, self._lm_params(), seed, __version__,
                  encoder=encoder, docs=docs, device=device, verbose=self.verbose)

    def _batch_size(self, n):
        if self.batch_size == AUTO:
            return int(min(32, max(8, n // 25)))
        return int(self.batch_size)

    # ------------------------------------------------------------------ stages
    def _language_model(self, encoder, key, texts, seed, device):
        """Stage 2: ``encoder`` (from :meth:`_load_encoder`) fine-tuned on ``texts``,
        through the cache.

        Returns (encoder with the fine-tuned weights, its vocabulary extended by every
        word of its vectors if it has some; token ids of ``texts``; stage-2 history).
        """
        encoder = extend_vocabulary(encoder, new_words(encoder, texts))  # word vocabularies only
        docs = encode_texts(encoder.tokenizer, texts)
        lm_state, lm_history = self._finetune(encoder, key, texts, docs, seed, device)
        tuned = Encoder(encoder.config, lm_state, encoder.tokenizer, encoder.metadata,
                        encoder.path, encoder.vectors)
        if tuned.vectors is not None:  # later stages also know words only test texts have
            tuned = extend_vocabulary(tuned, tuned.vectors[0])
        return tuned, docs, lm_history

    def _fit(self, X, y):
        """The estimators' ``fit``: validate, run stages 2 and 3, set the attributes."""
        self._check_params()
        texts = self._texts(X, reset=True)
        targets = self._training_targets(texts, y)
        self._reset()
        self._fit_ulmfit(texts, targets)
        for name, value in targets.attrs.items():
            setattr(self, name, value)
        return self

    def _training_targets(self, texts, y):
        """Validate ``y`` into :class:`Targets` (each estimator defines it)."""
        raise NotImplementedError

    def _classifier_net(self, tuned, docs, targets, stage_epochs, seed, device, lr_range=None):
        """The stage-3 net over ``tuned``'s encoder and the labeled ``docs``."""
        ps = (CLAS_DROPOUT["output"] * self.drop_mult, 0.1 * self.drop_mult)
        awd = tuned.build_module().encoder
        awd.set_dropout(**scaled_dropout(CLAS_DROPOUT, self.drop_mult))
        module = SequenceClassifier(awd, targets.n_out, bptt=self.bptt, max_len=self.max_len,
                                    ps=tuple(min(p, 0.99) for p in ps))
        return make_classifier_net(
            module, n_train=len(docs), stage_epochs=stage_epochs, lr=self.lr,
            lr_decay=self.lr_decay, batch_size=self._batch_size(len(docs)),
            cut_frac=self.stlr_cut_frac, ratio=self.stlr_ratio, constant_lr=not self.stlr,
            criterion=targets.criterion, criterion_kwargs=targets.criterion_kwargs, seed=seed,
            device=device, autocast=self.autocast,
            validation_fraction=None if lr_range else self.validation_fraction,
            stratify=targets.y if targets.stratify else None, pad_idx=tuned.tokenizer.pad_id,
            verbose=self.verbose, lr_range=lr_range)

    def _labeled_docs(self, docs, targets):
        if targets.labeled is None:
            return docs
        return [d for d, m in zip(docs, targets.labeled) if m]

    def _fit_ulmfit(self, texts, targets):
        """Run stages 2 and 3: all ``texts`` feed stage 2, the labeled ones stage 3."""
        seed = self._seed()
        device = self._device()
        encoder, key = self._load_encoder(seed)
        stage_epochs = self._stage_epochs(encoder)
        tuned, docs, lm_history = self._language_model(encoder, key, texts, seed, device)
        lab_docs = self._labeled_docs(docs, targets)
        with seeded(seed, device):
            net = self._classifier_net(tuned, lab_docs, targets, stage_epochs, seed, device)
            net.fit(DocumentDataset(lab_docs, targets.y), targets.y)
        self.history_ = {"lm": lm_history, "classifier": net.history.to_list()}
        net.trim_for_prediction()
        self.net_ = net
        self.tokenizer_ = tuned.tokenizer
        self.encoder_sha256_ = key
        return self

    def _forward(self, X):
        """Raw outputs (logits) of the fitted net, in input order, as numpy."""
        check_is_fitted(self, "net_")
        texts = validate_texts(X)
        if not texts:
            return np.zeros((0, self.net_.module_.n_out), dtype=np.float32)
        docs = encode_texts(self.tokenizer_, texts)
        order = np.argsort([-len(d) for d in docs], kind="stable")  # similar lengths batch together
        with torch.inference_mode():
            out = self.net_.forward(DocumentDataset([docs[i] for i in order])).float().numpy()
        result = np.empty_like(out)
        result[order] = out
        return result

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
