"""The baselines ULMFiT is compared with: TF-IDF features, or frozen sentence
embeddings, and a logistic regression."""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer


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
