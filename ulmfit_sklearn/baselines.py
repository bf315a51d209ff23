"""The baseline ULMFiT is compared with: TF-IDF features and a logistic regression."""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline


def tfidf_logreg(max_iter=3000):
    """``TfidfVectorizer`` (word 1-2 grams, sublinear tf) + ``LogisticRegressionCV``
    (L2, regularisation chosen by 5-fold cross-validated accuracy)."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegressionCV(max_iter=max_iter, scoring="accuracy", l1_ratios=(0.0,),
                             use_legacy_attributes=False))
