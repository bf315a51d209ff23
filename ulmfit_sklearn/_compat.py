"""What this package takes from scikit-learn's private modules, in one place
(and the small private helpers it re-implements rather than import).

scikit-learn's parameter validation (``Interval``, ``StrOptions``,
``InvalidParameterError``) lives in the private ``sklearn.utils._param_validation``;
``BaseEstimator._validate_params`` uses it too.  The estimators' ``fit`` methods
validate through :func:`fit_context` (scikit-learn's private ``_fit_context``).  If
a scikit-learn release moves them, these imports are the lines to change.
"""

import functools

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

try:
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover - every supported scikit-learn (>= 1.6) has it
    _fit_context = None


def fit_context(*, prefer_skip_nested_validation=True):
    """Decorate a ``fit`` method as scikit-learn's own: validate the estimator's
    parameters against ``_parameter_constraints`` first (unless scikit-learn's
    ``skip_parameter_validation`` is set), and let the scikit-learn calls inside it
    skip their validation (``prefer_skip_nested_validation``).

    scikit-learn's private ``sklearn.base._fit_context`` where the installed version
    has it (all supported ones do); else a stand-in that only validates.
    """
    if _fit_context is not None:
        return _fit_context(prefer_skip_nested_validation=prefer_skip_nested_validation)

    def decorator(fit_method):  # pragma: no cover - see above
        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            estimator._validate_params()
            return fit_method(estimator, *args, **kwargs)
        return wrapper
    return decorator


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
           "check_score_weight", "fit_context"]
