"""Parameter: a value and the gradient accumulated into it. Nothing else.

Layers ADD into ``grad`` in backward, so a Parameter used in two places (tied weights) collects
the sum of both paths. A model zeroes the gradients once per step.
"""
import numpy as np


class Parameter:
    """A trainable array `value` and its gradient `grad` (same shape), which backward adds into."""

    __slots__ = ("value", "grad")

    def __init__(self, value):
        self.value = np.asarray(value)
        self.grad = np.zeros_like(self.value)

    @property
    def shape(self):
        """The shape of value (and of grad)."""
        return self.value.shape

    @property
    def dtype(self):
        """The dtype of value."""
        return self.value.dtype

    def zero_grad(self):
        """Set grad to 0 in place (before a new accumulation)."""
        self.grad.fill(0)

    def astype(self, dtype):
        """Cast value and grad in place (used to make float64 copies for gradient checks)."""
        self.value = self.value.astype(dtype)
        self.grad = np.zeros_like(self.value)

    def __repr__(self):
        return f"Parameter(shape={self.value.shape}, dtype={self.value.dtype})"


def unique(parameters):
    """Parameters in order of first appearance, each once (tied weights appear twice)."""
    seen, out = set(), []
    for p in parameters:
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out
