"""Encoder families: one object per architecture that ULMFiT's recipe runs over,
registered in :data:`FAMILIES` (as :data:`~ulmfit_sklearn.text.TOKENIZERS` registers
the tokenizers).

* :data:`~ulmfit_sklearn.families.awd_lstm.AWD_LSTM`: the AWD-LSTM of the paper;
* :data:`~ulmfit_sklearn.families.bert.BERT`: a BERT (the bundled ``minilm-l6``).

What a family is asked is :class:`~ulmfit_sklearn.families.base.EncoderFamily`'s
interface.  An encoder's family is ``encoder.family`` (:func:`family_of` its config);
a fitted network's, :func:`network_family` of its kind.
"""

from ..exceptions import EncoderError
from .awd_lstm import AWD_LSTM
from .base import EncoderFamily, Network
from .bert import BERT

#: The encoder families by name (an encoder folder's ``config["architecture"]``).
FAMILIES = {family.name: family for family in (AWD_LSTM, BERT)}
#: The family of a config without ``"architecture"`` (folders written before BERTs).
DEFAULT_FAMILY = AWD_LSTM

__all__ = ["DEFAULT_FAMILY", "EncoderFamily", "FAMILIES", "Network", "family_of",
           "network_family"]


def family_of(config):
    """The :class:`~ulmfit_sklearn.families.base.EncoderFamily` of an encoder's
    ``config`` (its ``"architecture"``), or an
    :class:`~ulmfit_sklearn.exceptions.EncoderError` naming the known ones."""
    name = config.get("architecture", DEFAULT_FAMILY.name)
    if name not in FAMILIES:
        raise EncoderError(f"unknown encoder architecture {name!r} (this version knows "
                           f"{sorted(FAMILIES)})")
    return FAMILIES[name]


def network_family(kind):
    """The family whose fitted networks include ``kind`` (a class name, as a saved
    model describes it); None for a kind no family has."""
    return next((f for f in FAMILIES.values() if kind in f.networks), None)
