"""The exceptions and warnings of ulmfit-sklearn (as :mod:`sklearn.exceptions`), and
the one check of the version that saved a fitted estimator.

A leaf module: it imports nothing of the package, so that any module can import it.
"""

import warnings

__all__ = ["EncoderError", "InconsistentVersionWarning", "ModelFileError", "check_version"]


class EncoderError(ValueError):
    """An encoder folder is missing, incomplete, corrupt or of an unknown format."""


class ModelFileError(ValueError):
    """A model folder is missing, incomplete, damaged, or not of this format."""


class InconsistentVersionWarning(UserWarning):
    """A fitted estimator is loaded by another ulmfit-sklearn version than saved it.

    Parameters
    ----------
    saved, current : str
        The version that saved the estimator, and the one loading it.
    """

    def __init__(self, saved, current):
        self.saved, self.current = saved, current
        super().__init__(
            f"this estimator was saved by ulmfit-sklearn {saved} and is loaded by version "
            f"{current}: it may fail or predict differently; refit it, or install {saved}")


def check_version(saved, current, stacklevel=2):
    """Warn with :class:`InconsistentVersionWarning` if the version ``saved`` (that
    saved an estimator: a pickle's or a model folder's) is not ``current``.

    ``stacklevel`` counts from the caller of this function, as ``warnings.warn``'s.
    """
    if saved != current:
        warnings.warn(InconsistentVersionWarning(saved, current), stacklevel=stacklevel + 1)
