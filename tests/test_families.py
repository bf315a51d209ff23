"""The encoder families: each fills in the whole interface, and the registry finds
them by name and by network kind."""

import inspect

import pytest

from ulmfit_sklearn.exceptions import EncoderError
from ulmfit_sklearn.families import FAMILIES, family_of, network_family
from ulmfit_sklearn.families.base import EncoderFamily

METHODS = [name for name, member in inspect.getmembers(EncoderFamily, inspect.isfunction)
           if not name.startswith("_")]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_family_fills_in_the_whole_interface(name):
    family = FAMILIES[name]
    assert family.name == name and family_of({"architecture": name}) is family
    for attribute in ("auto_lr", "auto_lm_lr"):
        assert getattr(family, attribute) > 0, attribute
    missing = [m for m in METHODS if getattr(type(family), m) is getattr(EncoderFamily, m)]
    assert missing == []
    assert family.config_keys and {n.role for n in family.networks.values()} == {"classifier",
                                                                                 "features"}
    for kind in family.networks:
        assert network_family(kind) is family


def test_the_registry_refuses_an_unknown_architecture_and_kind():
    with pytest.raises(EncoderError, match="unknown encoder architecture 'gpt'.*awd_lstm"):
        family_of({"architecture": "gpt"})
    assert family_of({}) is FAMILIES["awd_lstm"]  # folders written before there were two
    assert network_family("NoSuchNet") is None
