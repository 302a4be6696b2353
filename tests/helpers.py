"""Shared strategies and builders for the test suite."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def finite_floats(lo=-3.0, hi=3.0, width=64, min_magnitude=0.01):
    """Bounded finite floats that are either 0 or at least min_magnitude in size.

    Hypothesis loves values like 1e-66; they give gradient entries of 1e-66 that no finite
    difference can resolve (the relative error of 1e-66 against 0 is 1). Zero stays in: its
    gradient contributions are exactly zero on both sides.
    """
    f = lambda a, b: st.floats(a, b, allow_nan=False, allow_infinity=False, width=width)
    parts = [st.just(0.0)] if lo <= 0 <= hi else []
    if hi >= min_magnitude:
        parts.append(f(max(lo, min_magnitude), hi))
    if lo <= -min_magnitude:
        parts.append(f(lo, min(hi, -min_magnitude)))
    return st.one_of(parts)


def arrays(shape, lo=-3.0, hi=3.0, dtype=np.float64):
    width = 32 if dtype == np.float32 else 64
    return hnp.arrays(dtype, shape, elements=finite_floats(lo, hi, width))


shapes_2d = st.tuples(st.integers(1, 5), st.integers(1, 5))


@st.composite
def away_from_zero(draw, shape, margin=0.05, hi=6.0):
    """Arrays whose entries have |a| in [margin, hi], random signs: kinks at 0 avoided by construction."""
    mags = draw(arrays(shape, margin, hi))
    signs = draw(hnp.arrays(np.int8, shape, elements=st.sampled_from([-1, 1])))
    return mags * signs
