"""Optimizers (numpyae.nn.optimizers): SGD, Adam, AdamW by hand, state, block-wise updates."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyae import SGD, Adam, AdamW, Parameter


def make(value, grads):
    p = Parameter(np.array(value, dtype=np.float64))
    return p, iter(grads)


def run(opt_factory, grads, w0=1.0):
    p = Parameter(np.array([w0]))
    opt = opt_factory([p])
    values = []
    for g in grads:
        p.grad[...] = g
        opt.step()
        values.append(float(p.value[0]))
    return values


def test_plain_sgd():
    assert run(lambda ps: SGD(ps, lr=0.1), [1.0, 2.0]) == pytest.approx([0.9, 0.7])


def test_sgd_momentum_by_hand():
    # v1 = 1, w1 = 1 - 0.1*1 = 0.9;  v2 = 0.5*1 + 2 = 2.5, w2 = 0.9 - 0.25 = 0.65
    assert run(lambda ps: SGD(ps, lr=0.1, momentum=0.5), [1.0, 2.0]) == pytest.approx([0.9, 0.65])


def test_sgd_nesterov_by_hand():
    # v1 = 1, step1 = g + mu v = 1.5, w1 = 0.85;  v2 = 0.5 + 2 = 2.5, step2 = 2 + 1.25 = 3.25, w2 = 0.525
    assert run(lambda ps: SGD(ps, lr=0.1, momentum=0.5, nesterov=True), [1.0, 2.0]) == \
        pytest.approx([0.85, 0.525])


def test_sgd_weight_decay_adds_to_gradient():
    # g = 0 + 0.1 * 1 = 0.1, w1 = 1 - 0.1*0.1 = 0.99
    assert run(lambda ps: SGD(ps, lr=0.1, weight_decay=0.1), [0.0]) == pytest.approx([0.99])


def adam_reference(grads, lr, b1, b2, eps, w=1.0, wd=0.0, decoupled=False):
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w -= lr * wd * w
        elif wd:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        w -= lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


def test_adam_first_step_is_lr_times_sign():
    assert run(lambda ps: Adam(ps, lr=0.01), [3.0]) == pytest.approx([0.99], rel=1e-7)


@pytest.mark.parametrize("eps", [1e-8, 0.1])
def test_adam_matches_textbook_formula(eps):
    grads = [0.5, -1.0, 2.0, 0.1]
    got = run(lambda ps: Adam(ps, lr=0.05, betas=(0.8, 0.9), eps=eps), grads)
    assert got == pytest.approx(adam_reference(grads, 0.05, 0.8, 0.9, eps), rel=1e-12)


def test_adam_l2_and_adamw_decoupled():
    grads = [0.5, -1.0, 2.0]
    got = run(lambda ps: Adam(ps, lr=0.05, weight_decay=0.1), grads)
    assert got == pytest.approx(adam_reference(grads, 0.05, 0.9, 0.999, 1e-8, wd=0.1), rel=1e-12)
    got = run(lambda ps: AdamW(ps, lr=0.05, weight_decay=0.1), grads)
    assert got == pytest.approx(adam_reference(grads, 0.05, 0.9, 0.999, 1e-8, wd=0.1, decoupled=True),
                                rel=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_float32_parameters_stay_float32(cls):
    p = Parameter(np.ones(3, np.float32))
    p.grad[...] = 0.5
    opt = cls([p], lr=0.1)
    for _ in range(3):
        opt.step()
    assert p.value.dtype == np.float32


def test_shared_parameter_is_updated_once():
    p = Parameter(np.ones(2))
    p.grad[...] = 1.0
    opt = SGD([p, p], lr=0.1)
    opt.step()
    np.testing.assert_allclose(p.value, 0.9)


def test_state_dict_round_trip():
    p = Parameter(np.ones(2))
    opt = Adam([p])
    p.grad[...] = 1.0
    opt.step()
    state = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    q = Parameter(np.ones(2))
    opt2 = Adam([q])
    opt2.load_state_dict(state)
    assert opt2.t == 1 and np.array_equal(opt2.m[0], opt.m[0])


@pytest.mark.parametrize("kwargs, exc, text", [
    ({"lr": -1}, ValueError, "lr"),
    ({"lr": 0}, ValueError, "lr"),
    ({"lr": "fast"}, TypeError, "lr"),
    ({"momentum": 1.0}, ValueError, "momentum"),
    ({"nesterov": True}, ValueError, "nesterov"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay"),
])
def test_sgd_errors(kwargs, exc, text):
    with pytest.raises(exc, match=text):
        SGD([Parameter(np.ones(1))], **kwargs)


def test_adam_errors():
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        Adam([Parameter(np.ones(1))], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas"):
        Adam([Parameter(np.ones(1))], betas=0.9)
    with pytest.raises(ValueError, match="parameters"):
        Adam([])
    with pytest.raises(TypeError, match=r"parameters\[0\]"):
        Adam([np.ones(2)])


# ---- block-wise updates (optimizers.row_blocks) ---------------------------------------------

@settings(max_examples=50)
@given(shape=st.lists(st.integers(1, 40), min_size=0, max_size=3).map(tuple),
       block=st.integers(1, 300))
def test_row_blocks_cover_every_row_once(shape, block):
    from numpyae.nn.optimizers import row_blocks
    covered = np.zeros(shape[0] if shape else 1, dtype=int)
    blocks = row_blocks(shape, block)
    for rows in blocks:
        covered[rows] += 1                        # rows is a slice, or ... for all of it
    assert (covered == 1).all()
    if shape and np.prod(shape) > block:
        rows_per_block = [len(range(*r.indices(shape[0]))) for r in blocks]
        assert max(rows_per_block) - min(rows_per_block) <= 1


@pytest.mark.parametrize("cls,wd", [(Adam, 0.0), (Adam, 0.01), (AdamW, 0.01)])
def test_blockwise_adam_equals_whole_array_adam_bit_for_bit(monkeypatch, cls, wd):
    """The update in cache-sized blocks of rows gives exactly the numbers of one pass each."""
    from numpyae.nn import optimizers
    rng = np.random.default_rng(5)
    values = [rng.standard_normal(s).astype(np.float32) for s in [(37, 11), (5,), (64, 3), ()]]
    grads = [[rng.standard_normal(v.shape).astype(np.float32) for v in values] for _ in range(4)]
    results = []
    for block in (10**9, 7):                         # whole arrays; blocks of a few rows
        monkeypatch.setattr(optimizers, "BLOCK_ELEMENTS", block)
        params = [Parameter(v.copy()) for v in values]
        opt = cls(params, lr=0.01, weight_decay=wd)
        for step in grads:
            for p, g in zip(params, step):
                p.grad[...] = g
            opt.step()
        results.append([p.value for p in params] + opt.m + opt.v)
    for whole, blocked in zip(*results):
        np.testing.assert_array_equal(whole, blocked)
