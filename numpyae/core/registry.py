"""The registry of saveable classes: a class is saved under its name and rebuilt from it.

It sits at the bottom of the package so that the math (nn, models) can mark its classes as
saveable without importing persistence; numpyae.io reads the registry to save and load.
"""
from __future__ import annotations

REGISTRY = {}


def register(cls):
    """Class decorator: make cls loadable by name from a saved architecture."""
    REGISTRY[cls.__name__] = cls
    return cls


def registered(name):
    """The class registered under name, or None."""
    return REGISTRY.get(name)
