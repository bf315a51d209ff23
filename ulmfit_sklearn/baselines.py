"""The baselines ULMFiT is compared with: TF-IDF features, or frozen sentence
embeddings, and a logistic regression; a BERT fine-tuned the standard way
(:class:`FineTuneClassifier`)."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from torch import nn

from ._base import validate_texts
from .encoders import load_encoder
from .text import encode_texts
from .training.batching import DocumentDataset
from .training.numerics import native_bf16
from .training.stages import seeded, train_classifier
from .models.heads import window_pool


def _l2_options():
    """Arguments that ask ``LogisticRegressionCV`` for a plain L2 search quietly.

    scikit-learn 1.8 deprecated ``penalty`` in favour of ``l1_ratios`` (``(0.0,)``
    is L2; None warns) and added ``use_legacy_attributes`` (not passing it warns).
    Before 1.8, L2 is the default, ``use_legacy_attributes`` does not exist and
    ``l1_ratios`` without ``penalty="elasticnet"`` warns: pass nothing there.
    """
    if "use_legacy_attributes" in LogisticRegressionCV().get_params():
        return {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    return {}


def tfidf_logreg(max_iter=3000):
    """``TfidfVectorizer`` (word 1-2 grams, sublinear tf) + ``LogisticRegressionCV``
    (L2, regularisation chosen by 5-fold cross-validated accuracy)."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegressionCV(max_iter=max_iter, scoring="accuracy", **_l2_options()))


def embedding_logreg(pretrained="minilm-l6", max_iter=3000, max_len=1440):
    """Frozen sentence embeddings + ``LogisticRegressionCV`` (SetFit's baseline).

    With ``"minilm-l6"`` (bundled):
    all-MiniLM-L6-v2's embedding (the mean of the last hidden states, L2-normalised,
    as sentence-transformers computes it; a document longer than 512 word pieces is
    mean-pooled over windows of its last ``max_len``, where sentence-transformers
    would cut it at 256), then the same regression as :func:`tfidf_logreg`.
    """
    from .vectorizer import ULMFiTVectorizer

    return make_pipeline(
        ULMFiTVectorizer(pretrained, lm_epochs=0, max_len=max_len), Normalizer(),
        LogisticRegressionCV(max_iter=max_iter, scoring="accuracy", **_l2_options()))


class _LinearHeadBert(nn.Module):
    """A BERT's windows mean-pooled (:func:`~ulmfit_sklearn.models.heads.window_pool`)
    under one linear layer: the head of a plain fine-tune.  Two layer groups, the
    whole encoder and the head, so that one ``lr_decay`` sets the head's rate apart."""

    def __init__(self, encoder, n_out):
        super().__init__()
        self.encoder, self.head = encoder, nn.Linear(encoder.hidden_size, n_out)

    @property
    def n_out(self):
        return self.head.out_features

    def layer_groups(self):
        return [["encoder."], ["head."]]

    def forward(self, tokens, lengths):
        return self.head(window_pool(self.encoder, tokens, lengths, "mean").float())


class FineTuneClassifier(ClassifierMixin, BaseEstimator):
    """A BERT encoder fine-tuned the standard way (not ULMFiT): the baseline a user
    tries first with the same weights.

    All layers train from the first step (no stage 2, no gradual unfreezing), with
    AdamW (betas 0.9/0.999, decoupled weight decay), the encoder at ``lr`` and a
    linear head on mean-pooled word pieces at ``head_lr``, a one-cycle schedule
    (linear warm-up over ``warmup`` of the steps, then linear decay), each text cut
    to its first ``max_len`` word pieces ([CLS] and [SEP] included).  Built over the
    package's own modules and training pieces; bf16 autocast where the CPU has it
    natively, as the estimators do.

    Parameters
    ----------
    pretrained : str, default="minilm-l6"
        A BERT encoder (a bundled name or a folder).
    lr, head_lr : float, default=5e-5, 1e-3
        Peak learning rates of the encoder and of the head.
    epochs, batch_size, max_len : int, default=4, 16, 128
    warmup : float, default=0.1
        Share of the steps with a rising rate.
    weight_decay : float, default=0.01
    random_state : int, default=0
    """

    def __init__(self, pretrained="minilm-l6", lr=5e-5, head_lr=1e-3, epochs=4, batch_size=16,
                 max_len=128, warmup=0.1, weight_decay=0.01, random_state=0):
        self.pretrained, self.lr, self.head_lr, self.epochs = pretrained, lr, head_lr, epochs
        self.batch_size, self.max_len, self.warmup = batch_size, max_len, warmup
        self.weight_decay, self.random_state = weight_decay, random_state

    def _docs(self, X):
        """Token ids of each text: its first ``max_len - 1`` pieces, then [SEP]."""
        sep = self.tokenizer_.sep_id
        return [np.append(d[:self.max_len - 1], sep).astype(d.dtype) if len(d) > self.max_len else d
                for d in encode_texts(self.tokenizer_, validate_texts(X))]

    def fit(self, X, y):
        encoder = load_encoder(self.pretrained)
        if not hasattr(encoder.tokenizer, "sep_id"):
            raise ValueError(f"FineTuneClassifier needs a BERT encoder, got {self.pretrained!r}")
        self.tokenizer_ = encoder.tokenizer
        self.classes_, targets = np.unique(np.asarray(y), return_inverse=True)
        with seeded(self.random_state, "cpu"):
            bert = encoder.build_encoder(**encoder.config["dropout"])
            self.net_ = train_classifier(
                _LinearHeadBert(bert, len(self.classes_)), self._docs(X), targets,
                stage_epochs=[self.epochs], lr=self.head_lr, lr_decay=self.head_lr / self.lr,
                batch_size=self.batch_size, cut_frac=self.warmup, ratio=1e4,
                betas=(0.9, 0.999), weight_decay=self.weight_decay, seed=self.random_state,
                autocast=native_bf16("cpu"), pad_idx=self.tokenizer_.pad_id)
        return self

    def decision_function(self, X):
        docs = self._docs(X)
        order = np.argsort([-len(d) for d in docs], kind="stable")
        with torch.inference_mode():
            out = self.net_.forward(DocumentDataset([docs[i] for i in order])).float().numpy()
        scores = np.empty_like(out)
        scores[order] = out
        return scores

    def predict(self, X):
        return self.classes_[self.decision_function(X).argmax(axis=1)]
