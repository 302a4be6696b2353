"""Weight initializers. Each takes (n_in, n_out, rng, dtype) and returns an (n_in, n_out) array.

    glorot_uniform  U(-l, l), l = sqrt(6 / (n_in + n_out))      Glorot & Bengio 2010
    glorot_normal   N(0, 2 / (n_in + n_out))
    he_normal       N(0, 2 / n_in)                             He et al. 2015 (relu)
    he_uniform      U(-l, l), l = sqrt(6 / n_in)
    lecun_normal    N(0, 1 / n_in)                             LeCun et al. 1998
    zeros           all zeros
"""
import numpy as np

from ..core.checks import check_dtype, check_positive_int
from ..core.random import as_generator


def glorot_uniform(n_in, n_out, rng, dtype=np.float32):
    """Glorot uniform: W ~ U(-l, l), l = sqrt(6 / (n_in + n_out)), shape (n_in, n_out)."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype)


def glorot_normal(n_in, n_out, rng, dtype=np.float32):
    """Glorot normal: W ~ N(0, 2 / (n_in + n_out)), shape (n_in, n_out)."""
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))).astype(dtype)


def he_normal(n_in, n_out, rng, dtype=np.float32):
    """He normal: W ~ N(0, 2 / n_in), shape (n_in, n_out)."""
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype)


def he_uniform(n_in, n_out, rng, dtype=np.float32):
    """He uniform: W ~ U(-l, l), l = sqrt(6 / n_in), shape (n_in, n_out)."""
    limit = np.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype)


def lecun_normal(n_in, n_out, rng, dtype=np.float32):
    """LeCun normal: W ~ N(0, 1 / n_in), shape (n_in, n_out)."""
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(1.0 / n_in)).astype(dtype)


def zeros(n_in, n_out, rng=None, dtype=np.float32):
    """W = 0, shape (n_in, n_out)."""
    return np.zeros((n_in, n_out), dtype=dtype)


INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_normal, he_uniform,
                                        lecun_normal, zeros)}
INITIALIZERS["xavier_uniform"] = glorot_uniform
INITIALIZERS["xavier_normal"] = glorot_normal

# Default per activation: He for the relu family, Glorot for saturating ones.
_HE_FAMILY = {"relu", "leaky_relu", "elu"}


def default_init_for(activation_name):
    """The default initializer: "he_normal" for relu, leaky_relu, elu, else "glorot_uniform"."""
    return "he_normal" if activation_name in _HE_FAMILY else "glorot_uniform"


def initialize(init, n_in, n_out, rng=None, dtype=np.float32):
    """Draw an (n_in, n_out) weight matrix with the named initializer."""
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, got {init!r}")
    n_in = check_positive_int(n_in, "n_in")
    n_out = check_positive_int(n_out, "n_out")
    rng, dtype = as_generator(rng), check_dtype(dtype)
    too_big = ValueError(f"n_in x n_out = {n_in} x {n_out} weights cannot be allocated")
    if n_in * n_out > np.iinfo(np.intp).max:
        raise too_big
    try:
        return INITIALIZERS[init](n_in, n_out, rng, dtype)
    except MemoryError:
        raise too_big from None
