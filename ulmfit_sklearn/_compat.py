"""What this package takes from scikit-learn's private modules, in one place
(and the small private helpers it re-implements rather than import).

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``InvalidParameterError``) lives in the private ``sklearn.utils._param_validation``;
``BaseEstimator._validate_params``, which the estimators call, uses it too.  If a
scikit-learn release moves it, this import is the one line to change.
"""

import numpy as np

#: The oldest scikit-learn this package supports (as ``pyproject.toml`` says).
SKLEARN_MIN_VERSION = "1.6"

try:
    from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
except ImportError as exc:  # pragma: no cover - depends on the installed scikit-learn
    import sklearn

    raise ImportError(
        f"ulmfit-sklearn needs scikit-learn >= {SKLEARN_MIN_VERSION} with "
        "sklearn.utils._param_validation (Interval, StrOptions, InvalidParameterError); "
        f"the installed scikit-learn {sklearn.__version__} lacks it ({exc}). Install a "
        "supported scikit-learn, or report this at the project's issue tracker."
    ) from exc


def check_score_weight(sample_weight, n_samples):
    """Validate the ``sample_weight`` of a ``score`` call before any prediction runs.

    A public-API stand-in for scikit-learn's private ``_check_sample_weight``.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        One weight per document.
    n_samples : int
        Number of documents.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,) or None
        The weights as float64 (None stays None).

    Raises
    ------
    ValueError
        If the weights are not numbers, not 1-D, not one per document, or not finite.
    """
    if sample_weight is None:
        return None
    try:
        weight = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be numeric") from None
    if weight.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {weight.shape}, but X has {n_samples} "
                         f"documents: expected shape ({n_samples},), one weight per document")
    if not np.isfinite(weight).all():
        raise ValueError("sample_weight contains NaN or infinity")
    return weight


__all__ = ["Interval", "InvalidParameterError", "StrOptions", "SKLEARN_MIN_VERSION",
           "check_score_weight"]
