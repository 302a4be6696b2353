"""The convolution exercises (conv2d_forward, conv2d_backward, maxpool_backward) and the checker's
known mistakes: each classic mistake is planted in a student's function and must be named.

The planted students are written here from the definitions, independently of the catalogue's
references and of its mistake functions: a loop over the output pixels with a knob per mistake.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae.nn.conv import Conv2D, MaxPool2D
from numpyae.teaching.exercises import EXERCISES, Exercise, check, describe, expected_outputs, reference
from numpyae.teaching.exercises.catalog import Arg, Mistake
from numpyae.teaching.exercises.checker import random_inputs

CONV = ("conv2d_forward", "conv2d_backward", "maxpool_backward")


# ---- students, from the definitions ----------------------------------------------------------

def rows_read(n_out, k, s, p):
    """[(output index, kernel index, input index)] of one axis: output o reads input s*o + i - p
    through kernel entry i (entries outside the input read zero padding and are left out)."""
    return [(o, i, s * o + i - p) for o in range(n_out) for i in range(k)]


def student_forward(x, W, b, stride, padding, *, bias=True):
    """y[n, ho, wo, o] = sum_{i, j, c} x[n, s*ho + i - p, s*wo + j - p, c] W[i, j, c, o] + b[o]."""
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (Wd + 2 * padding - kw) // stride + 1
    y = np.zeros((B, Ho, Wo, O)) + (b if bias else 0.0)
    for ho, i, h in rows_read(Ho, kh, stride, padding):
        for wo, j, w in rows_read(Wo, kw, stride, padding):
            if 0 <= h < H and 0 <= w < Wd:
                y[:, ho, wo, :] += x[:, h, w, :] @ W[i, j]
    return y


def student_backward(x, W, b, dy, stride, padding, *, dx_kernel=None, dx_stride=None,
                     dx_padding=None, dW_flipped=False, keep_padding=False, db_mean=False):
    """dx, dW, db of L = <y, dy> term by term; the keywords plant a mistake in one of them."""
    B, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    Ho, Wo = dy.shape[1:3]
    Wx = W if dx_kernel is None else dx_kernel
    sx = stride if dx_stride is None else dx_stride
    px = padding if dx_padding is None else dx_padding
    pk = padding if keep_padding else 0          # dx indexed in padded coordinates
    dx = np.zeros((B, H + 2 * pk, Wd + 2 * pk, C))
    for ho, i, h in rows_read(Ho, kh, sx, px):
        for wo, j, w in rows_read(Wo, kw, sx, px):
            if -pk <= h < H + pk and -pk <= w < Wd + pk:
                dx[:, h + pk, w + pk, :] += dy[:, ho, wo, :] @ Wx[i, j].T
    dW = np.zeros(W.shape)
    for ho, i, h in rows_read(Ho, kh, stride, padding):
        for wo, j, w in rows_read(Wo, kw, stride, padding):
            if 0 <= h < H and 0 <= w < Wd:
                dW[i, j] += x[:, h, w, :].T @ dy[:, ho, wo, :]
    db = dy.mean(axis=(0, 1, 2)) if db_mean else dy.sum(axis=(0, 1, 2))
    return dx, (dW[::-1, ::-1] if dW_flipped else dW), db


def windows(dy, k, s):
    """(ho, wo, the row slice, the column slice) of every pooling window."""
    return [(ho, wo, slice(s * ho, s * ho + k), slice(s * wo, s * wo + k))
            for ho in range(dy.shape[1]) for wo in range(dy.shape[2])]


def student_maxpool_backward(x, dy, pool_size, stride):
    """dy of each window to its first maximum (np.argmax), summed where windows overlap."""
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[3]):
            for ho, wo, rs, cs in windows(dy, pool_size, stride):
                i, j = divmod(int(np.argmax(x[n, rs, cs, c])), pool_size)
                dx[n, rs.start + i, cs.start + j, c] += dy[n, ho, wo, c]
    return dx


def maxpool_broadcast(x, dy, pool_size, stride):
    dx = np.zeros(x.shape)
    for ho, wo, rs, cs in windows(dy, pool_size, stride):
        dx[:, rs, cs, :] += dy[:, ho, wo, :][:, None, None, :]       # every position gets dy
    return dx


def maxpool_average(x, dy, pool_size, stride):
    return maxpool_broadcast(x, dy, pool_size, stride) / pool_size ** 2


def maxpool_fancy_index(x, dy, pool_size, stride):
    """Vectorized with dx[idx] += dy: repeated indices (windows sharing a maximum) do not add."""
    k, s = pool_size, stride
    B, Ho, Wo, C = dy.shape
    offsets = np.stack([x[:, i:i + s * (Ho - 1) + 1:s, j:j + s * (Wo - 1) + 1:s, :]
                        for i in range(k) for j in range(k)], axis=-1)
    i, j = np.divmod(offsets.argmax(axis=-1), k)
    n, ho, wo, c = np.indices(dy.shape)
    dx = np.zeros(x.shape)
    dx[n, s * ho + i, s * wo + j, c] += dy
    return dx


def maxpool_mask(x, dy, pool_size, stride):
    """Every entry equal to the window's maximum gets dy: right except at ties."""
    dx = np.zeros(x.shape)
    for ho, wo, rs, cs in windows(dy, pool_size, stride):
        win = x[:, rs, cs, :]
        dx[:, rs, cs, :] += (win == win.max(axis=(1, 2), keepdims=True)) * dy[:, ho:ho + 1, wo:wo + 1, :]
    return dx


# ---- the catalogue ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", CONV)
def test_each_statement_gives_the_layout_stride_and_padding(name):
    text = describe(name)
    assert "NHWC" in text and "x (B, H, W, C)" in text and "stride" in text
    assert f"def {name}(" in text
    if name != "maxpool_backward":
        assert "W (kh, kw, C, O)" in text and "padding p" in text
        assert ("NOT flipped" if name == "conv2d_forward" else "no flip") in text
    else:
        assert "no padding" in text and "FIRST maximal entry" in text


@pytest.mark.parametrize("name", CONV)
def test_the_reference_solutions_pass_every_input(name):
    result = check(name, reference(name), verbose=False)
    assert result.passed, result.message
    assert result.n_inputs == 3 + 25 and result.max_error < 0.5


@pytest.mark.parametrize("name, fn", [("conv2d_forward", student_forward),
                                      ("conv2d_backward", student_backward),
                                      ("maxpool_backward", student_maxpool_backward)])
def test_right_answers_written_from_the_definitions_pass(name, fn):
    result = check(name, fn, verbose=False)
    assert result.passed, result.message
    assert result.mistake is None and result.n_inputs == 3 + 25


@settings(max_examples=40, deadline=None, database=None)
@given(st.data())
def test_every_known_mistake_gives_an_answer_or_declines_with_a_value_error(data):
    """On any geometry the checker may draw, a mistake's answer is computed (one array per
    output) or refused with ValueError (a padding of -1 that leaves no window), never another
    error: the checker skips exactly those."""
    for name in CONV:
        ex = EXERCISES[name]
        dims = ex.draw_dims(lambda s, lo, hi: data.draw(st.integers(lo, hi), label=f"{name}.{s}"))
        inputs = random_inputs(ex, dims, np.random.default_rng(0))
        for mistake in ex.mistakes:
            try:
                out = mistake.answer(**inputs)
            except ValueError:
                continue
            out = out if isinstance(out, tuple) else (out,)
            assert len(out) == len(ex.outputs)
            assert all(np.all(np.isfinite(o)) for o in out)


def _agree_with_library_and_loops(dims, seed):
    ex = EXERCISES["conv2d_backward"]
    v = random_inputs(ex, dims, np.random.default_rng(seed))
    x, W, b, dy, s, p = (v[k] for k in ("x", "W", "b", "dy", "stride", "padding"))
    layer = Conv2D(dims["C"], dims["O"], W.shape[:2], s, p, dtype=np.float64)
    layer.W.value[...], layer.b.value[...] = W, b
    y = layer.forward(x)
    np.testing.assert_allclose(reference("conv2d_forward")(x, W, b, s, p), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(student_forward(x, W, b, s, p), y, rtol=1e-12, atol=1e-12)
    # the finite differences' objective <conv(x), dy> uses a faster form of the same forward
    assert ex.objective(x, W, b, dy, s, p) == pytest.approx(float(np.vdot(y, dy)), rel=1e-12)
    dx = layer.backward(dy)
    for mine, loops, lib in zip(reference("conv2d_backward")(x, W, b, dy, s, p),
                                student_backward(x, W, b, dy, s, p), (dx, layer.W.grad, layer.b.grad)):
        np.testing.assert_allclose(mine, lib, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(loops, lib, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", range(3))
def test_conv_references_agree_with_conv2d_and_the_loops_on_the_fixed_inputs(k):
    _agree_with_library_and_loops(EXERCISES["conv2d_forward"].fixed_dims[k], seed=k)


@settings(max_examples=30, deadline=None, database=None)
@given(st.data())
def test_conv_references_agree_with_conv2d_and_the_loops_on_drawn_geometries(data):
    dims = EXERCISES["conv2d_backward"].draw_dims(lambda s, lo, hi: data.draw(st.integers(lo, hi), label=s))
    assert dims["H"] >= 1 and dims["W"] >= 1 and dims["p"] < min(dims["kh"], dims["kw"])
    _agree_with_library_and_loops(dims, seed=data.draw(st.integers(0, 1000), label="seed"))


@pytest.mark.parametrize("k", range(3))
def test_maxpool_reference_agrees_with_maxpool2d_and_the_loops(k):
    ex = EXERCISES["maxpool_backward"]
    v = random_inputs(ex, ex.fixed_dims[k], np.random.default_rng(k))     # no ties: continuous
    layer = MaxPool2D(v["pool_size"], v["stride"])
    layer.forward(v["x"])
    dx = layer.backward(v["dy"])
    np.testing.assert_array_equal(reference("maxpool_backward")(*v.values()), dx)
    np.testing.assert_array_equal(student_maxpool_backward(*v.values()), dx)


def test_the_first_maxpool_input_has_ties_and_they_expect_the_first_maximum():
    """Exact ties are planted in the first fixed input; there the finite difference is
    meaningless and the convention (MaxPool2D's: the first maximum) is expected."""
    ex = EXERCISES["maxpool_backward"]
    v = random_inputs(ex, ex.fixed_dims[0], np.random.default_rng(0), with_kinks=True)
    x, dy, k, s = v.values()
    tied = [(n, ho, wo, c) for n in range(x.shape[0]) for c in range(x.shape[3])
            for ho, wo, rs, cs in windows(dy, k, s)
            if np.sum(x[n, rs, cs, c] == x[n, rs, cs, c].max()) > 1]
    assert len(tied) >= 4
    (expected,) = expected_outputs(ex, v)
    layer = MaxPool2D(k, s)
    layer.forward(x)
    np.testing.assert_allclose(expected, layer.backward(dy), rtol=1e-9, atol=1e-12)


# ---- the classic mistakes, planted -----------------------------------------------------------

FLIP = "equals the correlation with the kernel flipped (rotated 180°)"

# (exercise, the student, the mistake the checker must name, words its message must contain)
PLANTED = [
    ("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W[::-1, ::-1], b, s, p),
     "flipped_kernel", "your output " + FLIP),
    ("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W, b, 1, p),
     "stride_ignored", "your output equals the stride-1 correlation"),
    ("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W, b, s, p + 1),
     "padding_plus_one", "padding p + 1: a padding off by one"),
    ("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W, b, s, p - 1),
     "padding_minus_one", "padding p - 1: a padding off by one"),
    ("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W, b, s, p, bias=False),
     "bias_missing", "without the bias"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p,
                                                                   dx_kernel=W[::-1, ::-1]),
     "flipped_kernel", "your dx equals the gradient of the correlation with the kernel flipped "
                       "(rotated 180°)"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p,
                                                                   dW_flipped=True),
     "flipped_kernel", "your dW equals the gradient of the correlation with the kernel flipped"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p, dx_stride=1),
     "stride_missing", "your dx equals the stride-1 formula"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p,
                                                                   dx_padding=p + 1),
     "padding_plus_one", "your dx equals the gradient for padding p + 1: a padding off by one"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p,
                                                                   dx_padding=p - 1),
     "padding_minus_one", "your dx equals the gradient for padding p - 1: a padding off by one"),
    ("conv2d_backward", lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p,
                                                                   keep_padding=True),
     "padding_kept", "dx has shape (2, 7, 6, 2), expected (2, 5, 4, 2): your dx still has the padding"),
    ("maxpool_backward", maxpool_broadcast, "broadcast_to_window",
     "your dx sends each window's gradient to every position in the window"),
    ("maxpool_backward", maxpool_average, "average_pooling", "average pooling's backward"),
    ("maxpool_backward", maxpool_fancy_index, "overlap_overwritten",
     "your dx holds one window's dy instead of the sum"),
]


@pytest.mark.parametrize("name, fn, mistake, words", PLANTED,
                         ids=[f"{p[0]}-{p[2]}-{i}" for i, p in enumerate(PLANTED)])
def test_the_checker_names_each_planted_classic_mistake(name, fn, mistake, words, capsys):
    result = check(name, fn, n_hypothesis=10)
    printed = capsys.readouterr().out
    assert not result.passed
    assert (result.kind, result.mistake) == ("mistake", mistake), result.message
    assert words in result.message, result.message
    assert f"not right yet (known mistake: {mistake})" in result.message
    assert printed.strip() == result.message.strip()
    assert result.inputs is not None and "input:" in result.message


def test_a_padding_off_by_one_that_changes_the_shape_is_named_not_just_a_shape_error():
    result = check("conv2d_forward", lambda x, W, b, s, p: student_forward(x, W, b, s, p + 1),
                   verbose=False)
    assert "y has shape (2, 4, 4, 3), expected (2, 3, 3, 3): your output equals the correlation " \
           "with padding p + 1" in result.message
    assert result.kind == "mistake" and result.phase == "random"


def test_a_mistake_only_drawn_inputs_show_is_named_after_shrinking():
    """Wrong only at stride 3: the first two fixed inputs (strides 2 and 1) pass, Hypothesis
    finds a stride-3 input, shrinks it, and the mistake is named on it."""
    def wrong_at_stride_3(x, W, b, dy, s, p):
        return student_backward(x, W, b, dy, s, p, dx_stride=1 if s == 3 else s)

    # 60 drawn inputs: among the first 25 the only stride-3 one has a single output pixel,
    # where the stride does not matter
    result = check("conv2d_backward", wrong_at_stride_3, n_random=2, n_hypothesis=60,
                   verbose=False)
    assert result.phase == "hypothesis" and result.mistake == "stride_missing", result.message
    assert result.inputs["stride"] == 3 and "stride = 3" in result.message


def test_db_averaged_instead_of_summed_is_a_factor_with_its_cause():
    result = check("conv2d_backward",
                   lambda x, W, b, dy, s, p: student_backward(x, W, b, dy, s, p, db_mean=True),
                   verbose=False)
    assert result.kind == "factor" and result.mistake is None
    assert "divided by B*Ho*Wo = 18" in result.message and "SUM of dy" in result.message


def test_a_mask_of_every_maximum_is_wrong_only_at_the_ties():
    result = check("maxpool_backward", maxpool_mask, verbose=False)
    assert result.kind == "kink" and result.phase == "random"
    assert "right everywhere except at the kink" in result.message


# ---- the generic mechanism, on an exercise of its own ----------------------------------------

def _toy(mistakes):
    return Exercise(
        "toy_scale_grad", "Gradient of 3 x", "L = sum(3 x dy); return dL/dx (B, D).",
        [Arg("x", ("B", "D")), Arg("dy", ("B", "D"), -2, 2)], ["dx"],
        reference=lambda x, dy: 3 * dy, objective=lambda x, dy: float(np.sum(3 * x * dy)),
        wrt=("x",), mistakes=mistakes)


def _does_not_apply(x, dy):
    raise ValueError("no answer for these inputs")


TOY_MISTAKES = [("not_applicable", _does_not_apply, "never shown"),
                ("harmless", lambda x, dy: 3 * dy, "never shown: this is the right answer"),
                ("forgot_the_3", lambda x, dy: dy, "your {output} forgot the 3"),
                ("summed", lambda x, dy: 3 * dy.sum(axis=0), "your {output} is summed over the batch")]


def test_any_exercise_may_declare_known_mistakes(monkeypatch):
    monkeypatch.setitem(EXERCISES, "toy_scale_grad", _toy(TOY_MISTAKES))
    assert all(isinstance(m, Mistake) for m in EXERCISES["toy_scale_grad"].mistakes)
    assert check("toy_scale_grad", lambda x, dy: 3 * dy, verbose=False).passed
    result = check("toy_scale_grad", lambda x, dy: dy, verbose=False)
    assert (result.kind, result.mistake) == ("mistake", "forgot_the_3")
    assert "your dx forgot the 3" in result.message and "never shown" not in result.message
    result = check("toy_scale_grad", lambda x, dy: 3 * dy.sum(axis=0), verbose=False)
    assert result.mistake == "summed" and "dx has shape (4,), expected (5, 4): your dx is summed" \
        in result.message
    # an answer no mistake explains gets the general diagnosis
    result = check("toy_scale_grad", lambda x, dy: -3 * dy, verbose=False)
    assert (result.kind, result.mistake) == ("sign", None)
    # without declared mistakes, the same answer is only a constant factor
    monkeypatch.setitem(EXERCISES, "toy_scale_grad", _toy([]))
    result = check("toy_scale_grad", lambda x, dy: dy, verbose=False)
    assert (result.kind, result.mistake) == ("factor", None)


def test_a_mistake_with_the_wrong_number_of_outputs_is_a_catalogue_error(monkeypatch):
    monkeypatch.setitem(EXERCISES, "toy_scale_grad",
                        _toy([("two", lambda x, dy: (dy, dy), "two outputs")]))
    with pytest.raises(ValueError, match="toy_scale_grad: mistake 'two' returned 2 outputs, the "
                                         "exercise has 1"):
        check("toy_scale_grad", lambda x, dy: dy, verbose=False)


def test_an_arg_of_kind_dim_names_its_dimension():
    assert Arg("stride", kind="dim", dim="s").dim == "s"
    with pytest.raises(ValueError, match="dim= goes with kind='dim'"):
        Arg("stride", kind="dim")
    with pytest.raises(ValueError, match="dim= goes with kind='dim'"):
        Arg("x", ("B",), dim="s")
