"""Convolutional layers with hand-derived backward passes: Conv2D, ConvTranspose2D, MaxPool2D,
AvgPool2D, Upsample2D, and Reshape / Flatten between flat rows and images.

Layout: NHWC. An image batch is (batch, height, width, channels), channels last. A convolution
is one matrix product cols @ W, cols (B*Ho*Wo, kh*kw*C) the im2col matrix and W (kh*kw*C, O),
and its result (B*Ho*Wo, O) already IS the output in NHWC: no layer ever transposes an array.
(In NCHW each layer would transpose its output to (B, O, Ho, Wo) and its incoming gradient
back: measured at batch 256 on 28x28 MNIST shapes, that transpose alone costs more than the
first layer's im2col and matrix product together.)

Models take flat rows. Every numpyae model takes rows (B, D), and so do the convolutional ones:
their encoder starts with Reshape((H, W, C)), which views each row as an image, and their
decoder ends with Flatten((H, W, C)). fit, evaluate, the gradient checker, the corruptions and
the datasets work on them unchanged. A row is the image's pixels in row-major order with the C
channels of a pixel next to each other; for one channel (every bundled dataset) that is simply
the row-major order of the pixels.

Geometry along one axis (height; width is the same with its own kernel, stride and padding):

    Ho = floor((H + 2p - k) / s) + 1            output size of a k-wide window with stride s
    output position ho reads input rows s*ho + i - p,  i = 0 .. k-1     (outside [0, H): zeros)

The zero padding is never materialised: for each kernel offset i, the output positions whose row
lies inside the input are one contiguous range, and the input rows they read are one strided
slice (``axis_offsets``). im2col copies those slices, col2im adds them back: kh * kw slice
operations, each vectorized over the whole batch, and no Python loop over pixels or examples.
col2im gathers its additions by stride phase, so that none of them writes strided (col2im's
docstring). The slices of a geometry are computed once and cached (``_plan``), and the layers
call the unchecked cores of im2col / col2im with their own checked arguments.

Refused with a ValueError that names the argument and the sizes, before any work:
    a kernel larger than the padded input                   k > H + 2p
    a stride that does not divide the input: input rows no window reads,
        (H + 2p - k) mod s > p   (up to p left-over rows are padding and harmless)
    padding >= kernel_size (windows made of padding only), a channel count that does not match.

Parameters are W (kh, kw, C_in, C_out) for Conv2D, (kh, kw, C_out, C_in) for ConvTranspose2D
(the shape of the Conv2D weight it is the adjoint of), and a bias b per output channel.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..core.checks import check_array, check_dtype, check_positive_int
from ..core.random import as_generator
from ..core.registry import register
from .activations import get_activation
from .initializers import default_init_for, initialize
from .layers import (Layer, Workspace, activation_chain, activation_kink_margin,
                     activation_kink_state, batch_sum)
from .parameter import Parameter

_AXES = (("height", "rows"), ("width", "columns"))


# ---- arguments and geometry -------------------------------------------------------------------

def as_pair(value, name, *, minimum=1):
    """(v_height, v_width) from an int or a pair of ints, each >= minimum; else a clear error."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}")
        items = list(value)
    else:
        items = [value, value]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _plain(pair):
    """The saved form of a pair: one int when both entries agree, else a [h, w] list."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def _check_padding(padding, kernel_size):
    for p, k, (axis, _) in zip(padding, kernel_size, _AXES):
        if p >= k:
            raise ValueError(f"padding must be < kernel_size along the {axis} (a window of "
                             f"padding only), got padding {p} with kernel_size {k}")


def conv_output_size(size, kernel, stride, padding, *, axis=0, kernel_name="kernel_size"):
    """Ho = floor((H + 2p - k) / s) + 1 along one axis (0 height, 1 width), or a ValueError for
    a kernel larger than the padded input or a stride that leaves input rows unread."""
    name, unit = _AXES[axis]
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(f"{kernel_name} {kernel} is larger than the padded input {name}: "
                         f"{size} + 2 * padding {padding} = {padded}")
    left = (padded - kernel) % stride
    if left > padding:
        pad = f" + 2 * padding {padding}" if padding else ""
        more = " (up to padding more is allowed)" if padding else ""
        raise ValueError(f"stride {stride} does not divide the input {name}: {size}{pad} - "
                         f"{kernel_name} {kernel} = {padded - kernel} is not a multiple of "
                         f"{stride}, so the last {left - padding} input {unit} would be read by "
                         f"no window; choose sizes for which {size}{' + 2 * padding' if padding else ''}"
                         f" - {kernel_name} is a multiple of the stride{more}")
    return (padded - kernel) // stride + 1


def output_size_2d(height_width, kernel_size, stride, padding, kernel_name="kernel_size"):
    """(Ho, Wo) of a kh x kw window with the given stride and padding (pairs), checked."""
    return tuple(conv_output_size(n, k, s, p, axis=a, kernel_name=kernel_name) for a, (n, k, s, p)
                 in enumerate(zip(height_width, kernel_size, stride, padding)))


def axis_offsets(size, out_size, kernel, stride, padding):
    """For each kernel offset i along one axis: (lo, hi, sl). Output positions lo .. hi-1 read
    input rows s*o + i - p that lie inside [0, size), and the slice sl selects exactly those
    rows (the others read zero padding). Empty (lo == hi) when offset i only ever reads padding."""
    out = []
    for i in range(kernel):
        lo = max(0, -((i - padding) // stride))                       # ceil((p - i) / s)
        hi = min(out_size, (size - 1 - i + padding) // stride + 1)
        if hi <= lo:
            out.append((0, 0, slice(0, 0)))
            continue
        start = stride * lo + i - padding
        out.append((lo, hi, slice(start, start + stride * (hi - lo - 1) + 1, stride)))
    return out


def _offsets_2d(in_hw, out_hw, kernel_size, stride, padding):
    return [axis_offsets(n, m, k, s, p) for n, m, k, s, p
            in zip(in_hw, out_hw, kernel_size, stride, padding)]


def _phase_terms(offsets, size, stride):
    """col2im's terms along one axis, grouped by stride phase: for each r < stride, the input
    rows r, r + s, r + 2s, ... (n_r of them) and [(i, lo, hi, q0)], every kernel offset i
    whose output positions lo .. hi-1 land on phase rows q0 .. q0 + hi - lo - 1 (input row
    r + s*q). Each offset lands on ONE phase: s*o + i - p = r (mod s) for every o."""
    phases = []
    for r in range(stride):
        terms = [(i, lo, hi, sl.start // stride) for i, (lo, hi, sl) in enumerate(offsets)
                 if hi > lo and sl.start % stride == r]
        phases.append((r, len(range(r, size, stride)), terms))
    return phases


def _phase_blocks(row_phases, col_phases):
    """For each stride phase (r, c): (r, c, n_r, n_c, first, rest), the blocks col2im adds
    into it as (index into cols, index into the phase's (B, n_r, n_c, C) array) pairs; first
    is the index into cols of a block that covers the whole phase (None if none does), rest
    the other blocks."""
    out = []
    for r, n_r, row_terms in row_phases:
        for c, n_c, col_terms in col_phases:
            blocks, first = [], None
            for i, lo, hi, q in row_terms:
                for j, lo2, hi2, q2 in col_terms:
                    src = (slice(None), slice(lo, hi), slice(lo2, hi2), i, j)
                    if first is None and (q, hi - lo, q2, hi2 - lo2) == (0, n_r, 0, n_c):
                        first = src
                        continue
                    blocks.append((src, (slice(None), slice(q, q + hi - lo),
                                         slice(q2, q2 + hi2 - lo2))))
            out.append((r, c, n_r, n_c, first, blocks))
    return out


class _Plan(NamedTuple):
    """The geometry of a window over an input size, as im2col and col2im use it (see _plan)."""
    out_h: int
    out_w: int
    rows: list            # axis_offsets of the height: [(lo, hi, slice)] per kernel row i
    cols: list            # axis_offsets of the width, per kernel column j
    stride: tuple
    padding: tuple
    phases: list          # _phase_blocks: col2im's blocks, by stride phase


@functools.lru_cache(maxsize=256)
def _plan(height, width, kernel_size, stride, padding):
    """The checked geometry of a window (pairs for kernel_size, stride, padding) over a
    height x width input, computed once per geometry (cached; never modified): a _Plan.
    Raises conv_output_size's ValueError for a geometry that does not fit (never cached)."""
    Ho, Wo = output_size_2d((height, width), kernel_size, stride, padding)
    rows, cols = _offsets_2d((height, width), (Ho, Wo), kernel_size, stride, padding)
    phases = _phase_blocks(_phase_terms(rows, height, stride[0]),
                           _phase_terms(cols, width, stride[1]))
    return _Plan(Ho, Wo, rows, cols, stride, padding, phases)


def _check_images(x, owner, channels=None):
    """x must be an NHWC batch (B, H, W, C), with `channels` channels if given; the error names
    `owner` (a layer, described by its repr, or a function's name)."""
    if isinstance(x, np.ndarray) and x.ndim == 4 and (channels is None or x.shape[3] == channels):
        return
    name = owner if isinstance(owner, str) else repr(owner)
    shape = getattr(x, "shape", None)
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"{name} expects x of shape (batch, height, width, channels) (NHWC), "
                         f"got shape {shape}")
    hint = " (images are NHWC: channels last)" if x.shape[1] == channels else ""
    raise ValueError(f"{name} expects x with {channels} channels (last axis), got shape "
                     f"{shape}{hint}")


# ---- im2col / col2im: the two directions of one gather ------------------------------------------

def im2col(x, kernel_size, stride=1, padding=0, *, out=None):
    """The columns of a convolution: every kh x kw window of the zero-padded x, one row per
    output pixel.

        cols[b, ho, wo, i, j, c] = xpad[b, s_h*ho + i, s_w*wo + j, c]     xpad: x with p zeros around

    Shapes: x (B, H, W, C) -> cols (B, Ho, Wo, kh, kw, C), which reshapes (a view) to the
    (B*Ho*Wo, kh*kw*C) matrix whose product with W (kh*kw*C, O) is the convolution.
    out: a C-contiguous array of cols' shape to fill (wholly overwritten), or None.

    Two ways, by the length kw*C of the runs of consecutive values a window row holds:
    from kw*C >= STRIDED_MIN_RUN on, xpad is written (one copy of x into a zero-bordered
    array) and cols copied from a strided view of all its windows in one pass; below it, kh*kw
    strided slice copies, each over the whole batch, write the padding as zeros and never build
    xpad (a view with runs of a few values copies slowly: measured 2.7x slower for C = 1,
    2x faster for kw*C = 48).
    """
    kernel_size, stride = as_pair(kernel_size, "kernel_size"), as_pair(stride, "stride")
    padding = as_pair(padding, "padding", minimum=0)
    _check_images(x, "im2col")
    B, H, W, C = x.shape
    plan = _plan(H, W, kernel_size, stride, padding)
    shape = (B, plan.out_h, plan.out_w) + kernel_size + (C,)
    if out is not None and (out.shape != shape or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous array of shape {shape}, got {out.shape}")
    return _im2col(x, plan, kernel_size, out)


#: im2col copies from a strided view of the padded input when a window row is a run of at
#: least this many consecutive values (kw * C), else slice by slice (im2col's docstring)
STRIDED_MIN_RUN = 16


def _im2col(x, plan, kernel_size, out=None, padded=None):
    """im2col's work on checked arguments: plan = _plan(H, W, kernel_size, stride, padding).
    padded: for the strided way, an array (B, H + 2 p_h, W + 2 p_w, C) whose border is zero
    (a layer's reused buffer; only its interior is written), or None for a new one."""
    B, H, W, C = x.shape
    shape = (B, plan.out_h, plan.out_w) + kernel_size + (C,)
    if kernel_size[1] * C >= STRIDED_MIN_RUN:
        (ph, pw), (sh, sw) = plan.padding, plan.stride
        if padded is None:
            padded = np.zeros((B, H + 2 * ph, W + 2 * pw, C), dtype=x.dtype)
        padded[:, ph:ph + H, pw:pw + W] = x
        b, h, w, c = padded.strides
        windows = as_strided(padded, shape, (b, sh * h, sw * w, h, w, c), writeable=False)
        if out is None:
            return windows.copy()
        np.copyto(out, windows)
        return out
    fresh = out is None
    if fresh:
        out = np.zeros(shape, dtype=x.dtype)
    for i, (lo_h, hi_h, sl_h) in enumerate(plan.rows):
        for j, (lo_w, hi_w, sl_w) in enumerate(plan.cols):
            dst = out[:, :, :, i, j, :]
            dst[:, lo_h:hi_h, lo_w:hi_w] = x[:, sl_h, sl_w]
            if not fresh:                       # positions that read padding: zeros
                dst[:, :lo_h] = 0
                dst[:, hi_h:] = 0
                dst[:, lo_h:hi_h, :lo_w] = 0
                dst[:, lo_h:hi_h, hi_w:] = 0
    return out


def col2im(cols, input_shape, kernel_size, stride=1, padding=0, *, out=None):
    """The adjoint of im2col: every column entry is added back to the input pixel it was copied
    from (entries copied from the padding are dropped).

        dx[b, h, w, c] = sum of cols[b, ho, wo, i, j, c] over s_h*ho + i - p_h = h, s_w*wo + j - p_w = w

    so that <im2col(x), cols> = <x, col2im(cols)> for all x, cols.
    Shapes: cols (B, Ho, Wo, kh, kw, C) or its (B*Ho*Wo, kh*kw*C) matrix; input_shape is
    x's (B, H, W, C); returns dx (B, H, W, C). out: an array of x's shape to write into (wholly
    overwritten), or None.

    By stride phase: the input rows h = r (mod s_h) and columns w = c (mod s_w) of one phase
    (r, c) receive exactly the kernel offsets (i, j) with i - p_h = r (mod s_h) and j - p_w = c
    (mod s_w), each as one contiguous block of the phase. Per phase, the sum of its blocks is
    formed in a contiguous buffer (the first block that covers the whole phase is copied in
    rather than added to zeros) and written into dx's strided rows once: kh * kw additions in
    all, and none of them strided (for stride 1 the one phase is dx itself). Measured 25-30%
    faster than adding every block into dx's strided rows.
    """
    kernel_size, stride = as_pair(kernel_size, "kernel_size"), as_pair(stride, "stride")
    padding = as_pair(padding, "padding", minimum=0)
    B, H, W, C = (int(n) for n in input_shape)
    plan = _plan(H, W, kernel_size, stride, padding)
    shape = (B, plan.out_h, plan.out_w) + kernel_size + (C,)
    if cols.shape not in (shape, (B * plan.out_h * plan.out_w,
                                  kernel_size[0] * kernel_size[1] * C)):
        raise ValueError(f"cols must have shape {shape} (or its matrix form) for input_shape "
                         f"{tuple(input_shape)}, got {cols.shape}")
    if out is not None and out.shape != (B, H, W, C):
        raise ValueError(f"out must have shape {(B, H, W, C)}, got {out.shape}")
    return _col2im(cols.reshape(shape), (B, H, W, C), plan, out)


def _col2im(cols, input_shape, plan, out=None):
    """col2im's work on checked arguments: cols (B, Ho, Wo, kh, kw, C), plan = _plan(H, W, ...)."""
    if out is None:
        out = np.empty(input_shape, dtype=cols.dtype)
    B, _, _, C = input_shape
    sh, sw = plan.stride
    for r, c, n_r, n_c, first, rest in plan.phases:
        target = out[:, r::sh, c::sw]
        if first is None and not rest:          # rows no window reads (a kernel < stride)
            target[...] = 0
            continue
        if not rest:                            # one block covers the phase: one copy
            target[...] = cols[first]
            continue
        acc = target if sh == sw == 1 else np.empty((B, n_r, n_c, C), dtype=out.dtype)
        if first is None:
            acc[...] = 0
        else:
            acc[...] = cols[first]
        for src, dst in rest:
            acc[dst] += cols[src]
        if acc is not target:
            target[...] = acc
    return out


# ---- the convolution and its adjoint, shared by Conv2D and ConvTranspose2D ----------------------

def _columns(layer, x, kernel_size, stride, padding, buffer):
    """im2col(x) as the (B*Ho*Wo, kh*kw*C) matrix, into the layer's workspace buffer `buffer`:
    the operand of Conv2D's forward product (and of ConvTranspose2D's backward). The padded
    copy of x that im2col's strided way reads is the workspace buffer "<buffer>-padded", whose
    zero border is written once, when it is made."""
    B, H, W, C = x.shape
    plan = _plan(H, W, kernel_size, stride, padding)
    shape = (B, plan.out_h, plan.out_w) + kernel_size + (C,)
    matrix = layer._work.get(buffer, (B * plan.out_h * plan.out_w,
                                      kernel_size[0] * kernel_size[1] * C), x.dtype)
    padded = None
    if kernel_size[1] * C >= STRIDED_MIN_RUN:
        (ph, pw) = padding
        padded = layer._work.get(f"{buffer}-padded", (B, H + 2 * ph, W + 2 * pw, C), x.dtype,
                                 fill=0)
    _im2col(x, plan, kernel_size, out=matrix.reshape(shape), padded=padded)
    return matrix


def _correlate_adjoint(layer, G, W2, input_shape, kernel_size, stride, padding, buffer):
    """Conv2D's backward-data path:  dx = col2im(G W2^T)  (B, H, W, C), a new array.
    G (B*Ho*Wo, O), W2 (kh*kw*C, O); the product goes into the workspace buffer `buffer` (the
    same (B*Ho*Wo, kh*kw*C) matrix _columns asks for: ConvTranspose2D's forward and backward
    share one)."""
    B, H, W, C = input_shape
    plan = _plan(H, W, kernel_size, stride, padding)
    dcols = layer._work.get(buffer, (G.shape[0], W2.shape[0]), np.result_type(G, W2))
    np.matmul(G, W2.T, out=dcols)
    return _col2im(dcols.reshape((B, plan.out_h, plan.out_w) + kernel_size + (C,)),
                   tuple(input_shape), plan)


def _add_weight_grad(W, cols2d, G):
    """W.grad += cols^T G, reshaped to W's shape (cols2d (N, K), G (N, M), W.grad K*M values)."""
    W.grad += (cols2d.T @ G).reshape(W.grad.shape)


class _ImageLayer(Layer):
    """A layer whose input is an NHWC image batch (B, H, W, C)."""

    in_channels = None

    def __call__(self, x, *, training=False):
        """forward() on user input: x is checked (4-D (batch, height, width, channels), real,
        finite, the layer's channel count) and cast to the layer's dtype first."""
        params = self.parameters()
        dtype = params[0].value.dtype.type if params else None
        x = check_array(x, "x", ndim=4, dtype=dtype)
        _check_images(x, self, self.in_channels)
        return self.forward(x, training=training)


class _Convolution(_ImageLayer):
    """What Conv2D and ConvTranspose2D share: arguments, weights, config."""

    def _setup(self, in_channels, out_channels, kernel_size, stride, padding, activation, init,
               rng, dtype):
        """Checked arguments; W drawn with `init` as a (kh*kw*in_channels, out_channels) matrix."""
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.padding = as_pair(padding, "padding", minimum=0)
        _check_padding(self.padding, self.kernel_size)
        self.activation = get_activation(activation)
        self.init = init or default_init_for(self.activation.name)
        dtype = check_dtype(dtype)
        kh, kw = self.kernel_size
        W2 = initialize(self.init, kh * kw * self.in_channels, self.out_channels,
                        as_generator(rng), dtype)
        self.b = Parameter(np.zeros(self.out_channels, dtype=dtype))
        self.x = self.a = self.y = None
        self._work = Workspace()
        return W2.reshape(kh, kw, self.in_channels, self.out_channels)

    def named_parameters(self):
        return [("W", self.W), ("b", self.b)]

    def kink_state(self):
        """{"relu at a = 0": a > 0 (B, Ho, Wo, C_out)} for each kink of the activation after the
        last forward, as Dense has; {} for a smooth one. For the gradient checker only (module
        doc of numpyae.nn.layers); never called in training."""
        return activation_kink_state(self)

    def kink_margin(self):
        """{"relu at a = 0": |a| (B, Ho, Wo, C_out)}: each pre-activation's distance to each
        kink of the activation, named as kink_state."""
        return activation_kink_margin(self)

    def _finish(self, A, shape):
        """a = A + b (in place, A is new), y = f(a); cached; returns y."""
        A += self.b.value
        self.a = A.reshape(shape)
        self.y = self.activation(self.a)
        return self.y

    def get_config(self, ctx):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": _plain(self.kernel_size), "stride": _plain(self.stride),
                "padding": _plain(self.padding), "activation": self.activation.get_config(),
                "init": self.init}

    def _describe(self, extra=""):
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size="
                f"{_plain(self.kernel_size)}, stride={_plain(self.stride)}, padding="
                f"{_plain(self.padding)}{extra})")


@register
class Conv2D(_Convolution):
    """2-D convolution (cross-correlation, the kernel is not flipped, as in every deep-learning
    library) with a bias and an activation, as one matrix product:

        a[b, ho, wo, o] = sum_{i, j, c} xpad[b, s_h*ho + i, s_w*wo + j, c] W[i, j, c, o] + bias[o]
                        = (cols W2)[(b, ho, wo), o] + bias[o],  cols = im2col(x)   (B*Ho*Wo, kh*kw*C)
                                                                W2 = W as (kh*kw*C, O)
        y = f(a)
    Shapes:  x (B, H, W, C)   W (kh, kw, C, O)   bias (O,)   a, y (B, Ho, Wo, O)
             Ho = floor((H + 2 p_h - kh) / s_h) + 1,  Wo likewise   (xpad: x with p zeros around)

    Backward, given dy = dL/dy (B, Ho, Wo, O), with G = dy * f'(a) as a (B*Ho*Wo, O) matrix:
        dW2   += cols^T G                               (kh*kw*C, O)
        dbias += sum over b, ho, wo of G                (O,)
        dx     = col2im(G W2^T)                         (B, H, W, C)  (not with input_grad=False)
               i.e. dx[b, h, w, c] = sum of G[(b, ho, wo), o] W[i, j, c, o] over all o and all
               (ho, i), (wo, j) with s_h*ho + i - p_h = h and s_w*wo + j - p_w = w
    col2im is the adjoint of im2col, so dx is the transpose of the forward map applied to G.

    The im2col matrix is kept in the layer's Workspace from forward to backward (backward
    follows the forward it belongs to). Weights are drawn with `init` as a (kh*kw*C, O) matrix
    (fan_in = kh*kw*C, the inputs of one output value).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 activation="identity", *, init=None, rng=None, dtype=np.float32):
        self.W = Parameter(self._setup(in_channels, out_channels, kernel_size, stride, padding,
                                       activation, init, rng, dtype))
        self._cols = None         # the im2col matrix of the last forward (in the Workspace)

    def output_shape(self, input_shape):
        """(Ho, Wo, O) of an input image of shape (H, W, C) (ValueError if it does not fit)."""
        H, W, C = input_shape
        if C != self.in_channels:
            raise ValueError(f"{self._describe()} takes {self.in_channels} input channels, got "
                             f"an input of shape {tuple(input_shape)} (height, width, channels)")
        try:
            Ho, Wo = output_size_2d((H, W), self.kernel_size, self.stride, self.padding)
        except ValueError as exc:
            raise ValueError(f"{self._describe()}: {exc}") from None
        return Ho, Wo, self.out_channels

    def forward(self, x, *, training=True):
        _check_images(x, self, self.in_channels)
        B = x.shape[0]
        Ho, Wo, O = self.output_shape(x.shape[1:])
        self._cols = _columns(self, x, self.kernel_size, self.stride, self.padding, "cols")
        A = self._cols @ self.W.value.reshape(-1, O)
        self.x = x
        return self._finish(A, (B, Ho, Wo, O))

    def backward(self, dy, *, input_grad=True):
        g = activation_chain(self, dy)
        G = g.reshape(-1, self.out_channels)
        _add_weight_grad(self.W, self._cols, G)
        self.b.grad += batch_sum(self, G)
        if not input_grad:
            return None
        return _correlate_adjoint(self, G, self.W.value.reshape(-1, self.out_channels),
                                  self.x.shape, self.kernel_size, self.stride, self.padding,
                                  "dcols")

    def __repr__(self):
        return self._describe(f", activation={self.activation.name!r}")


@register
class ConvTranspose2D(_Convolution):
    """Transposed convolution: the ADJOINT of Conv2D(out_channels, in_channels, kernel_size,
    stride, padding) as a linear map, plus a bias and an activation. Its forward is Conv2D's
    backward-data path and its backward is Conv2D's forward path:

        a = col2im(X W2^T) + bias,   X = x as (B*H*W, C_in),  W2 = W as (kh*kw*C_out, C_in)
          i.e. a[b, h, w, o] = sum of x[b, hi, wi, c] W[i, j, o, c] over all c and all (hi, i),
               (wi, j) with s_h*hi + i - p_h = h and s_w*wi + j - p_w = w,  + bias[o]
        y = f(a)
    Shapes:  x (B, H, W, C_in)   W (kh, kw, C_out, C_in)   bias (C_out,)   a, y (B, Ho, Wo, C_out)
             Ho = (H - 1) s_h - 2 p_h + kh + output_padding_h,  Wo likewise
    W has the shape of the Conv2D weight whose adjoint this is: with the same W (and zero bias,
    identity activations) <Conv2D(v), u> = <v, ConvTranspose2D(u)> for all v, u.
    output_padding (0 <= op < stride, op <= padding) picks which of the input sizes that the
    Conv2D maps to H this layer returns (for H = 7, k = 3, s = 2, p = 1: op = 1 gives 14, op = 0
    gives 13), so that a decoder can mirror an encoder exactly.

    Backward, given dy (B, Ho, Wo, C_out), with g = dy * f'(a) and Gc = im2col(g) as a
    (B*H*W, kh*kw*C_out) matrix (the Conv2D forward path on g):
        dW2   += Gc^T X                                 (kh*kw*C_out, C_in)
        dbias += sum over b, h, w of g                  (C_out,)
        dx     = Gc W2                                  (B, H, W, C_in)  (not with input_grad=False)
    Weights are drawn with `init` as a (kh*kw*C_in, C_out) matrix (fan_in = kh*kw*C_in, the most
    products one output value sums) and laid out as (kh, kw, C_out, C_in).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, activation="identity", *, init=None, rng=None,
                 dtype=np.float32):
        W = self._setup(in_channels, out_channels, kernel_size, stride, padding, activation,
                        init, rng, dtype)
        self.W = Parameter(np.ascontiguousarray(W.transpose(0, 1, 3, 2)))
        self.output_padding = as_pair(output_padding, "output_padding", minimum=0)
        for op, s, p, (axis, _) in zip(self.output_padding, self.stride, self.padding, _AXES):
            if op >= s or op > p:
                raise ValueError(f"output_padding must be < stride and <= padding along the "
                                 f"{axis}, got output_padding {op} with stride {s}, padding {p}")

    def output_shape(self, input_shape):
        """(Ho, Wo, C_out) of an input image of shape (H, W, C_in) (ValueError if it is empty)."""
        H, W, C = input_shape
        if C != self.in_channels:
            raise ValueError(f"{self._describe()} takes {self.in_channels} input channels, got "
                             f"an input of shape {tuple(input_shape)} (height, width, channels)")
        out = []
        for n, k, s, p, op, (axis, _) in zip((H, W), self.kernel_size, self.stride, self.padding,
                                             self.output_padding, _AXES):
            m = (n - 1) * s - 2 * p + k + op
            if m < 1:
                raise ValueError(f"{self._describe()}: the output {axis} ({n} - 1) * stride {s} "
                                 f"- 2 * padding {p} + kernel_size {k} + output_padding {op} = "
                                 f"{m} must be >= 1")
            out.append(m)
        return out[0], out[1], self.out_channels

    def forward(self, x, *, training=True):
        _check_images(x, self, self.in_channels)
        B, H, W, C = x.shape
        Ho, Wo, O = self.output_shape(x.shape[1:])
        X = x.reshape(B * H * W, C)
        A = _correlate_adjoint(self, X, self.W.value.reshape(-1, C), (B, Ho, Wo, O),
                               self.kernel_size, self.stride, self.padding, "cols")
        self.x = x
        return self._finish(A.reshape(-1, O), (B, Ho, Wo, O))

    def backward(self, dy, *, input_grad=True):
        g = activation_chain(self, dy)
        B, H, W, C = self.x.shape
        cols2d = _columns(self, g, self.kernel_size, self.stride, self.padding, "cols")
        _add_weight_grad(self.W, cols2d, self.x.reshape(B * H * W, C))
        self.b.grad += batch_sum(self, g.reshape(-1, self.out_channels))
        if not input_grad:
            return None
        return (cols2d @ self.W.value.reshape(-1, C)).reshape(B, H, W, C)

    def get_config(self, ctx):
        return {**super().get_config(ctx), "output_padding": _plain(self.output_padding)}

    def __repr__(self):
        return self._describe(f", output_padding={_plain(self.output_padding)}, "
                              f"activation={self.activation.name!r}")


# ---- pooling and upsampling --------------------------------------------------------------------

class _Pool(_ImageLayer):
    """What MaxPool2D and AvgPool2D share: pool_size, stride, the window geometry."""

    def __init__(self, pool_size=2, stride=None):
        self.pool_size = as_pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else as_pair(stride, "stride")
        self.x_shape = None

    def output_shape(self, input_shape):
        """(Ho, Wo, C) of an input image of shape (H, W, C) (ValueError if it does not fit)."""
        H, W, C = input_shape
        try:
            Ho, Wo = output_size_2d((H, W), self.pool_size, self.stride, (0, 0), "pool_size")
        except ValueError as exc:
            raise ValueError(f"{self!r}: {exc}") from None
        return Ho, Wo, C

    def _windows(self, x_shape):
        """[(offset index i*kw + j, row slice, column slice)] of the kh*kw window offsets."""
        B, H, W, C = x_shape
        Ho, Wo, _ = self.output_shape((H, W, C))
        rows, cols = _offsets_2d((H, W), (Ho, Wo), self.pool_size, self.stride, (0, 0))
        kw = self.pool_size[1]
        return [(i * kw + j, sl_h, sl_w) for i, (_, _, sl_h) in enumerate(rows)
                for j, (_, _, sl_w) in enumerate(cols)]

    def _disjoint(self):
        return all(s >= k for s, k in zip(self.stride, self.pool_size))

    def _check_dy(self, dy):
        B, H, W, C = self.x_shape
        expected = (B,) + self.output_shape((H, W, C))
        if dy.shape != expected:
            raise ValueError(f"dy must have the layer output's shape {expected}, got {dy.shape}")

    def get_config(self, ctx):
        return {"pool_size": _plain(self.pool_size), "stride": _plain(self.stride)}

    def __repr__(self):
        return (f"{type(self).__name__}(pool_size={_plain(self.pool_size)}, "
                f"stride={_plain(self.stride)})")


@register
class MaxPool2D(_Pool):
    """Max pooling over kh x kw windows with stride s (default: s = the pool size), no padding:

        y[b, ho, wo, c] = max over i < kh, j < kw of x[b, s_h*ho + i, s_w*wo + j, c]
    Shapes:  x (B, H, W, C)   y, argmax (B, Ho, Wo, C)   Ho = (H - kh) / s_h + 1, Wo likewise
             (a stride that leaves input rows unread is refused)
    forward records argmax[b, ho, wo, c] = i*kw + j of the window's maximum. Ties: the FIRST
    maximal entry in row-major window order (the top-most row, in it the left-most), as
    np.argmax picks.

    Backward, given dy (B, Ho, Wo, C): locally y is the recorded entry, so
        dx[b, s_h*ho + i*, s_w*wo + j*, c] += dy[b, ho, wo, c]     (i*, j*) = argmax[b, ho, wo, c]
    and dx = 0 elsewhere: the whole gradient of a window goes to ONE position (at a tie, the
    one recorded: a subgradient). y has kinks where two entries of a window tie. For the
    gradient checker (never called in training), kink_state() is {"max-pool window maximum":
    argmax} and kink_margin() the gap between the largest and the second-largest entry of each
    window (inf for a window of one entry): a finite difference that moves a window's maximum
    to another entry has crossed a kink and is reported as not comparable, not as an error.
    """

    def __init__(self, pool_size=2, stride=None):
        super().__init__(pool_size, stride)
        self.argmax = None
        self._x = None            # the last forward's input, a reference (for kink_margin)

    def forward(self, x, *, training=True):
        _check_images(x, self)
        windows = self._windows(x.shape)
        n = len(windows)
        arg = np.zeros(x.shape[:1] + self.output_shape(x.shape[1:]),
                       dtype=np.uint8 if n <= 256 else np.intp)
        y = None
        for o, sl_h, sl_w in windows:
            v = x[:, sl_h, sl_w]
            if y is None:
                y = v.copy()
                continue
            better = v > y                 # strict: a tie keeps the earlier position
            np.copyto(y, v, where=better)
            np.copyto(arg, o, where=better)
        self.x_shape, self.argmax, self._x = x.shape, arg, x
        return y

    _KINK = "max-pool window maximum"

    def kink_state(self):
        """{"max-pool window maximum": argmax (B, Ho, Wo, C)}: which entry of each window is
        its maximum after the last forward ({} before any). For the gradient checker; never
        called in training."""
        return {} if self.argmax is None else {self._KINK: self.argmax}

    def kink_margin(self):
        """{"max-pool window maximum": gap (B, Ho, Wo, C)}: the largest minus the second-largest
        entry of each window, how far the window is from a change of its maximum (inf for a window
        of one entry); {} before any forward."""
        x = self._x
        if x is None or self.argmax is None:
            return {}
        x = np.asarray(x, dtype=np.float64)
        first = second = None
        for _, sl_h, sl_w in self._windows(x.shape):
            v = x[:, sl_h, sl_w]
            if first is None:
                first, second = v.copy(), np.full(v.shape, -np.inf)
                continue
            second = np.maximum(second, np.minimum(first, v))
            first = np.maximum(first, v)
        return {self._KINK: first - second}

    def backward(self, dy, *, input_grad=True):
        self._check_dy(dy)
        if not input_grad:
            return None
        dx = np.zeros(self.x_shape, dtype=dy.dtype)
        disjoint = self._disjoint()
        for o, sl_h, sl_w in self._windows(self.x_shape):
            if disjoint:
                np.multiply(dy, self.argmax == o, out=dx[:, sl_h, sl_w])
            else:
                dx[:, sl_h, sl_w] += dy * (self.argmax == o)
        return dx


@register
class AvgPool2D(_Pool):
    """Average pooling over kh x kw windows with stride s (default: s = the pool size):

        y[b, ho, wo, c] = 1/(kh kw) sum over i < kh, j < kw of x[b, s_h*ho + i, s_w*wo + j, c]
    Shapes:  x (B, H, W, C)   y (B, Ho, Wo, C)   Ho = (H - kh) / s_h + 1, Wo likewise

    Backward, given dy (B, Ho, Wo, C): y is linear in x, each window entry with weight 1/(kh kw):
        dx[b, s_h*ho + i, s_w*wo + j, c] += dy[b, ho, wo, c] / (kh kw)   for every i, j
    """

    def forward(self, x, *, training=True):
        _check_images(x, self)
        y = None
        for _, sl_h, sl_w in self._windows(x.shape):
            if y is None:
                y = x[:, sl_h, sl_w].copy()
            else:
                y += x[:, sl_h, sl_w]
        y *= 1.0 / (self.pool_size[0] * self.pool_size[1])
        self.x_shape = x.shape
        return y

    def backward(self, dy, *, input_grad=True):
        self._check_dy(dy)
        if not input_grad:
            return None
        share = dy * (1.0 / (self.pool_size[0] * self.pool_size[1]))
        dx = np.zeros(self.x_shape, dtype=share.dtype)
        disjoint = self._disjoint()
        for _, sl_h, sl_w in self._windows(self.x_shape):
            if disjoint:
                dx[:, sl_h, sl_w] = share
            else:
                dx[:, sl_h, sl_w] += share
        return dx


@register
class Upsample2D(_ImageLayer):
    """Nearest-neighbour upsampling by integer factors (f_h, f_w): each pixel becomes a block.

        y[b, h, w, c] = x[b, h // f_h, w // f_w, c]
    Shapes:  x (B, H, W, C) -> y (B, f_h H, f_w W, C)

    Backward, given dy (B, f_h H, f_w W, C): each x pixel was copied into its f_h x f_w block, so
        dx[b, h, w, c] = sum over i < f_h, j < f_w of dy[b, f_h h + i, f_w w + j, c]   (B, H, W, C)
    """

    def __init__(self, factor=2):
        self.factor = as_pair(factor, "factor")
        self.x_shape = None

    def output_shape(self, input_shape):
        """(f_h H, f_w W, C) of an input image of shape (H, W, C)."""
        H, W, C = input_shape
        return H * self.factor[0], W * self.factor[1], C

    def forward(self, x, *, training=True):
        _check_images(x, self)
        B, H, W, C = x.shape
        fh, fw = self.factor
        self.x_shape = x.shape
        blocks = np.broadcast_to(x[:, :, None, :, None, :], (B, H, fh, W, fw, C))
        return blocks.reshape(B, H * fh, W * fw, C)          # a copy: a new array

    def backward(self, dy, *, input_grad=True):
        B, H, W, C = self.x_shape
        fh, fw = self.factor
        if dy.shape != (B, H * fh, W * fw, C):
            raise ValueError(f"dy must have the layer output's shape {(B, H * fh, W * fw, C)}, "
                             f"got {dy.shape}")
        if not input_grad:
            return None
        return dy.reshape(B, H, fh, W, fw, C).sum(axis=(2, 4))

    def get_config(self, ctx):
        return {"factor": _plain(self.factor)}

    def __repr__(self):
        return f"Upsample2D(factor={_plain(self.factor)})"


# ---- between rows and images ------------------------------------------------------------------

def _check_shape(shape):
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        raise TypeError(f"shape must be a tuple of positive ints such as (28, 28, 1), got {shape!r}")
    shape = tuple(check_positive_int(n, f"shape[{i}]") for i, n in enumerate(shape))
    if not shape:
        raise ValueError("shape must hold at least one size, got ()")
    return shape


@register
class Reshape(Layer):
    """Rows to images: each row of x is viewed as an array of `shape`, e.g. (H, W, C) (NHWC).

        y[b] = x[b] read in row-major order into `shape`
    Shapes:  x (B, n_in) -> y (B, *shape),  n_in = prod(shape)

    Backward, given dy (B, *shape): a reshape only relabels entries (its Jacobian is the
    identity), so  dx = dy read back into rows  (B, n_in).
    The result is a view of the input when it is contiguous (nothing is copied).
    """

    def __init__(self, shape):
        self.shape = _check_shape(shape)
        self.n_in = math.prod(self.shape)

    def forward(self, x, *, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"{self!r} expects input of shape (batch, {self.n_in}), got {x.shape}")
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, dy, *, input_grad=True):
        if dy.shape[1:] != self.shape:
            raise ValueError(f"dy must have shape (batch, *{self.shape}), got {dy.shape}")
        return dy.reshape(dy.shape[0], self.n_in) if input_grad else None

    def get_config(self, ctx):
        return {"shape": list(self.shape)}

    def __repr__(self):
        return f"Reshape({self.shape})"


@register
class Flatten(Layer):
    """Images to rows: each example of x, of `shape` (e.g. (H, W, C), NHWC), becomes one row.

        y[b] = x[b] read in row-major order
    Shapes:  x (B, *shape) -> y (B, n_out),  n_out = prod(shape)

    Backward, given dy (B, n_out): the Jacobian is the identity, so  dx = dy read back into
    (B, *shape). The result is a view of the input when it is contiguous (nothing is copied).
    """

    def __init__(self, shape):
        self.shape = _check_shape(shape)
        self.n_out = math.prod(self.shape)

    def __call__(self, x, *, training=False):
        """forward() on user input: x is checked ((batch, *shape), real, finite) first."""
        x = check_array(x, "x", ndim=1 + len(self.shape))
        return self.forward(x, training=training)

    def forward(self, x, *, training=True):
        if x.shape[1:] != self.shape:
            raise ValueError(f"{self!r} expects input of shape (batch, *{self.shape}), "
                             f"got {x.shape}")
        return x.reshape(x.shape[0], self.n_out)

    def backward(self, dy, *, input_grad=True):
        if dy.ndim != 2 or dy.shape[1] != self.n_out:
            raise ValueError(f"dy must have shape (batch, {self.n_out}), got {dy.shape}")
        return dy.reshape((dy.shape[0],) + self.shape) if input_grad else None

    def get_config(self, ctx):
        return {"shape": list(self.shape)}

    def __repr__(self):
        return f"Flatten({self.shape})"
