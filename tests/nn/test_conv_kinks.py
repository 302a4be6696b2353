"""The kinks of the convolutional layers, for the gradient checker (numpyae.nn.conv).

MaxPool2D has a kink wherever the two largest entries of a window tie; Conv2D and
ConvTranspose2D have their activation's kinks (relu at a = 0), like Dense. Each exposes
kink_state() (the window's argmax; a > 0) and kink_margin() (the gap between the two largest
entries; |a|), so that check_layer and check_model report an entry whose finite difference
moves a window's maximum, or a pre-activation across 0, as not comparable instead of as a
failure -- while a wrong backward is still caught.

Each near-tie test also shows that without the kink methods the same check fails: the ties
are real, and the kink methods are what tells them from errors.
"""
import numpy as np
import pytest

import numpyae.nn.conv as conv_module
from numpyae import check_layer, check_model
from numpyae.models.conv import conv_autoencoder
from numpyae.nn.conv import Conv2D, ConvTranspose2D, MaxPool2D, im2col
from numpyae.nn.layers import Dense

POOL_KINK = "max-pool window maximum"
RELU_KINK = "relu at a = 0"


def _without_kink_methods(monkeypatch, cls):
    monkeypatch.delattr(cls, "kink_state")
    monkeypatch.delattr(cls, "kink_margin")


# ---- the kink state and margin themselves ------------------------------------------------------

@pytest.mark.parametrize("pool, stride, size", [(2, None, 6), ((2, 3), 1, 5), (3, 2, 7),
                                               (1, 1, 3)])
def test_maxpool_kink_state_is_the_argmax_and_the_margin_the_gap_of_each_window(pool, stride,
                                                                                size):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, size, size, 3))
    layer = MaxPool2D(pool, stride)
    assert layer.kink_state() == {} and layer.kink_margin() == {}     # before any forward
    y = layer.forward(x)
    (state,), (margin,) = layer.kink_state().values(), layer.kink_margin().values()
    assert list(layer.kink_state()) == list(layer.kink_margin()) == [POOL_KINK]
    kh, kw = layer.pool_size
    windows = im2col(x, layer.pool_size, layer.stride).reshape(y.shape[:3] + (kh * kw, 3))
    np.testing.assert_array_equal(state, np.argmax(windows, axis=3))
    top = np.sort(windows, axis=3)
    gap = top[:, :, :, -1] - top[:, :, :, -2] if kh * kw > 1 else np.full(y.shape, np.inf)
    np.testing.assert_array_equal(margin, gap)
    assert margin.shape == state.shape == y.shape


@pytest.mark.parametrize("make", [lambda act: Conv2D(2, 3, 3, 2, 1, act, rng=0),
                                  lambda act: ConvTranspose2D(2, 3, 3, 2, 1, 1, act, rng=0)])
def test_convolutions_expose_the_kinks_of_their_activation_as_dense_does(make):
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 2)).astype(np.float32)
    layer = make("relu")
    assert layer.kink_state() == {} and layer.kink_margin() == {}     # before any forward
    layer.forward(x)
    np.testing.assert_array_equal(layer.kink_state()[RELU_KINK], layer.a > 0)
    np.testing.assert_array_equal(layer.kink_margin()[RELU_KINK], np.abs(layer.a))
    dense = Dense(3, 2, "relu", rng=0)
    dense.forward(np.ones((1, 3), np.float32))
    assert list(layer.kink_state()) == list(dense.kink_state())        # the same names
    smooth = make("tanh")
    smooth.forward(x)
    assert smooth.kink_state() == {} and smooth.kink_margin() == {}


# ---- max pooling: near ties are not comparable, a wrong backward is still caught ---------------

def tied_pool_input():
    """(2, 4, 4, 2) inputs whose 2x2 windows hold three near ties (1e-9 .. 1e-7 apart, well
    inside the finite-difference steps of 1e-4 .. 1e-6) among entries otherwise apart."""
    rng = np.random.default_rng(0)
    x = (rng.permutation(64) * 0.05 - 1.6).reshape(2, 4, 4, 2)
    x[0, 0, 0, 0], x[0, 1, 1, 0] = 3.0, 3.0 + 1e-9
    x[1, 2, 3, 1], x[1, 3, 3, 1] = 4.0, 4.0 - 1e-7
    x[1, 0, 2, 0], x[1, 0, 3, 0] = 2.0, 2.0 + 3e-8
    return x


def test_check_layer_reports_near_ties_of_a_max_pool_window_as_not_comparable(monkeypatch):
    x = tied_pool_input()
    report = check_layer(MaxPool2D(2), x)
    assert report.passed(), str(report)
    assert report.n_kink == 6                    # both entries of each of the three ties
    (note,) = report.kink_notes
    assert f"MaxPool2D's {POOL_KINK}" in note and "not comparable" in note
    # the ties are real: without the kink methods the same check fails on them
    _without_kink_methods(monkeypatch, MaxPool2D)
    blind = check_layer(MaxPool2D(2), x)
    assert blind.n_kink == 0 and blind.max_error > 1e-2


def _gradient_to_every_position(self, dy, *, input_grad=True):
    """The classic mistake: a window's gradient sent to every position in it."""
    dx = np.zeros(self.x_shape, dtype=dy.dtype)
    for _, sl_h, sl_w in self._windows(self.x_shape):
        dx[:, sl_h, sl_w] += dy
    return dx if input_grad else None


def test_a_max_pool_backward_that_feeds_every_position_is_still_caught_near_ties(monkeypatch):
    monkeypatch.setattr(MaxPool2D, "backward", _gradient_to_every_position)
    report = check_layer(MaxPool2D(2), tied_pool_input())
    assert not report.passed(1e-4) and report.max_error > 0.1, str(report)
    assert report.n_kink == 6                    # the ties are still set apart, not blamed


def plant_pool_tie(model, X, gap=1e-9):
    """Move one weight of the model's first convolution so that, on X, some window of the max
    pool after it has its two largest entries about `gap` apart: a linear equation in that
    weight (the pre-activations are linear in it; tanh keeps the order). Returns the weight's
    (flat index, output channel)."""
    conv, pool = model.encoder[1], model.encoder[2]
    W = conv.W.value.reshape(-1, conv.out_channels)          # a view: edits W in place
    model.encoder.forward(X, training=False)
    B, H, Wd, C = conv.a.shape
    cols = conv._cols.reshape(B, H, Wd, -1)
    for b in range(B):
        for c in range(C):
            for h in range(0, H, 2):
                for w in range(0, Wd, 2):
                    a = conv.a[b, h:h + 2, w:w + 2, c].ravel()
                    p, q = np.argsort(a)[::-1][:2]
                    (hp, wp), (hq, wq) = divmod(int(p), 2), divmod(int(q), 2)
                    d = cols[b, h + hp, w + wp] - cols[b, h + hq, w + wq]
                    e = int(np.argmax(np.abs(d)))
                    old = W[e, c]
                    W[e, c] = old - (a[p] - a[q] - gap) / d[e]
                    model.encoder.forward(X, training=False)
                    if pool.kink_margin()[POOL_KINK].min() < 10 * gap:
                        return e, c
                    W[e, c] = old
    raise AssertionError("no window could be brought to a near tie")


def pool_model_with_a_near_tie(seed=0):
    model = conv_autoencoder((4, 4), (2, 2), 2, downsample="maxpool", activation="tanh",
                             rng=seed, dtype=np.float64)
    X = np.random.default_rng(seed).random((3, 16))
    plant_pool_tie(model, X)
    return model, X


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_check_model_reports_a_near_tie_of_a_max_pool_model_as_not_comparable(seed,
                                                                               monkeypatch):
    model, X = pool_model_with_a_near_tie(seed)
    report = check_model(model, X)
    assert report.passed(), str(report)
    assert report["encoder.1.W"].n_kink > 0 and report.n_kink == report["encoder.1.W"].n_kink
    assert any(f"encoder.2's {POOL_KINK}" in note for note in report.kink_notes)
    _without_kink_methods(monkeypatch, MaxPool2D)
    blind = check_model(model, X)
    assert blind.n_kink == 0 and blind.max_error > 1e-4


def test_check_model_still_catches_a_max_pool_backward_that_feeds_every_position(monkeypatch):
    model, X = pool_model_with_a_near_tie()
    monkeypatch.setattr(MaxPool2D, "backward", _gradient_to_every_position)
    report = check_model(model, X)
    assert report.max_error > 1e-2, str(report)
    assert report.worst().name.startswith("encoder.")        # below the pools
    assert report.n_kink > 0


# ---- relu convolutions: pre-activations at 0 ---------------------------------------------------

def relu_conv_at_a_kink(transpose=False):
    """A relu Conv2D (or ConvTranspose2D) and inputs for which two pre-activations sit 1e-9
    from 0 (the bias of their channel moved there), the others well away from it."""
    rng = np.random.default_rng(3)
    if transpose:
        layer = ConvTranspose2D(2, 3, 3, 2, 1, 1, "relu", rng=3, dtype=np.float64)
        x = rng.normal(size=(2, 3, 3, 2))
    else:
        layer = Conv2D(2, 3, 3, 2, 1, "relu", rng=3, dtype=np.float64)
        x = rng.normal(size=(2, 6, 6, 2))
    layer.forward(x)
    layer.b.value[1] -= layer.a[0, 1, 1, 1] - 1e-9
    layer.forward(x)
    assert abs(layer.a[0, 1, 1, 1] - 1e-9) < 1e-12
    return layer, x


@pytest.mark.parametrize("transpose", [False, True])
def test_check_layer_reports_a_relu_convolution_at_its_kink_as_not_comparable(transpose,
                                                                               monkeypatch):
    layer, x = relu_conv_at_a_kink(transpose)
    report = check_layer(layer, x)
    assert report.passed(), str(report)
    assert report["b"].n_kink == 1 and report["W"].n_kink > 0 and report["input"].n_kink > 0
    assert any(f"{type(layer).__name__}'s {RELU_KINK}" in n for n in report.kink_notes)
    _without_kink_methods(monkeypatch, conv_module._Convolution)
    blind = check_layer(layer, x)
    assert blind.n_kink == 0 and blind.max_error > 1e-2


def _conv_backward(self, dy, input_grad, *, relu_derivative=True, flip=False):
    """Conv2D's backward (numpyae.nn.conv) with a planted mistake: without f'(a) (dL/da taken
    to be dy), or with the kernel flipped in dx (a convolution, not a correlation)."""
    g = conv_module.activation_chain(self, dy) if relu_derivative else dy
    G = g.reshape(-1, self.out_channels)
    self.W.grad += (self._cols.T @ G).reshape(self.W.grad.shape)
    self.b.grad += G.sum(axis=0)
    if not input_grad:
        return None
    W = self.W.value[::-1, ::-1] if flip else self.W.value
    dcols = G @ W.reshape(-1, self.out_channels).T
    return conv_module.col2im(dcols, self.x.shape, self.kernel_size, self.stride, self.padding)


def _conv_backward_without_the_relu_derivative(self, dy, *, input_grad=True):
    """A planted mistake: dL/da = dy, f'(a) forgotten."""
    return _conv_backward(self, dy, input_grad, relu_derivative=False)


def _conv_backward_with_a_flipped_kernel(self, dy, *, input_grad=True):
    """A planted mistake: dx with the kernel flipped."""
    return _conv_backward(self, dy, input_grad, flip=True)


@pytest.mark.parametrize("bug", [_conv_backward_without_the_relu_derivative,
                                 _conv_backward_with_a_flipped_kernel])
def test_a_wrong_relu_convolution_backward_is_still_caught_at_its_kink(bug, monkeypatch):
    layer, x = relu_conv_at_a_kink()
    monkeypatch.setattr(Conv2D, "backward", bug)
    report = check_layer(layer, x)
    assert report.max_error > 1e-2, str(report)
    assert report.n_kink > 0


def relu_model_at_a_kink():
    """conv_autoencoder with relu hidden layers, the first convolution's channel 1 bias moved
    so that one pre-activation on X is 1e-9 from 0."""
    model = conv_autoencoder((6, 6), (2, 3), 2, activation="relu", rng=4, dtype=np.float64)
    X = np.random.default_rng(4).random((3, 36))
    conv = model.encoder[1]
    model.encoder.forward(X, training=False)
    conv.b.value[1] -= conv.a[0, 1, 1, 1] - 1e-9
    model.encoder.forward(X, training=False)
    assert abs(conv.a[0, 1, 1, 1] - 1e-9) < 1e-12
    return model, X


def test_check_model_reports_a_relu_conv_model_at_a_kink_as_not_comparable(monkeypatch):
    model, X = relu_model_at_a_kink()
    report = check_model(model, X)
    assert report.passed(), str(report)
    assert report["encoder.1.b"].n_kink == 1 and report["encoder.1.W"].n_kink > 0
    assert any(f"encoder.1's {RELU_KINK}" in note for note in report.kink_notes)
    _without_kink_methods(monkeypatch, conv_module._Convolution)
    blind = check_model(model, X)        # the decoder's relu Dense layer still has its kinks
    assert not any("encoder.1's" in note for note in blind.kink_notes)
    assert blind.max_error > 1e-4


def test_check_model_still_catches_a_relu_conv_backward_without_the_relu_derivative(
        monkeypatch):
    model, X = relu_model_at_a_kink()
    monkeypatch.setattr(Conv2D, "backward", _conv_backward_without_the_relu_derivative)
    report = check_model(model, X)
    assert report.max_error > 1e-2, str(report)
    assert report.n_kink > 0
