"""Convolutional layers (numpyae.nn.conv): Conv2D, ConvTranspose2D, MaxPool2D, AvgPool2D,
Upsample2D, Reshape, Flatten, and im2col/col2im.

* Gradient checks in float64 at 1e-7 over Hypothesis-drawn shapes, strides, paddings and
  channel counts (odd sizes included); max pooling on inputs whose window entries are apart.
* Each layer against a direct loop implementation of its definition (forward and backward).
* The adjoint identities <Conv2D(x), y> = <x, ConvTranspose2D(y)> and <im2col(x), c> = <x, col2im(c)>.
* The layer protocol: backward adds, input_grad=False, nothing written into given or returned
  arrays, reused workspace buffers that never leak between calls of other shapes.
* Clear errors for a kernel larger than the padded input, a stride that leaves input rows
  unread, channel mismatches and bad arguments; save/load of a model holding every layer.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyae
from numpyae import check_layer
from numpyae.models.autoencoder import Autoencoder
from numpyae.nn.conv import (AvgPool2D, Conv2D, ConvTranspose2D, Flatten, MaxPool2D, Reshape,
                             Upsample2D, col2im, im2col)
from numpyae.nn.layers import Dense, Sequential, input_dim, output_dim

SMOOTH = ["identity", "tanh", "sigmoid", "softplus"]


@st.composite
def geometries(draw, max_out=3):
    """A valid convolution geometry: kernel, stride, padding (pairs), an input size H x W
    (odd sizes included) and the output size. The input size is built from the output size
    and the left-over rows r <= min(stride - 1, padding) that only the padding may leave, so
    every valid (H, Ho) is reachable; r is also the output_padding of the adjoint."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, kk - 1)) for kk in k)
    out = (draw(st.integers(1, max_out)), draw(st.integers(1, max_out)))
    r = tuple(draw(st.integers(0, min(ss - 1, pp))) for ss, pp in zip(s, p))
    size = tuple((o - 1) * ss + kk - 2 * pp + rr for o, ss, kk, pp, rr in zip(out, s, k, p, r))
    if min(size) < 1:   # too much padding for so small an output: pad less
        p = tuple(max(0, min(pp, (kk - 1 + rr) // 2)) for pp, kk, rr in zip(p, k, r))
        r = tuple(min(rr, pp) for rr, pp in zip(r, p))
        size = tuple((o - 1) * ss + kk - 2 * pp + rr for o, ss, kk, pp, rr in zip(out, s, k, p, r))
    assert min(size) >= 1
    return {"kernel_size": k, "stride": s, "padding": p, "size": size, "out": out,
            "output_padding": r}


# ---- direct loop implementations of the definitions ---------------------------------------------

def conv2d_loops(x, W, b, stride, padding):
    """y[b, ho, wo, o] = sum_{i, j, c} x[b, s ho + i - p, s wo + j - p, c] W[i, j, c, o] + b[o]."""
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    (sh, sw), (ph, pw) = stride, padding
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    y = np.zeros((B, Ho, Wo, O))
    for n in range(B):
        for ho in range(Ho):
            for wo in range(Wo):
                for o in range(O):
                    total = b[o]
                    for i in range(kh):
                        for j in range(kw):
                            h, w = sh * ho + i - ph, sw * wo + j - pw
                            if 0 <= h < H and 0 <= w < Wd:
                                total += x[n, h, w, :] @ W[i, j, :, o]
                    y[n, ho, wo, o] = total
    return y


def conv2d_backward_loops(x, W, dy, stride, padding):
    """dx, dW, db of L = <conv2d(x), dy>, term by term from the definition."""
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    (sh, sw), (ph, pw) = stride, padding
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for n, ho, wo, o in np.ndindex(dy.shape):
        g = dy[n, ho, wo, o]
        for i in range(kh):
            for j in range(kw):
                h, w = sh * ho + i - ph, sw * wo + j - pw
                if 0 <= h < H and 0 <= w < Wd:
                    dx[n, h, w, :] += g * W[i, j, :, o]
                    dW[i, j, :, o] += g * x[n, h, w, :]
    return dx, dW, dy.sum(axis=(0, 1, 2))


def conv_transpose_loops(x, W, b, stride, padding, output_padding):
    """The scatter definition: input pixel (hi, wi) adds x[hi, wi, c] W[i, j, o, c] into output
    pixel (s hi + i - p, s wi + j - p), kept if inside the output."""
    B, H, Wd, C = x.shape
    kh, kw, O, _ = W.shape
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, output_padding
    Ho, Wo = (H - 1) * sh - 2 * ph + kh + oh, (Wd - 1) * sw - 2 * pw + kw + ow
    y = np.zeros((B, Ho, Wo, O)) + b
    for n in range(B):
        for hi in range(H):
            for wi in range(Wd):
                for i in range(kh):
                    for j in range(kw):
                        h, w = sh * hi + i - ph, sw * wi + j - pw
                        if 0 <= h < Ho and 0 <= w < Wo:
                            y[n, h, w, :] += W[i, j, :, :] @ x[n, hi, wi, :]
    return y


def conv_transpose_backward_loops(x, W, dy, stride, padding):
    """dx, dW, db of L = <conv_transpose(x), dy>, term by term from the scatter definition."""
    B, H, Wd, C = x.shape
    kh, kw, O, _ = W.shape
    (sh, sw), (ph, pw) = stride, padding
    Ho, Wo = dy.shape[1:3]
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for n in range(B):
        for hi in range(H):
            for wi in range(Wd):
                for i in range(kh):
                    for j in range(kw):
                        h, w = sh * hi + i - ph, sw * wi + j - pw
                        if 0 <= h < Ho and 0 <= w < Wo:
                            dx[n, hi, wi, :] += W[i, j, :, :].T @ dy[n, h, w, :]
                            dW[i, j, :, :] += np.outer(dy[n, h, w, :], x[n, hi, wi, :])
    return dx, dW, dy.sum(axis=(0, 1, 2))


def pool_loops(x, pool, stride, reduce):
    B, H, W, C = x.shape
    (kh, kw), (sh, sw) = pool, stride
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((B, Ho, Wo, C))
    for n, ho, wo, c in np.ndindex(y.shape):
        y[n, ho, wo, c] = reduce(x[n, sh * ho:sh * ho + kh, sw * wo:sw * wo + kw, c])
    return y


def maxpool_backward_loops(x, pool, stride, dy):
    """dx: each window's dy goes to the first maximal entry in row-major window order."""
    (kh, kw), (sh, sw) = pool, stride
    dx = np.zeros_like(x)
    for n, ho, wo, c in np.ndindex(dy.shape):
        window = x[n, sh * ho:sh * ho + kh, sw * wo:sw * wo + kw, c]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        dx[n, sh * ho + i, sw * wo + j, c] += dy[n, ho, wo, c]
    return dx


def _conv(g, c_in, c_out, act="identity", seed=0, transpose=False):
    if transpose:
        return ConvTranspose2D(c_in, c_out, g["kernel_size"], g["stride"], g["padding"],
                               g["output_padding"], act, rng=seed, dtype=np.float64)
    return Conv2D(c_in, c_out, g["kernel_size"], g["stride"], g["padding"], act, rng=seed,
                  dtype=np.float64)


# ---- gradient checks ----------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(g=geometries(), c_in=st.integers(1, 3), c_out=st.integers(1, 3), batch=st.integers(1, 2),
       act=st.sampled_from(SMOOTH), seed=st.integers(0, 2**16))
def test_conv2d_gradients(g, c_in, c_out, batch, act, seed):
    rng = np.random.default_rng(seed)
    layer = _conv(g, c_in, c_out, act, seed)
    layer.b.value[:] = rng.normal(size=c_out)
    x = rng.normal(size=(batch,) + g["size"] + (c_in,))
    report = check_layer(layer, x, rng=seed)
    assert [r.name for r in report.rows] == ["W", "b", "input"]
    assert report.max_error <= 1e-7, str(report)


@settings(max_examples=25, deadline=None)
@given(g=geometries(), c_in=st.integers(1, 3), c_out=st.integers(1, 3), batch=st.integers(1, 2),
       act=st.sampled_from(SMOOTH), seed=st.integers(0, 2**16))
def test_conv_transpose2d_gradients(g, c_in, c_out, batch, act, seed):
    rng = np.random.default_rng(seed)
    layer = _conv(g, c_in, c_out, act, seed, transpose=True)
    layer.b.value[:] = rng.normal(size=c_out)
    x = rng.normal(size=(batch,) + g["out"] + (c_in,))
    assert layer.forward(x).shape == (batch,) + g["size"] + (c_out,)
    report = check_layer(layer, x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


@st.composite
def pool_geometries(draw):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    out = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple((o - 1) * ss + kk for o, ss, kk in zip(out, s, k))
    return k, s, size


def apart_inputs(rng, shape, gap=0.05):
    """Entries that are all distinct and at least `gap` apart (a shuffled grid): no two
    entries of a max-pool window come within reach of the finite-difference steps (2e-4)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(shape)


@settings(max_examples=25, deadline=None)
@given(geom=pool_geometries(), c=st.integers(1, 3), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_maxpool2d_gradients_away_from_ties(geom, c, batch, seed):
    k, s, size = geom
    x = apart_inputs(np.random.default_rng(seed), (batch,) + size + (c,))
    report = check_layer(MaxPool2D(k, s), x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


@settings(max_examples=25, deadline=None)
@given(geom=pool_geometries(), c=st.integers(1, 3), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_avgpool2d_gradients(geom, c, batch, seed):
    k, s, size = geom
    x = np.random.default_rng(seed).normal(size=(batch,) + size + (c,))
    report = check_layer(AvgPool2D(k, s), x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


@settings(max_examples=25, deadline=None)
@given(f=st.tuples(st.integers(1, 3), st.integers(1, 3)), hw=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       c=st.integers(1, 3), batch=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_upsample2d_gradients(f, hw, c, batch, seed):
    x = np.random.default_rng(seed).normal(size=(batch,) + hw + (c,))
    layer = Upsample2D(f)
    assert layer.forward(x).shape == (batch, hw[0] * f[0], hw[1] * f[1], c)
    report = check_layer(layer, x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)),
       batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_reshape_and_flatten_gradients(shape, batch, seed):
    x = np.random.default_rng(seed).normal(size=(batch,) + shape)
    assert check_layer(Flatten(shape), x, rng=seed).max_error <= 1e-7
    assert check_layer(Reshape(shape), x.reshape(batch, -1), rng=seed).max_error <= 1e-7
    np.testing.assert_array_equal(Reshape(shape).forward(Flatten(shape).forward(x)), x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_conv_stack_with_pools_gradients(seed):
    """Reshape -> Conv2D -> AvgPool2D -> ConvTranspose2D -> Upsample2D -> Flatten, chained."""
    rng = np.random.default_rng(seed)
    net = Sequential([Reshape((6, 5, 2)), Conv2D(2, 3, 3, 1, 1, "tanh", rng=seed),
                      AvgPool2D((2, 1)), ConvTranspose2D(3, 2, (2, 3), (1, 2), (0, 1), (0, 1), "softplus", rng=seed),
                      Upsample2D((1, 2)), Flatten((4, 20, 2))])
    x = rng.normal(size=(2, 60))
    report = check_layer(net, x, rng=seed)
    assert report.max_error <= 1e-7, str(report)


# ---- against the definitions, computed with loops -----------------------------------------------

@settings(max_examples=25, deadline=None)
@given(g=geometries(), c_in=st.integers(1, 3), c_out=st.integers(1, 3), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_conv2d_forward_and_backward_match_the_loops(g, c_in, c_out, batch, seed):
    rng = np.random.default_rng(seed)
    layer = _conv(g, c_in, c_out, seed=seed)
    layer.b.value[:] = rng.normal(size=c_out)
    x = rng.normal(size=(batch,) + g["size"] + (c_in,))
    y = layer.forward(x)
    np.testing.assert_allclose(y, conv2d_loops(x, layer.W.value, layer.b.value, g["stride"],
                                               g["padding"]), rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = conv2d_backward_loops(x, layer.W.value, dy, g["stride"], g["padding"])
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad, dW_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.b.grad, db_ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(g=geometries(), c_in=st.integers(1, 3), c_out=st.integers(1, 3), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_conv_transpose2d_forward_and_backward_match_the_loops(g, c_in, c_out, batch, seed):
    rng = np.random.default_rng(seed)
    layer = _conv(g, c_in, c_out, seed=seed, transpose=True)
    layer.b.value[:] = rng.normal(size=c_out)
    x = rng.normal(size=(batch,) + g["out"] + (c_in,))
    y = layer.forward(x)
    ref = conv_transpose_loops(x, layer.W.value, layer.b.value, g["stride"], g["padding"],
                               g["output_padding"])
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dx_ref, dW_ref, db_ref = conv_transpose_backward_loops(x, layer.W.value, dy, g["stride"],
                                                           g["padding"])
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad, dW_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.b.grad, db_ref, rtol=1e-12, atol=1e-12)


def test_conv2d_on_a_hand_computed_example():
    """A 3x3 image, a 2x2 kernel, stride 1, no padding: cross-correlation (kernel not flipped)."""
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    layer = Conv2D(1, 1, 2, dtype=np.float64)
    layer.W.value[:, :, 0, 0] = [[1.0, 2.0], [3.0, 4.0]]
    y = layer.forward(x)[0, :, :, 0]
    # top-left window [[0, 1], [3, 4]] -> 0 + 2 + 9 + 16 = 27
    np.testing.assert_array_equal(y, [[27.0, 37.0], [57.0, 67.0]])
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


@settings(max_examples=25, deadline=None)
@given(geom=pool_geometries(), c=st.integers(1, 2), seed=st.integers(0, 2**16),
       ties=st.booleans())
def test_pools_match_the_loops(geom, c, seed, ties):
    k, s, size = geom
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2,) + size + (c,))
    if ties:                     # few distinct values: many ties inside the windows
        x = np.round(x)
    mp, ap = MaxPool2D(k, s), AvgPool2D(k, s)
    y = mp.forward(x)
    np.testing.assert_array_equal(y, pool_loops(x, k, s, np.max))
    dy = rng.normal(size=y.shape)
    np.testing.assert_array_equal(mp.backward(dy), maxpool_backward_loops(x, k, s, dy))
    np.testing.assert_allclose(ap.forward(x), pool_loops(x, k, s, np.mean), rtol=1e-12)
    dx = ap.backward(dy)
    ref = np.zeros_like(x)
    for n, ho, wo, cc in np.ndindex(dy.shape):
        ref[n, s[0] * ho:s[0] * ho + k[0], s[1] * wo:s[1] * wo + k[1], cc] += dy[n, ho, wo, cc] / (k[0] * k[1])
    np.testing.assert_allclose(dx, ref, rtol=1e-12, atol=1e-15)


def test_maxpool_sends_a_tied_window_gradient_to_its_first_maximal_entry_only():
    x = np.zeros((1, 2, 2, 1))                        # all four entries tie
    layer = MaxPool2D(2)
    layer.forward(x)
    dx = layer.backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[5.0, 0.0], [0.0, 0.0]])
    x = np.array([[1.0, 3.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)   # tie between (0,1) and (1,0)
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_upsample_matches_its_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 2, 2))
    layer = Upsample2D((2, 3))
    y = layer.forward(x)
    for n, h, w, c in np.ndindex(y.shape):
        assert y[n, h, w, c] == x[n, h // 2, w // 3, c]
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    ref = np.zeros_like(x)
    for n, h, w, c in np.ndindex(dy.shape):
        ref[n, h // 2, w // 3, c] += dy[n, h, w, c]
    np.testing.assert_allclose(dx, ref, rtol=1e-12)


# ---- adjoints ------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(g=geometries(), c_in=st.integers(1, 3), c_out=st.integers(1, 3), batch=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_conv_transpose_is_the_adjoint_of_conv(g, c_in, c_out, batch, seed):
    """<Conv2D(x), y> = <x, ConvTranspose2D(y)> with the same W, zero bias, identity activation,
    and ConvTranspose2D maps the Conv2D's output size back to exactly its input size."""
    rng = np.random.default_rng(seed)
    conv = _conv(g, c_in, c_out, seed=seed)
    convt = _conv(g, c_out, c_in, seed=seed + 1, transpose=True)
    assert convt.W.shape == conv.W.shape
    convt.W.value[...] = conv.W.value
    x = rng.normal(size=(batch,) + g["size"] + (c_in,))
    y = rng.normal(size=(batch,) + g["out"] + (c_out,))
    cx, ty = conv.forward(x), convt.forward(y)
    assert cx.shape == y.shape and ty.shape == x.shape
    lhs, rhs = np.vdot(cx, y), np.vdot(x, ty)
    assert abs(lhs - rhs) <= 1e-12 * (np.abs(cx).sum() * np.abs(y).max() + 1), (lhs, rhs)


@settings(max_examples=25, deadline=None)
@given(g=geometries(), c=st.integers(1, 3), batch=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_col2im_is_the_adjoint_of_im2col(g, c, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch,) + g["size"] + (c,))
    cols = im2col(x, g["kernel_size"], g["stride"], g["padding"])
    assert cols.shape == (batch,) + g["out"] + g["kernel_size"] + (c,)
    u = rng.normal(size=cols.shape)
    back = col2im(u, x.shape, g["kernel_size"], g["stride"], g["padding"])
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(cols, u), np.vdot(x, back), rtol=1e-12, atol=1e-12)


def test_the_adjoint_pair_of_the_28x28_autoencoder():
    """28 -> 14 -> 7 with kernel 3, stride 2, padding 1, and back with output_padding 1."""
    rng = np.random.default_rng(0)
    conv = Conv2D(16, 32, 3, 2, 1, rng=0, dtype=np.float64)
    convt = ConvTranspose2D(32, 16, 3, 2, 1, output_padding=1, rng=1, dtype=np.float64)
    convt.W.value[...] = conv.W.value
    x, y = rng.normal(size=(2, 14, 14, 16)), rng.normal(size=(2, 7, 7, 32))
    assert conv.forward(x).shape == y.shape and convt.forward(y).shape == x.shape
    np.testing.assert_allclose(np.vdot(conv.forward(x), y), np.vdot(x, convt.forward(y)),
                               rtol=1e-12)


# ---- the layer protocol -----------------------------------------------------------------------

def _layers():
    return [Conv2D(2, 3, 3, 2, 1, "tanh", rng=0, dtype=np.float64),
            ConvTranspose2D(2, 3, 3, 2, 1, 1, "sigmoid", rng=0, dtype=np.float64),
            MaxPool2D(2), AvgPool2D(2, 1), Upsample2D(2)]


@pytest.mark.parametrize("layer", _layers(), ids=lambda l: type(l).__name__)
def test_nothing_given_or_returned_is_written_into(layer):
    """x and dy are left alone; the y and dx of one call survive later calls of other shapes
    and the same shape (the workspace buffers never reach a caller)."""
    rng = np.random.default_rng(0)
    x1, x2, x3 = (rng.normal(size=(b, 6, 6, 2)) for b in (3, 2, 3))
    keep = x1.copy()
    y1 = layer.forward(x1)
    y1_copy = y1.copy()
    dy1 = rng.normal(size=y1.shape)
    dy1_copy = dy1.copy()
    dx1 = layer.backward(dy1)
    dx1_copy = dx1.copy()
    for x in (x2, x3):
        y = layer.forward(x)
        layer.backward(rng.normal(size=y.shape))
    np.testing.assert_array_equal(x1, keep)
    np.testing.assert_array_equal(dy1, dy1_copy)
    np.testing.assert_array_equal(y1, y1_copy)
    np.testing.assert_array_equal(dx1, dx1_copy)


@pytest.mark.parametrize("transpose", [False, True])
def test_backward_adds_into_the_gradients_and_skips_dx_without_input_grad(transpose):
    rng = np.random.default_rng(0)
    layer = (ConvTranspose2D(2, 3, 3, 2, 1, 1, "tanh", rng=0, dtype=np.float64) if transpose
             else Conv2D(2, 3, 3, 2, 1, "tanh", rng=0, dtype=np.float64))
    x = rng.normal(size=(2, 5, 5, 2))
    dy = rng.normal(size=layer.forward(x).shape)
    layer.backward(dy)
    once = (layer.W.grad.copy(), layer.b.grad.copy())
    assert layer.backward(dy, input_grad=False) is None
    np.testing.assert_allclose(layer.W.grad, 2 * once[0], rtol=1e-13)
    np.testing.assert_allclose(layer.b.grad, 2 * once[1], rtol=1e-13)


def test_conv_forgets_the_padding_pattern_of_an_earlier_input_size():
    """Inputs of height 28 and 27 both give 14 rows with kernel 3, stride 2, padding 1, so they
    share the im2col buffer, but the last window row reads input in one and padding in the
    other: the buffer's padding entries must be zeroed again."""
    rng = np.random.default_rng(0)
    layer = Conv2D(1, 2, 3, 2, 1, rng=0, dtype=np.float64)
    fresh = Conv2D(1, 2, 3, 2, 1, rng=0, dtype=np.float64)
    layer.forward(rng.normal(size=(2, 28, 28, 1)) + 5)
    x = rng.normal(size=(2, 27, 27, 1))
    np.testing.assert_array_equal(layer.forward(x), fresh.forward(x))
    dy = rng.normal(size=(2, 14, 14, 2))
    layer.W.zero_grad()
    np.testing.assert_array_equal(layer.backward(dy), fresh.backward(dy))
    np.testing.assert_array_equal(layer.W.grad, fresh.W.grad)


def test_im2col_fills_a_reused_buffer_wholly():
    x = np.arange(2 * 5 * 5 * 1.0).reshape(2, 5, 5, 1)
    out = np.full((2, 3, 3, 3, 3, 1), np.nan)
    np.testing.assert_array_equal(im2col(x, 3, 2, 1, out=out), im2col(x, 3, 2, 1))


def test_float32_layers_stay_float32():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    net = Sequential([Conv2D(1, 4, 3, 2, 1, "relu", rng=0), MaxPool2D(2),
                      ConvTranspose2D(4, 2, 3, 2, 1, 1, rng=0), Upsample2D(2), AvgPool2D(2)])
    y = net.forward(x)
    assert y.dtype == np.float32 and y.shape == (2, 4, 4, 2)
    assert net.backward(np.ones_like(y)).dtype == np.float32


def test_reshape_and_flatten_declare_the_row_sizes_of_a_stack():
    net = Sequential([Reshape((4, 4, 1)), Conv2D(1, 2, 3, 1, 1), Flatten((4, 4, 2)), Dense(32, 3)])
    assert input_dim(net) == 16 and output_dim(net) == 3
    assert input_dim(Sequential([Conv2D(1, 2, 3), Flatten((2, 2, 2))])) is None


def test_user_calls_check_and_cast_the_input():
    layer = Conv2D(1, 2, 3, padding=1, rng=0)
    y = layer(np.zeros((2, 4, 4, 1), dtype=np.int64))
    assert y.dtype == np.float32 and y.shape == (2, 4, 4, 2)
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        layer(np.zeros((2, 16)))
    with pytest.raises(ValueError, match=r"1 channels.*\(2, 1, 4, 4\).*channels last"):
        Conv2D(1, 2, 3)(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        layer(np.full((1, 4, 4, 1), np.nan))
    assert Flatten((4, 4, 2))(y).shape == (2, 32)
    assert Reshape((4, 4, 1))(np.zeros((2, 16))).shape == (2, 4, 4, 1)


# ---- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape, text", [
    (Conv2D(1, 2, 5), (1, 4, 6, 1), r"kernel_size 5 is larger than the padded input height: 4 \+ 2 \* padding 0 = 4"),
    (Conv2D(1, 2, (3, 5), padding=(1, 1)), (1, 4, 2, 1), r"kernel_size 5 is larger than the padded input width: 2 \+ 2 \* padding 1 = 4"),
    (Conv2D(1, 2, 3, 2), (1, 6, 7, 1), r"stride 2 does not divide the input height: 6 - kernel_size 3 = 3 .*last 1 input rows"),
    (Conv2D(1, 2, 3, 3, 1), (1, 6, 6, 1), r"stride 3 does not divide the input height: 6 \+ 2 \* padding 1 - kernel_size 3 = 5 is not a multiple of 3, so the last 1 input rows"),
    (Conv2D(1, 2, 3, 3), (1, 7, 7, 1), r"stride 3 does not divide the input height: 7 - kernel_size 3 = 4 .*last 1 input rows"),
    (MaxPool2D(3, 2), (1, 5, 6, 1), r"stride 2 does not divide the input width: 6 - pool_size 3 = 3"),
    (MaxPool2D(3), (1, 2, 3, 1), r"pool_size 3 is larger than the padded input height: 2"),
    (AvgPool2D(2), (1, 5, 4, 1), r"stride 2 does not divide the input height: 5 - pool_size 2 = 3"),
    (Conv2D(3, 2, 1), (1, 4, 4, 2), r"3 channels .*\(1, 4, 4, 2\)"),
    (ConvTranspose2D(3, 2, 1), (1, 4, 4, 2), r"3 channels .*\(1, 4, 4, 2\)"),
    (ConvTranspose2D(1, 1, 3, 1, 2), (1, 1, 4, 1), r"output height \(1 - 1\) \* stride 1 - 2 \* padding 2 \+ kernel_size 3 \+ output_padding 0 = -1"),
    (Conv2D(1, 2, 3), (4, 4, 1), r"\(batch, height, width, channels\).*\(4, 4, 1\)"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None)
def test_geometry_errors_name_the_argument_and_the_sizes(layer, shape, text):
    with pytest.raises(ValueError, match=text):
        layer.forward(np.zeros(shape, dtype=np.float32))


def test_a_stride_may_leave_over_padding_rows_but_no_input_rows():
    """(28 + 2 - 3) = 27 is odd: the one left-over row is padding, so 28 -> 14 is fine; with
    no padding the left-over row would be input, which is refused."""
    assert Conv2D(1, 1, 3, 2, 1).forward(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 14, 14, 1)
    with pytest.raises(ValueError, match="last 1 input rows would be read by no window"):
        Conv2D(1, 1, 3, 2, 0).forward(np.zeros((1, 28, 28, 1), np.float32))


@pytest.mark.parametrize("make, exc, text", [
    (lambda: Conv2D(0, 2, 3), ValueError, "in_channels"),
    (lambda: Conv2D(1, 2.0, 3), TypeError, "out_channels"),
    (lambda: Conv2D(1, 2, 0), ValueError, "kernel_size must be >= 1"),
    (lambda: Conv2D(1, 2, (3, 3, 3)), ValueError, r"kernel_size must be an int or a \(height, width\) pair"),
    (lambda: Conv2D(1, 2, True), TypeError, "kernel_size"),
    (lambda: Conv2D(1, 2, 3, stride=0), ValueError, "stride must be >= 1"),
    (lambda: Conv2D(1, 2, 3, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: Conv2D(1, 2, 3, padding=3), ValueError, "padding must be < kernel_size along the height"),
    (lambda: Conv2D(1, 2, 3, activation="nope"), ValueError, "activation"),
    (lambda: Conv2D(1, 2, 3, init="nope"), ValueError, "init"),
    (lambda: Conv2D(1, 2, 3, dtype=np.int32), TypeError, "dtype"),
    (lambda: ConvTranspose2D(1, 2, 3, 2, 1, output_padding=2), ValueError,
     "output_padding must be < stride and <= padding along the height, got output_padding 2 with stride 2"),
    (lambda: ConvTranspose2D(1, 2, 3, 2, 0, output_padding=1), ValueError, "output_padding must be < stride and <= padding"),
    (lambda: MaxPool2D(0), ValueError, "pool_size"),
    (lambda: AvgPool2D(2, stride="2"), TypeError, "stride"),
    (lambda: Upsample2D(0), ValueError, "factor"),
    (lambda: Reshape("28x28"), TypeError, "shape"),
    (lambda: Reshape(()), ValueError, "shape"),
    (lambda: Flatten((4, 0)), ValueError, r"shape\[1\]"),
])
def test_constructor_errors(make, exc, text):
    with pytest.raises(exc, match=text):
        make()


def test_reshape_and_flatten_refuse_other_shapes():
    with pytest.raises(ValueError, match=r"Reshape\(\(4, 4, 1\)\) expects input of shape \(batch, 16\), got \(2, 15\)"):
        Reshape((4, 4, 1)).forward(np.zeros((2, 15)))
    with pytest.raises(ValueError, match=r"Flatten\(\(4, 4, 1\)\) expects input of shape \(batch, \*\(4, 4, 1\)\), got \(2, 4, 1, 4\)"):
        Flatten((4, 4, 1)).forward(np.zeros((2, 4, 1, 4)))


def test_backward_refuses_a_dy_of_the_wrong_shape():
    x = np.zeros((2, 4, 4, 1))
    for layer in (Conv2D(1, 2, 3, 1, 1, "tanh", dtype=np.float64), MaxPool2D(2), Upsample2D(2)):
        y = layer.forward(x)
        with pytest.raises(ValueError, match="dy must have"):
            layer.backward(np.zeros((2,) + y.shape[1:-1] + (y.shape[-1] + 1,)))


# ---- persistence ------------------------------------------------------------------------------

def test_a_model_with_every_conv_layer_saves_and_loads(tmp_path):
    encoder = Sequential([Reshape((8, 8, 1)), Conv2D(1, 3, (3, 2), (1, 2), (1, 0), "elu", rng=0),
                          MaxPool2D(2), AvgPool2D((2, 1), 1), Flatten((3, 2, 3)), Dense(18, 4, rng=1)])
    decoder = Sequential([Dense(4, 12, "relu", rng=2), Reshape((2, 2, 3)),
                          ConvTranspose2D(3, 2, 3, 2, 1, 1, "tanh", rng=3), Upsample2D((2, 4)),
                          Conv2D(2, 1, (1, 3), (1, 2), (0, 1), rng=4), Flatten((8, 8, 1))])
    model = Autoencoder(encoder, decoder, "bce")
    assert model.input_dim == 64 and model.code_dim == 4
    X = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    path = numpyae.save(model, tmp_path / "conv.npz")
    back = numpyae.load(path)
    assert repr(back) == repr(model)
    for (name, p), (name2, q) in zip(model.named_parameters(), back.named_parameters()):
        assert name == name2 and p.value.dtype == q.value.dtype
        np.testing.assert_array_equal(p.value, q.value)
    np.testing.assert_array_equal(back.reconstruct(X), model.reconstruct(X))
    assert back.encoder[1].kernel_size == (3, 2) and back.decoder[2].output_padding == (1, 1)
