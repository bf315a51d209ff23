"""ULMFiT (Howard & Ruder 2018) as scikit-learn estimators, trained through skorch."""

from ._version import __version__
from .classifier import ULMFiTClassifier  # noqa: E402
from .regressor import ULMFiTRegressor  # noqa: E402
from .vectorizer import ULMFiTVectorizer  # noqa: E402
from .persistence import load  # noqa: E402

__all__ = ["ULMFiTClassifier", "ULMFiTRegressor", "ULMFiTVectorizer", "load", "__version__"]
