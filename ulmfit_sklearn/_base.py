"""What every ULMFiT estimator shares: parameters, input checks, the encoder, and
the one path through stages 2 and 3 (:meth:`ULMFiTBase._run_stages`) that every
estimator's ``fit`` and :func:`~ulmfit_sklearn.diagnostics.lr_find` take."""

import numbers
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, check_memory

from . import persistence
from ._compat import Interval, StrOptions
from ._version import __version__
from .encoders import (AWD_LSTM_ENCODER, Encoder, alias_vector_words, extend_vocabulary,
                       load_encoder, nearest_vocabulary_words, new_words)
from .encoders.awd_lstm import random_encoder_like
from .encoders.format import DIRECTIONS, direction_suffix, read_in_direction
from .exceptions import InconsistentVersionWarning  # noqa: F401  (re-exported: its home was here)
from .exceptions import ModelFileError, check_version
from .families import FAMILIES
from .text import encode_texts, fix_surrogates
from .training.batching import DocumentDataset, head_tails
from .training.contrastive import train_contrastive
from .training.numerics import int8_copy, native_bf16
from .training.stages import (AUTO, PREDICT_TOKENS, auto_batch_size, last_stage_floor,
                              make_inference_net, seeded, train_classifier)



class _ByFamily(Mapping):
    """An attribute of every encoder family, by family name: read-only views of the
    families (:mod:`ulmfit_sklearn.families`) under the names of the tables that
    this module held before them."""

    def __init__(self, attribute):
        self.attribute = attribute

    def __getitem__(self, name):
        return getattr(FAMILIES[name], self.attribute)

    def __iter__(self):
        return iter(FAMILIES)

    def __len__(self):
        return len(FAMILIES)


AUTO_LR, AUTO_LM_LR = _ByFamily("auto_lr"), _ByFamily("auto_lm_lr")
MIN_LAST_STAGE_STEPS = _ByFamily("min_last_stage_steps")
AUTOCAST_ARCHITECTURES = tuple(name for name, f in FAMILIES.items() if f.autocast)


def validate_texts(X, name="X"):
    """Return X as a list of str, or raise a clear error (as CountVectorizer does).

    Every estimator path (fit, prediction, transform, ``lr_find``) reads its
    texts through here, each cleaned by :func:`~ulmfit_sklearn.text.fix_surrogates`
    so that every tokenizer gets the same valid string.
    """
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
    return [fix_surrogates(t) for t in texts]


_re_cuda = re.compile(r"cuda(?::([0-9]+))?")


def _cuda_devices():
    """How many CUDA devices torch can use on this machine."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _cuda_here():
    """What CUDA devices this machine has, in words."""
    n = _cuda_devices()
    if n == 0:
        return "this machine has no CUDA device"
    return f"this machine has {n} CUDA device{'s' if n > 1 else ''} (cuda:0 to cuda:{n - 1})"


def check_device(device):
    """Return ``device``, or raise a ValueError naming the accepted values and
    what this machine has.

    Parameters
    ----------
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``N`` an int); a CUDA
        device must exist on this machine.

    Returns
    -------
    device : str
        ``device``, unchanged (``"auto"`` is resolved at fit time).
    """
    if device in ("auto", "cpu"):
        return device
    match = _re_cuda.fullmatch(device) if isinstance(device, str) else None
    if match is None:
        raise ValueError("device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (N an int), got "
                         f"{device!r}; {_cuda_here()}")
    if int(match.group(1) or 0) >= _cuda_devices():
        raise ValueError(f"device {device!r} is not available: {_cuda_here()} (use 'auto' "
                         "or 'cpu')")
    return device


def _is_missing(value):
    """None, NaN, pandas' NA and NaT: a value that is not a label."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT differ from themselves
    except (TypeError, ValueError):  # pd.NA: its comparisons have no truth value
        return True


def _has_missing(y):
    if y.dtype.kind == "f":
        return bool(np.isnan(y).any())
    if y.dtype.kind == "O":
        return any(_is_missing(v) for v in y.ravel())
    return False


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


@dataclass
class StageRun:
    """What :meth:`ULMFiTBase._run_stages` returns."""

    #: the encoder after stage 2, its vocabulary extended (see ``_language_model``)
    encoder: Encoder
    #: what identifies the starting encoder (its checksum), for the cache
    encoder_key: str
    #: token ids of every text
    docs: list
    #: stage 2's skorch history
    lm_history: list
    #: stage 3's fitted DocumentNet (None when no stage 3 ran)
    net: object = None


def finetune_encoder(encoder, docs, *, lr, **params):
    """Stage 2 on an :class:`~ulmfit_sklearn.encoders.Encoder`: its family's
    :meth:`~ulmfit_sklearn.families.base.EncoderFamily.finetune` with ``params``;
    ``lr="auto"``: the family's ``auto_lm_lr``.

    Returns the fine-tuned state dict (fp32, CPU) and the skorch history.
    """
    family = encoder.family
    return family.finetune(encoder, docs, lr=family.auto_lm_lr if lr == AUTO else lr, **params)


def _cached_finetune(texts, encoder_key, lm_params, seed, version, read_len=None, *, encoder,
                     docs, device, verbose):
    """The memory-cached entry of stage 2; the cache key is every argument but the
    keyword-only ones (texts, encoder checksum, lm_ parameters, seed, version, and
    ``read_len``: each document's head + tail of this many tokens is read, None:
    all of it).  An interrupted fine-tuning raises, so joblib stores nothing for it."""
    return finetune_encoder(encoder, head_tails(docs, read_len), seed=seed, device=device,
                            verbose=verbose, **lm_params)


class ULMFiTBase(BaseEstimator):
    """Shared machinery of the ULMFiT estimators (not for direct use)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        persistence.register_estimator(cls)  # what ulmfit_sklearn.load can build

    def __getstate__(self):
        state = dict(super().__getstate__(), _ulmfit_sklearn_version=__version__)
        state.pop("_int8_nets_", None)  # rebuilt from the fp32 nets at the next prediction
        return state

    def __setstate__(self, state):
        check_version(state.pop("_ulmfit_sklearn_version", "unknown (before 0.1.0)"),
                      __version__)
        super().__setstate__(state)

    _parameter_constraints = {
        "pretrained": [str, os.PathLike, Encoder, None],
        "lm_epochs": [Interval(numbers.Integral, 0, None, closed="left"), StrOptions({AUTO})],
        "lm_lr": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({AUTO})],
        "lm_drop_mult": [Interval(numbers.Real, 0, None, closed="left")],
        "lm_bptt": [Interval(numbers.Integral, 2, None, closed="left")],
        "lm_batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({AUTO})],
        "lm_lr_decay": [Interval(numbers.Real, 1, None, closed="left")],
        "lm_sampled_softmax": ["boolean"],
        "unfreeze_epochs": ["array-like", None],
        "lr": [Interval(numbers.Real, 0, None, closed="neither"), StrOptions({AUTO})],
        "lr_decay": [Interval(numbers.Real, 1, None, closed="left")],
        "stlr_cut_frac": [Interval(numbers.Real, 0, 1, closed="right")],
        "stlr_ratio": [Interval(numbers.Real, 1, None, closed="left")],
        "stlr": ["boolean"],
        "drop_mult": [Interval(numbers.Real, 0, None, closed="left")],
        "bptt": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_len": [Interval(numbers.Integral, 1, None, closed="left")],
        "train_max_len": [Interval(numbers.Integral, 2, None, closed="left"), None,
                          StrOptions({AUTO})],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left"), StrOptions({AUTO})],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "device": [StrOptions({"auto", "cpu", "cuda"}), str],
        "autocast": ["boolean", StrOptions({AUTO})],
        "quantize": ["boolean"],
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
        """Every parameter check, for the paths that are not a ``fit`` (``lr_find``,
        loading, the command line): scikit-learn's constraints, then
        :meth:`_check_param_values`.  A ``fit`` is decorated with
        :func:`~ulmfit_sklearn._compat.fit_context`, which does the first."""
        self._validate_params()
        self._check_param_values()

    def _check_param_values(self):
        """What the constraints cannot say: the device exists, the schedule is a
        sequence of epochs."""
        check_device(self.device)
        if getattr(self, "unfreeze_epochs", None) is not None:
            epochs = np.asarray(self.unfreeze_epochs)
            if epochs.ndim != 1 or len(epochs) == 0 or epochs.dtype.kind not in "iu" or (epochs < 0).any():
                raise ValueError("unfreeze_epochs must be a non-empty sequence of non-negative "
                                 f"ints, got {self.unfreeze_epochs!r}")
            if epochs.sum() == 0:
                raise ValueError("unfreeze_epochs must train at least one epoch")

    def _stage_epochs(self, encoder):
        """The gradual-unfreezing schedule: given, or the paper's for this depth (the
        family's layer groups)."""
        n_groups = encoder.family.n_layer_groups(encoder.config)
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

    def _autocast(self, family):
        """bf16 autocast on or off for an encoder of ``family``: ``autocast``, or with
        ``"auto"`` on for the families that ask for it
        (:attr:`~ulmfit_sklearn.families.base.EncoderFamily.autocast`) where the
        device computes bf16 natively
        (:func:`~ulmfit_sklearn.training.numerics.native_bf16`)."""
        if self.autocast == AUTO:
            return family.autocast and native_bf16(
                "cuda" if self._device().startswith("cuda") else "cpu")
        return bool(self.autocast)

    def _seed(self):
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    # ------------------------------------------------------------------ data
    def _texts(self, X, reset):
        """X as a list of str (:func:`validate_texts`); with ``reset`` (a fit), a
        ValueError when no document has a word, as CountVectorizer raises on an
        empty vocabulary (a few empty documents among others are fine)."""
        texts = validate_texts(X)
        if reset and len(texts) == 0:
            raise ValueError("X is empty: fit needs at least one document")
        if reset and not any(t.strip() for t in texts):
            raise ValueError(f"X has no words to fit on: all documents are empty or whitespace "
                             f"({len(texts)} documents)")
        return texts

    def _targets(self, y, n):
        if y is None:
            raise ValueError("y is required: this estimator is supervised")
        raw, y = y, np.asarray(y)
        if y.dtype.kind in "US" and not isinstance(raw, np.ndarray):
            # numpy turns a list (or Series) mixing types into strings: NaN into 'nan',
            # int labels next to a str unlabeled marker into '0', '1'; keep the values
            y = np.asarray(raw, dtype=object)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got shape {y.shape}")
        if len(y) != n:
            raise ValueError(f"X and y have different lengths: {n} documents, {len(y)} targets")
        marker = getattr(self, "unlabeled_label", None)
        if _has_missing(y) and not (marker is not None and _is_missing(marker)):
            raise ValueError("y contains missing values (NaN, None or pandas' NA); drop those "
                             "rows, or pass unlabeled_label=float('nan') to use their texts "
                             "in stage 2 only")
        return y

    def _labeled_mask(self, y):
        marker = self.unlabeled_label
        if marker is None:
            return np.ones(len(y), dtype=bool)
        if _is_missing(marker):  # NaN marks the missing labels, whichever kind they are
            return np.asarray([not _is_missing(v) for v in y], dtype=bool)
        return np.asarray([not _equal(v, marker) for v in y], dtype=bool)

    # ------------------------------------------------------------------ encoder
    def _load_encoder(self, seed, direction="forward"):
        """The encoder to start from (its ``direction``'s language model), and a key
        that identifies it for the cache."""
        if self.pretrained is None:  # a random AWD-LSTM of the bundled one's shape
            base = load_encoder(AWD_LSTM_ENCODER)
            enc = random_encoder_like(base, seed, direction)
            return enc, f"random:{base.sha256}:{seed}:{direction}"
        enc = load_encoder(self.pretrained, direction)
        return enc, enc.sha256

    def _directions(self):
        """The directions a fit trains: the paper's forward and backward pair with
        ``bidirectional``, else forward only."""
        return DIRECTIONS if getattr(self, "bidirectional", False) else DIRECTIONS[:1]

    def _fitted_directions(self):
        """The directions of the fitted nets: forward, and backward where fitted."""
        return DIRECTIONS[:1] + tuple(d for d in DIRECTIONS[1:]
                                      if hasattr(self, f"net{direction_suffix(d)}_"))

    def _lm_params(self, encoder):
        """Everything that configures stage 2 of ``encoder``: the ``lm_`` parameters
        (and autocast, which changes its numerics).  STLR keeps the paper's shape in
        stage 2."""
        params = dict(epochs=self.lm_epochs, lr=self.lm_lr, lr_decay=self.lm_lr_decay,
                      drop_mult=self.lm_drop_mult, bptt=self.lm_bptt,
                      batch_size=self.lm_batch_size, cut_frac=0.1, ratio=32,
                      autocast=self._autocast(encoder.family))
        if getattr(self, "lm_sampled_softmax", False) and encoder.family.sampled_softmax:
            params["sampled_softmax"] = True
        return params

    def _lm_epochs(self, encoder):
        """Stage 2's epochs: ``lm_epochs``, or with ``"auto"`` 1 where the encoder has
        a language model (an AWD-LSTM; a BERT with a masked-LM head), else 0."""
        if self.lm_epochs == AUTO:
            return int(encoder.has_language_model)
        return int(self.lm_epochs)

    def _finetune(self, encoder, encoder_key, texts, docs, seed, device):
        """Stage 2, through the ``memory`` cache when one is given."""
        epochs = self._lm_epochs(encoder)
        if epochs == 0:
            return dict(encoder.state_dict), []
        if not encoder.has_language_model:
            warnings.warn(f"lm_epochs={self.lm_epochs} is ignored: this {encoder.family.name} "
                          "encoder has no language-model head, so stage 2 is skipped (set "
                          "lm_epochs=0 to silence this)", UserWarning, stacklevel=4)
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
        return fn(texts, encoder_key, dict(self._lm_params(encoder), epochs=epochs), seed, __version__,
                  self._train_max_len(encoder),
                  encoder=encoder, docs=docs, device=device, verbose=self.verbose)

    def _train_max_len(self, encoder):
        """How many tokens of each document training reads (stages 2 and 3), head +
        tail: ``train_max_len``, with ``"auto"`` the encoder family's (None: all;
        estimators without the parameter read all)."""
        value = getattr(self, "train_max_len", None)
        if value == AUTO:
            value = encoder.family.train_max_len
        return None if value is None else int(value)

    def _batch_size(self, n):
        """Stage 3's batch size: ``batch_size``, or with ``"auto"`` from the ``n``
        labeled documents, at least 8."""
        if self.batch_size == AUTO:
            return auto_batch_size(n, smallest=8)
        return int(self.batch_size)

    # ------------------------------------------------------------------ stages
    def _run_stages(self, texts, targets=None, *, direction="forward", lr_range=None,
                    range_stage="classifier"):
        """The one path through ULMFiT's stages 2 and 3.

        Loads the encoder, fine-tunes its language model on all ``texts`` (stage 2,
        through the ``memory`` cache), then, given ``targets`` (:class:`Targets`),
        trains the classifier on the labeled texts (stage 3).  Sets no attribute:
        the caller does once everything succeeded, so an interrupted or failing
        fit leaves the estimator as it was.

        ``lr_range=(start_lr, end_lr, steps)`` runs a learning-rate range test of
        ``range_stage`` instead: ``"lm"`` tests stage 2 (one epoch, never cached,
        no stage 3); ``"classifier"`` runs stage 2 as a fit would and tests the
        first stage of stage 3.  ``direction="backward"`` starts from the encoder's
        backward language model and reads every document right to left.
        """
        seed, device = self._seed(), self._device()
        encoder, key = self._load_encoder(seed, direction)
        stage_epochs = None if targets is None else self._stage_epochs(encoder)
        lm_range = lr_range if range_stage == "lm" else None
        tuned, docs, lm_history = self._language_model(encoder, key, texts, seed, device,
                                                       lr_range=lm_range)
        run = StageRun(tuned, key, docs, lm_history)
        if targets is None or lm_range:
            return run
        docs = self._labeled_docs(docs, targets)
        docs = head_tails(docs, self._train_max_len(tuned))
        with seeded(seed, device):
            module = self._classifier_module(tuned, targets.n_out)
            self._contrastive_stage(module, docs, targets, tuned, seed, device)
            run.net = train_classifier(
                module, docs, targets.y,
                **self._stage3_params(len(docs), targets, stage_epochs, seed, device,
                                      tuned, self._lr(tuned), lr_range))
        return run

    def _contrastive_stage(self, module, docs, targets, tuned, seed, device):
        """With ``contrastive_pairs`` (a classifier's parameter), train ``module``'s
        encoder on that many pairs of the labeled ``docs`` before stage 3 (see
        :func:`~ulmfit_sklearn.training.contrastive.train_contrastive`)."""
        pairs = getattr(self, "contrastive_pairs", 0)
        if not pairs:
            return None
        if not targets.stratify:  # a class label per text: what pairs are made of
            raise ValueError("contrastive_pairs needs one class label per text; set it to 0 "
                             "for multi-label y")
        return train_contrastive(module, docs, targets.y, n_pairs=int(pairs),
                                 pad_idx=tuned.tokenizer.pad_id, lr=self.contrastive_lr,
                                 seed=seed, device=device, autocast=self._autocast(tuned.family),
                                 verbose=self.verbose)

    def _language_model(self, encoder, key, texts, seed, device, lr_range=None):
        """Stage 2: ``encoder`` (from :meth:`_load_encoder`) fine-tuned on ``texts``,
        through the cache (a range test, ``lr_range``, is never cached).

        Returns (encoder with the fine-tuned weights, whose tokenizer reads every
        other word of its vectors, if it has some, as the nearest vocabulary word;
        token ids of ``texts``; stage-2 history).
        """
        base, encoder = encoder, extend_vocabulary(encoder, new_words(encoder, texts))
        docs = read_in_direction(encode_texts(encoder.tokenizer, texts), encoder.direction)
        if lr_range:
            params = dict(self._lm_params(encoder), epochs=1)
            lm_docs = head_tails(docs, self._train_max_len(encoder))
            lm_state, lm_history = finetune_encoder(encoder, lm_docs, seed=seed, device=device,
                                                    verbose=self.verbose, lr_range=lr_range,
                                                    **params)
            return encoder, docs, lm_history
        lm_state, lm_history = self._finetune(encoder, key, texts, docs, seed, device)
        tuned = replace(encoder, state_dict=lm_state)
        # words that only later texts have: their nearest word of the (cached) base vocabulary
        tuned = alias_vector_words(tuned, nearest_vocabulary_words(base))
        return tuned, docs, lm_history

    def _classifier_module(self, tuned, n_out):
        """Stage 3's network over ``tuned``'s encoder, with the ``drop_mult``-scaled
        dropouts (the family's
        :meth:`~ulmfit_sklearn.families.base.EncoderFamily.classifier_module`)."""
        return tuned.family.classifier_module(tuned, n_out, bptt=self.bptt, max_len=self.max_len,
                                              drop_mult=self.drop_mult)

    def _feature_module(self, tuned):
        """The network of document features over ``tuned``'s encoder, no dropout (the
        family's :meth:`~ulmfit_sklearn.families.base.EncoderFamily.feature_module`)."""
        return tuned.family.feature_module(tuned, bptt=self.bptt, max_len=self.max_len)

    def _lr(self, encoder):
        """Stage 3's peak learning rate: ``lr``, or with ``"auto"`` the encoder
        family's ``auto_lr``."""
        return encoder.family.auto_lr if self.lr == AUTO else float(self.lr)

    def _stage3_params(self, n_docs, targets, stage_epochs, seed, device, tuned, lr,
                       lr_range=None):
        """Everything that configures stage 3's net (see ``make_classifier_net``)."""
        return dict(
            stage_epochs=stage_epochs, lr=lr, lr_decay=self.lr_decay,
            min_last_steps=(last_stage_floor(tuned.family.min_last_stage_steps,
                                             tuned.family.min_last_stage_docs,
                                             self._batch_size(n_docs))
                            if self.unfreeze_epochs is None else 0),
            batch_size=self._batch_size(n_docs), cut_frac=self.stlr_cut_frac,
            ratio=self.stlr_ratio, constant_lr=not self.stlr, criterion=targets.criterion,
            criterion_kwargs=targets.criterion_kwargs, seed=seed, device=device,
            autocast=self._autocast(tuned.family),
            validation_fraction=None if lr_range else self.validation_fraction,
            stratify=targets.y if targets.stratify else None, pad_idx=tuned.tokenizer.pad_id,
            verbose=self.verbose, lr_range=lr_range)

    def _fit(self, X, y):
        """The estimators' ``fit`` (under :func:`~ulmfit_sklearn._compat.fit_context`,
        which validated the parameters): check the rest, run stages 2 and 3, then
        set the attributes (only once everything succeeded)."""
        self._check_param_values()
        texts = self._texts(X, reset=True)
        targets = self._training_targets(texts, y)
        attrs, history = dict(targets.attrs), {}
        for direction in self._directions():
            run = self._run_stages(texts, targets, direction=direction)
            suffix = direction_suffix(direction)
            history.update({"lm" + suffix: run.lm_history,
                            "classifier" + suffix: run.net.history.to_list()})
            _trim(run.net)  # drops the history too
            attrs.update({f"net{suffix}_": run.net, f"tokenizer{suffix}_": run.encoder.tokenizer,
                          f"encoder_sha256{suffix}_": run.encoder_key})
        self._set_fitted({**attrs, "history_": history})
        return self

    def save(self, folder, weights="auto"):
        """Write the fitted estimator to ``folder`` in a safe format (weights as
        safetensors, everything else as JSON); :func:`ulmfit_sklearn.load` reads
        it without unpickling anything, after checking every file.  ``weights``:
        ``"auto"`` (the smallest form measured to move at most 0.5 % of test
        predictions: int8 rows for an AWD-LSTM, fp16 for a BERT), ``"int8"``,
        ``"float16"`` or ``"float32"`` (exact; docs/persistence.md).  A
        failing save leaves an earlier model in ``folder`` as it was.  Pickles
        (joblib) run code when loaded: load those only from a trusted source.
        Returns the folder's path."""
        return persistence.save(self, folder, weights=weights)

    @classmethod
    def load(cls, folder):
        """Read an estimator of this class that :meth:`save` wrote."""
        est = persistence.load(folder)
        if not isinstance(est, cls):
            raise ModelFileError(f"{folder} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def _set_fitted(self, attrs):
        """Replace what an earlier fit learned by ``attrs``."""
        self._reset()
        for name, value in attrs.items():
            setattr(self, name, value)

    def _training_targets(self, texts, y):
        """Validate ``y`` into :class:`Targets` (each estimator defines it)."""
        raise NotImplementedError

    def _labeled_docs(self, docs, targets):
        if targets.labeled is None:
            return docs
        return [d for d, m in zip(docs, targets.labeled) if m]

    def _forward(self, X, direction="forward"):
        """Raw outputs (logits) of the fitted net of ``direction``, in input order,
        as numpy."""
        check_is_fitted(self, "net_")
        suffix = direction_suffix(direction)
        net, tokenizer = self._prediction_net(suffix), getattr(self, f"tokenizer{suffix}_")
        texts = validate_texts(X)
        if not texts:
            return np.zeros((0, net.module_.n_out), dtype=np.float32)
        docs = read_in_direction(encode_texts(tokenizer, texts), direction)
        order = np.argsort([-len(d) for d in docs], kind="stable")  # similar lengths batch together
        with torch.inference_mode():
            out = net.forward(DocumentDataset([docs[i] for i in order])).float().numpy()
        result = np.empty_like(out)
        result[order] = out
        return result

    def _prediction_net(self, suffix=""):
        """The fitted net ``net{suffix}_``, or with ``quantize`` on a CPU its copy with
        int8 LSTM and linear layers (:func:`~ulmfit_sklearn.training.numerics.int8_copy`,
        made at the first prediction and kept until the next fit; never saved)."""
        net = getattr(self, f"net{suffix}_")
        if not getattr(self, "quantize", False) or str(net.device) != "cpu":
            return net
        cache = self.__dict__.setdefault("_int8_nets_", {})
        if suffix not in cache:
            params = net.get_params()
            cache[suffix] = make_inference_net(
                int8_copy(net.module_),
                batch_size=params.get("iterator_valid__batch_size") or net.batch_size,
                pad_idx=params.get("iterator_valid__pad_idx", 1),
                max_tokens=params.get("iterator_valid__max_tokens", PREDICT_TOKENS))
        return cache[suffix]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


def _trim(net):
    """Keep what prediction needs: skorch's trim drops the optimizer, criterion,
    callbacks and history; the ``module`` parameter (the instance the net was built
    from) becomes its class, since skorch pickles ``module_`` apart from it and the
    weights would be stored twice."""
    net.trim_for_prediction()
    net.module = type(net.module_)


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
