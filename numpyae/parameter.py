"""Parameter: a value and the gradient accumulated into it. Nothing else.

Layers ADD into ``grad`` in backward, so a Parameter used in two places (tied weights) collects
the sum of both paths. A model zeroes the gradients once per step.

Speed note: most gradients are a single matrix product added into a freshly zeroed array
(Dense: dW += x^T da, right after zero_grad). ``add_matmul(a, b)`` is that ``grad += a @ b``,
and writes the product straight into grad (no temporary, no extra pass) when grad is known to
hold zeros: zero_grad() sets that mark, and every access to ``.grad`` clears it (whoever reads
the attribute may write into the array). So the shortcut is taken only when nothing can have
changed grad since zero_grad, and grad itself is always really zero after zero_grad.
(The one thing it does not see: an array obtained from ``.grad`` BEFORE zero_grad and written
into after it; keep no such reference across zero_grad.)
"""
import numpy as np


class Parameter:
    __slots__ = ("value", "_grad", "_grad_is_zero")

    def __init__(self, value):
        self.value = np.asarray(value)
        self.grad = np.zeros_like(self.value)

    @property
    def grad(self):
        """The accumulated gradient (same shape and dtype as value)."""
        self._grad_is_zero = False   # the caller may write into it
        return self._grad

    @grad.setter
    def grad(self, array):
        self._grad = array
        self._grad_is_zero = False

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def zero_grad(self):
        self._grad.fill(0)
        self._grad_is_zero = True

    def add_matmul(self, a, b):
        """grad += a @ b.  Right after zero_grad (see the module docstring) the product is
        written into grad directly: the same numbers, without a temporary and a second pass."""
        g = self._grad
        if self._grad_is_zero:
            np.matmul(a, b, out=g)
        else:
            g += a @ b
        self._grad_is_zero = False

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
