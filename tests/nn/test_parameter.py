"""Parameter: gradients accumulate, zero_grad really zeroes (numpyae/nn/parameter.py)."""
import copy

import numpy as np

from numpyae import Dense, TiedDense
from numpyae.nn.parameter import Parameter


def test_zero_grad_really_zeroes_the_array_callers_hold():
    p = Parameter(np.ones((3, 5), dtype=np.float32))
    held = p.grad
    held += 7
    p.zero_grad()
    assert p.grad is held
    assert np.array_equal(held, np.zeros((3, 5), dtype=np.float32))


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
    assert enc.backward(dh, input_grad=False) is None   # parameters only: x is data
    da = dh * (1 - enc.y ** 2)
    expected = dy.T @ h + x.T @ da                   # decoder path + encoder path
    np.testing.assert_allclose(enc.W.grad, expected, rtol=1e-5, atol=1e-6)


def test_deep_copies_keep_value_and_grad_apart():
    p = Parameter(np.ones((3, 5), dtype=np.float32))
    q = copy.deepcopy(p)
    q.grad += 1
    q.value += 1
    assert np.all(p.grad == 0) and np.all(p.value == 1)
