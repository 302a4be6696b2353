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


# ---- state: references for the update guard, validated like user input when loaded ---------------

def _trained(cls, **kw):
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((4, 3)).astype(np.float32)),
              Parameter(np.zeros(3, np.float32))]
    opt = cls(params, lr=0.01, **kw)
    for _ in range(3):
        for p in params:
            p.grad[...] = rng.standard_normal(p.value.shape)
        opt.step()
    return opt


@pytest.mark.parametrize("cls, kw, keys", [
    (SGD, {"momentum": 0.9}, ["velocity.0", "velocity.1"]),
    (Adam, {}, ["m.0", "m.1", "v.0", "v.1"]),
    (AdamW, {}, ["m.0", "m.1", "v.0", "v.1"]),
])
def test_state_dict_returns_the_optimizers_own_arrays(cls, kw, keys):
    """The update guard checks optimizer.state_dict() after every step (Adam's v overflowing to
    inf froze 186 weights with no NonFiniteError): every per-parameter state array must be in it,
    as a reference (no copy per step)."""
    opt = _trained(cls, **kw)
    own = opt.velocity if cls is SGD else opt.m + opt.v
    state = opt.state_dict()
    arrays = dict(opt.state_arrays())
    assert [k for k in state if k not in ("lr", "t", "steps")] == keys == list(arrays)
    for key, mine in zip(keys, own):
        assert state[key] is mine and arrays[key] is mine
    state[keys[0]][0] = np.inf                      # writing through it changes the optimizer
    assert not np.isfinite(own[0]).all()


@pytest.mark.parametrize("cls, kw, expected", [
    (SGD, {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
     {"lr": 0.01, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1}),
    (Adam, {"betas": (0.8, 0.99), "eps": 1e-6},
     {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0}),
    (AdamW, {}, {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2}),
])
def test_hyperparameters(cls, kw, expected):
    assert cls([Parameter(np.ones(2))], lr=0.01, **kw).hyperparameters() == expected


def _bad(key, value):
    """Replace state[key] by value; a value "inf", "nan" or "-0.5" goes into its first entry."""
    def change(state):
        if isinstance(value, str) and value in ("inf", "nan", "-0.5"):
            a = np.array(state[key], copy=True)
            a.flat[0] = float(value)
            state[key] = a
        else:
            state[key] = value
    return change


@pytest.mark.parametrize("cls, change, exc, text", [
    (Adam, _bad("lr", np.array(-0.01)), ValueError, r"state\['lr'\] must be a finite number > 0, got -0\.01"),
    (Adam, _bad("lr", np.array(np.inf)), ValueError, r"state\['lr'\] must be a finite number > 0"),
    (Adam, _bad("lr", np.array(0.0)), ValueError, r"state\['lr'\] must be a finite number > 0"),
    (Adam, _bad("v.0", "inf"), ValueError, r"state\['v\.0'\] contains NaN or inf"),
    (Adam, _bad("m.1", "nan"), ValueError, r"state\['m\.1'\] contains NaN or inf"),
    (Adam, _bad("v.1", "-0.5"), ValueError, r"state\['v\.1'\] \(a mean of squared gradients\) must be >= 0"),
    (Adam, _bad("t", np.array(0)), ValueError, r"state\['t'\] is 0 but the moments m, v are not all zero"),
    (Adam, _bad("t", np.array(1.5)), ValueError, r"state\['t'\] \(a step counter\) must be an integer >= 0"),
    (Adam, _bad("t", np.array(-1)), ValueError, r"state\['t'\] \(a step counter\) must be an integer >= 0"),
    (Adam, _bad("t", np.array([3])), ValueError, r"state\['t'\] must have shape \(\)"),
    (Adam, _bad("m.0", np.zeros((4, 3), np.float64)), ValueError, r"state\['m\.0'\] must have dtype float32"),
    (Adam, _bad("m.0", np.zeros((4, 3), np.complex64)), ValueError, r"state\['m\.0'\] must be numeric"),
    (Adam, _bad("m.0", "not an array"), ValueError, r"state\['m\.0'\] must be numeric"),
    (Adam, _bad("m.0", [[1, 2], [3]]), TypeError, r"state\['m\.0'\] must be a numeric array"),
    (SGD, _bad("steps", np.array(-2)), ValueError, r"state\['steps'\] \(a step counter\)"),
    (SGD, _bad("steps", np.array(0)), ValueError, r"state\['steps'\] is 0 but the velocities"),
    (SGD, _bad("velocity.0", "inf"), ValueError, r"state\['velocity\.0'\] contains NaN or inf"),
])
def test_load_state_dict_validates_like_user_input(cls, change, exc, text):
    """Reproducer: lr=-0.01, v=inf, t=0 and t=1.5 were accepted; t=-1 raised ZeroDivisionError
    in Adam.step later. A refused state leaves the optimizer as it was."""
    kw = {"momentum": 0.9} if cls is SGD else {}
    source = _trained(cls, **kw)
    state = {k: np.array(v, copy=True) for k, v in source.state_dict().items()}
    change(state)
    target = _trained(cls, **kw)
    before = {k: np.array(v, copy=True) for k, v in target.state_dict().items()}
    with pytest.raises(exc, match=text):
        target.load_state_dict(state)
    with pytest.raises(exc, match=text):
        target.check_state_dict(state)
    after = target.state_dict()
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_a_fresh_state_with_t_0_and_zero_moments_is_accepted():
    opt = Adam([Parameter(np.ones(3))])
    other = Adam([Parameter(np.ones(3))])
    other.load_state_dict(opt.state_dict())
    assert other.t == 0


@pytest.mark.parametrize("value", ["no", "yes", 1, 0, None])
def test_sgd_nesterov_must_be_a_bool(value):
    """nesterov="no" turned Nesterov on (a non-empty string is truthy)."""
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        SGD([Parameter(np.ones(1))], momentum=0.9, nesterov=value)
    assert SGD([Parameter(np.ones(1))], momentum=0.9, nesterov=np.bool_(True)).nesterov is True
