"""Finding the np.random.Generators an object holds (gradient checks freeze them, checkpoints
save and restore them)."""
from __future__ import annotations

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
