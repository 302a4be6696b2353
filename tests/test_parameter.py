"""Parameter: grad accumulation, zero_grad, and the add_matmul shortcut (numpyae/parameter.py).

add_matmul(a, b) is ``grad += a @ b``; right after zero_grad, when nothing has touched grad,
it writes the product into grad directly. These tests pin that it never overwrites anything
that was added, by any route, and that zero_grad really zeroes the array.
"""
import copy
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import Dense, TiedDense
from numpyae.parameter import Parameter


def operands(seed, n=3, k=4, m=5, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)).astype(dtype), rng.standard_normal((k, m)).astype(dtype)


def test_zero_grad_really_zeroes_the_array_callers_hold():
    p = Parameter(np.ones((3, 5), dtype=np.float32))
    held = p.grad
    held += 7
    p.zero_grad()
    assert p.grad is held
    assert np.array_equal(held, np.zeros((3, 5), dtype=np.float32))


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64]))
def test_add_matmul_after_zero_grad_is_the_product(seed, dtype):
    a, b = operands(seed, dtype=dtype)
    p = Parameter(np.zeros((3, 5), dtype=dtype))
    p.grad += 1                         # something to zero
    p.zero_grad()
    p.add_matmul(a, b)
    np.testing.assert_array_equal(p.grad, 0 + a @ b)
    assert p.grad.dtype == dtype


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16))
def test_add_matmul_adds_to_everything_added_before(seed):
    a, b = operands(seed)
    p = Parameter(np.zeros((3, 5), dtype=np.float32))
    p.zero_grad()
    p.add_matmul(a, b)
    p.add_matmul(a, b)                              # second product: added, not written
    np.testing.assert_array_equal(p.grad, (a @ b) + (a @ b))

    q = Parameter(np.zeros((3, 5), dtype=np.float32))
    q.zero_grad()
    q.grad += 2.5                                   # written through .grad after zero_grad
    q.add_matmul(a, b)
    np.testing.assert_array_equal(q.grad, 2.5 + a @ b)

    r = Parameter(np.zeros((3, 5), dtype=np.float32))
    r.zero_grad()
    held = r.grad                                   # read after zero_grad, written later
    held[0, 0] = 4.0
    r.add_matmul(a, b)
    expected = a @ b
    expected[0, 0] += 4.0
    np.testing.assert_array_equal(r.grad, expected)

    s = Parameter(np.zeros((3, 5), dtype=np.float32))
    s.zero_grad()
    s.grad = np.full((3, 5), 1.5, dtype=np.float32)   # a new array assigned: added into
    s.add_matmul(a, b)
    np.testing.assert_array_equal(s.grad, 1.5 + a @ b)


def test_without_zero_grad_add_matmul_accumulates():
    a, b = operands(3)
    p = Parameter(np.zeros((3, 5), dtype=np.float32))   # a new Parameter: grad zero, unmarked
    p.add_matmul(a, b)
    p.add_matmul(a, b)
    np.testing.assert_array_equal(p.grad, (a @ b) + (a @ b))


def test_copies_keep_value_grad_and_the_mark_apart():
    a, b = operands(4)
    p = Parameter(np.ones((3, 5), dtype=np.float32))
    p.zero_grad()
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        q.add_matmul(a, b)
        np.testing.assert_array_equal(q.grad, a @ b)
        np.testing.assert_array_equal(q.value, p.value)
    np.testing.assert_array_equal(p.grad, np.zeros((3, 5), dtype=np.float32))


def test_dense_backward_adds_into_the_gradient_every_time():
    rng = np.random.default_rng(0)
    layer = Dense(6, 4, "tanh", rng=1)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    dy = rng.standard_normal((5, 4)).astype(np.float32)
    layer.W.zero_grad()
    layer.b.zero_grad()
    layer.forward(x)
    layer.backward(dy)
    once_W, once_b = layer.W.grad.copy(), layer.b.grad.copy()
    layer.backward(dy)                               # no zero_grad in between
    np.testing.assert_allclose(layer.W.grad, 2 * once_W, rtol=1e-6)
    np.testing.assert_allclose(layer.b.grad, 2 * once_b, rtol=1e-6)


def test_tied_weights_collect_both_paths_after_zero_grad():
    """The decoder's product lands in the zeroed shared grad first, the encoder's is added."""
    rng = np.random.default_rng(1)
    enc = Dense(6, 3, "tanh", rng=2)
    dec = TiedDense(enc, "identity")
    x = rng.standard_normal((4, 6)).astype(np.float32)
    dy = rng.standard_normal((4, 6)).astype(np.float32)
    for p in (enc.W, enc.b, dec.b):
        p.zero_grad()
    h = enc.forward(x)
    dec.forward(h)
    dh = dec.backward(dy)
    enc.backward_parameters(dh)
    da = dh * (1 - enc.y ** 2)
    expected = dy.T @ h + x.T @ da                   # decoder path + encoder path
    np.testing.assert_allclose(enc.W.grad, expected, rtol=1e-5, atol=1e-6)
