"""ULMFiT (Howard & Ruder 2018) as scikit-learn estimators, trained through skorch."""

__version__ = "0.1.0"

from .classifier import ULMFiTClassifier  # noqa: E402
from .regressor import ULMFiTRegressor  # noqa: E402
from .vectorizer import ULMFiTVectorizer  # noqa: E402
from .persistence import load  # noqa: E402

__all__ = ["ULMFiTClassifier", "ULMFiTRegressor", "ULMFiTVectorizer", "load", "__version__"]
