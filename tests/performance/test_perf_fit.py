"""Performance invariants of the training loop (fit): the work it does per step is cheap but
exact.

* Without shuffling, minibatches are views of the data (no copy): training on them gives the
  same numbers as training on copies, and the data is left untouched.
* The finiteness check that guards every step (core.checks.all_finite, run on every loss,
  parameter and gradient; one BLAS dot product instead of a full-size boolean temporary)
  agrees with np.isfinite on any values, layout and dtype.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import Adam, fit, mlp_autoencoder
from numpyae.core.checks import all_finite


# ---- unshuffled minibatches are views -------------------------------------------------------

def test_fit_without_shuffle_trains_on_views_of_the_data():
    rng = np.random.default_rng(7)
    X = rng.random((10, 6), dtype=np.float32)
    X0 = X.copy()
    a = mlp_autoencoder([6, 3], loss="mse", rng=0)
    b = mlp_autoencoder([6, 3], loss="mse", rng=0)
    batches = []
    train_step = a.train_step
    a.train_step = lambda xb, yb, opt: (batches.append(xb), train_step(xb, yb, opt))[1]
    h = fit(a, X, Adam(a.parameters()), epochs=1, batch_size=4, shuffle=False, progress=False)
    assert [len(xb) for xb in batches] == [4, 4, 2]
    assert all(np.shares_memory(xb, X) for xb in batches)          # views, not copies
    opt = Adam(b.parameters())
    losses = [b.train_step(X[s:s + 4].copy(), None, opt)["loss"] * len(X[s:s + 4])
              for s in range(0, 10, 4)]
    assert h["loss"][0] == pytest.approx(sum(losses) / 10, rel=1e-6)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(X, X0)


# ---- the memory-light finiteness check ------------------------------------------------------

@pytest.mark.parametrize("values,expected", [
    ([0.0, 1.0, -2.0], True),
    ([1.0, np.nan], False),
    ([np.inf, 1.0], False),
    ([np.inf, -np.inf], False),
    ([3e38, 3e38, -1.0], True),      # finite, but the float32 sum overflows: exact fallback
])
def test_all_finite_agrees_with_isfinite(values, expected):
    for dtype in (np.float32, np.float64):
        arr = np.array(values, dtype=dtype).reshape(1, -1)
        assert all_finite(arr) is expected or all_finite(arr) == expected
        assert all_finite(arr) == bool(np.isfinite(arr).all())


@settings(max_examples=40)
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**16),
       bad=st.sampled_from([None, np.nan, np.inf, -np.inf, 1e20, -3e38]),
       dtype=st.sampled_from([np.float32, np.float64]), order=st.sampled_from(["C", "strided"]))
def test_all_finite_matches_isfinite_on_any_layout(n, seed, bad, dtype, order):
    """Contiguous float arrays take the dot-product path (x.x), others the sum: both must
    agree with np.isfinite everywhere, including finite values whose squares overflow."""
    rng = np.random.default_rng(seed)
    arr = rng.standard_normal(2 * n).astype(dtype)
    pos = int(rng.integers(0, 2 * n))
    if bad is not None:
        arr[pos] = bad
    if order == "strided":
        arr = arr[pos % 2::2]                 # every other entry, the bad one among them
    else:
        arr = arr.reshape(2, n)
    assert all_finite(arr) == bool(np.isfinite(arr).all())


def test_all_finite_on_integers_and_empty_arrays():
    assert all_finite(np.arange(10))
    assert all_finite(np.zeros((0, 3), dtype=np.float32))
