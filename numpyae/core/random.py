"""Randomness: one keyword, rng, takes an int seed, None or an np.random.Generator everywhere.

as_generator normalises it; child_seed derives the saved int seed of a model's own Generator;
generators finds every Generator an object holds (gradient checks freeze them, checkpoints
save and restore them)."""
from __future__ import annotations

import numbers

import numpy as np


def generators(obj):
    """Every np.random.Generator reachable from obj's attributes, lists and dicts, each once,
    in a deterministic order (the same object structure always gives the same order)."""
    found, seen, stack = [], set(), [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, (np.ndarray, str, bytes, int, float, type(None))):
            continue
        seen.add(id(o))
        if isinstance(o, np.random.Generator):
            found.append(o)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif hasattr(o, "__dict__"):
            stack.extend(vars(o).values())
    return found


def as_generator(seed, name="rng"):
    """Normalise an int seed, None or an np.random.Generator to a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"{name} must be a non-negative int seed, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"{name} must be None, an int seed or an np.random.Generator, "
                    f"got {type(seed).__name__}")


def int_seed(rng):
    """The int seed an rng argument carries (saved with a model, so a loaded model draws the
    same numbers), or None for None or a Generator (a loaded model then starts a fresh one)."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return int(rng)
    return None


def child_seed(rng, generator):
    """An int seed for a model's own Generator, derived from the rng argument: rng + 1 for an
    int (so weights and noise come from different streams), else drawn from `generator`."""
    seed = int_seed(rng)
    return seed + 1 if seed is not None else int(generator.integers(2**31))
