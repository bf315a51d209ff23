"""ULMFiTVectorizer: documents to fixed-size vectors from a ULMFiT encoder."""

import numbers

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import AUTO, ULMFiTBase
from ._compat import Interval, fit_context
from ._docs import fill_doc
from .training.stages import make_inference_net, seeded


class ULMFiTVectorizer(TransformerMixin, ULMFiTBase):
    """Pooled document vectors from a (fine-tuned) ULMFiT encoder.

    ``fit`` loads the encoder and, if ``lm_epochs > 0``, fine-tunes its language
    model on the texts (ULMFiT's stage 2); ``transform`` reads each document with
    BPT3C and returns the last, max- and mean-pooled outputs of the top layer over
    its last ``max_len`` tokens: ``3 * emb_size`` features of an AWD-LSTM, for any
    scikit-learn model on top, or next to TF-IDF in a ``FeatureUnion``.  A BERT
    encoder reads the document in windows and gives the mean of its last hidden
    states over them (``hidden_size`` features, sentence-transformers' pooling).

    Parameters
    ----------
{{lm_params}}    bptt : int, default=72
        Chunk length in which documents are read (a longer one is used when no
        gradient is needed; the features do not depend on it).

    max_len : int, default=1440
        The features pool each document's last ``max_len`` tokens (earlier ones
        only carry the LSTM state).

    batch_size : int, default=64
        The most documents per forward pass in ``transform`` (a pass also holds
        at most 32,768 padded tokens, so long documents come in smaller ones).

{{run_params}}    Attributes
    ----------
    n_features_out_ : int
        Number of features (``3 * emb_size``, or a BERT's ``hidden_size``).
    net_ : DocumentNet
        The skorch net that computes the features.
    tokenizer_ : tokenizer
        The tokenizer (with the vocabulary the fit extended).
    encoder_sha256_ : str
        Checksum (key) of the encoder that fitting started from.
    history_ : dict
        skorch history of stage 2 (``"lm"``; empty when ``lm_epochs=0``).

    Notes
    -----
    The parameter ``lm_epochs`` defaults to 0 here (features of the pretrained
    encoder, fast to fit); fine-tuning on the target texts usually gives better
    features.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression  # doctest: +SKIP
    >>> from sklearn.pipeline import make_pipeline  # doctest: +SKIP
    >>> pipe = make_pipeline(ULMFiTVectorizer(), LogisticRegression())  # doctest: +SKIP
    >>> pipe.fit(texts, labels).predict(["what a film"])  # doctest: +SKIP
    """

    __doc__ = fill_doc(__doc__)

    _parameter_constraints = {
        **ULMFiTBase._parameter_constraints,
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, pretrained="default", *, lm_epochs=0, lm_lr=AUTO, lm_lr_decay=2.6,
                 lm_drop_mult=0.3, lm_bptt=70, lm_batch_size=AUTO, lm_sampled_softmax=False,
                 bptt=72, max_len=1440, batch_size=64, device="auto", autocast="auto",
                 quantize=False, memory=None, random_state=None, verbose=0):
        self.pretrained = pretrained
        self.lm_epochs = lm_epochs
        self.lm_lr = lm_lr
        self.lm_lr_decay = lm_lr_decay
        self.lm_drop_mult = lm_drop_mult
        self.lm_bptt = lm_bptt
        self.lm_batch_size = lm_batch_size
        self.lm_sampled_softmax = lm_sampled_softmax
        self.bptt = bptt
        self.max_len = max_len
        self.batch_size = batch_size
        self.device = device
        self.autocast = autocast
        self.quantize = quantize
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Load the encoder and fine-tune its language model on X (``lm_epochs``).

        Parameters
        ----------
        X : iterable of str
            Documents.
        y : None
            Ignored.

        Returns
        -------
        self : ULMFiTVectorizer
            The fitted transformer.
        """
        self._check_param_values()
        texts = self._texts(X, reset=True)
        run = self._run_stages(texts)
        with seeded(self._seed(), self._device()):
            module = self._feature_module(run.encoder)
        net = make_inference_net(module, batch_size=self.batch_size,
                                 pad_idx=run.encoder.tokenizer.pad_id, device=self._device(),
                                 autocast=self._autocast(run.encoder.family))
        self._set_fitted({"net_": net, "tokenizer_": run.encoder.tokenizer,
                          "encoder_sha256_": run.encoder_key, "history_": {"lm": run.lm_history},
                          "n_features_out_": module.n_features})
        return self

    def transform(self, X):
        """Document vectors, shape ``(n_samples, n_features_out_)``, float32."""
        return self._forward(X)

    def get_feature_names_out(self, input_features=None):
        """``last0 ..``, ``max0 ..``, ``mean0 ..`` (or ``mean0 ..`` alone for a
        mean-pooled BERT): the pooling and the unit."""
        check_is_fitted(self, "net_")
        pooling = self.net_.module_.pooling
        kinds = ("last", "max", "mean") if pooling == "concat" else (pooling,)
        d = self.n_features_out_ // len(kinds)
        return np.asarray([f"{kind}{i}" for kind in kinds for i in range(d)], dtype=object)
