"""Performance invariants of the optimizers: the in-place, blocked updates equal the textbook
ones, and their state never goes subnormal. Correctness only; timings live in benchmarks/.

* Adam and AdamW update in place (through a shared scratch buffer, in row blocks) and give the
  textbook update's numbers; a step reads the gradients and never writes them; the moments are
  arrays of their own, not views of the scratch buffer.
* The state of a parameter whose gradient stops (a dead unit) is flushed to 0 before it turns
  subnormal (a slow path on x86), the weights ending where the textbook Adam / SGD-momentum
  update puts them; flush_period leaves room before the subnormal range; and the flush
  schedule survives a state_dict round trip (a resumed run is bit-identical to an
  uninterrupted one).
"""
import numpy as np
import pytest

import numpyae
from numpyae import SGD, Adam, AdamW


# ---- the in-place optimizers = the textbook updates ----------------------------------------

def textbook_adam(w, grads, lr, b1, b2, eps, wd, decoupled):
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w - lr * wd * w
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


@pytest.mark.parametrize("cls,wd", [(Adam, 0.0), (Adam, 0.1), (AdamW, 0.1)])
def test_in_place_adam_matches_the_textbook_update(cls, wd):
    rng = np.random.default_rng(6)
    shapes = [(5, 3), (3,), (7, 5)]            # the scratch buffer is shared across shapes
    params = [numpyae.Parameter(rng.normal(size=s)) for s in shapes]
    starts = [p.value.copy() for p in params]
    grads = [[rng.normal(size=s) for _ in range(4)] for s in shapes]
    opt = cls(params, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd)
    for step in range(4):
        for p, g in zip(params, grads):
            p.grad[...] = g[step]
        kept = [p.grad.copy() for p in params]
        opt.step()
        for p, k in zip(params, kept):        # the step reads grads, never writes them
            np.testing.assert_array_equal(p.grad, k)
    for p, w0, g in zip(params, starts, grads):
        ref = textbook_adam(w0, g, 0.01, 0.8, 0.95, 1e-6, wd, cls is AdamW)
        np.testing.assert_allclose(p.value, ref, rtol=1e-12, atol=1e-14)
    for m, v in zip(opt.m, opt.v):              # moments are their own arrays, not scratch views
        assert m.base is None and v.base is None


# ---- no subnormal optimizer state -------------------------------------------------------------

def subnormal_count(arrays):
    tiny = np.finfo(np.float32).tiny
    return sum(int(((a != 0) & (np.abs(a) < tiny)).sum()) for a in arrays)


@pytest.mark.parametrize("make_opt", [
    lambda ps: Adam(ps, lr=1e-3),
    lambda ps: Adam(ps, lr=1e-3, betas=(0.5, 0.9)),
    lambda ps: SGD(ps, lr=1e-3, momentum=0.9),
], ids=["adam", "adam-fast-decay", "sgd-momentum"])
def test_state_of_parameters_whose_gradient_stops_never_goes_subnormal(make_opt):
    """A dead unit's moments decay geometrically; left alone they would become subnormal
    floats (a slow path on x86). The optimizer flushes them to 0 first, and the weights end
    where the textbook update puts them (the flushed values move a weight by < 1e-20)."""
    rng = np.random.default_rng(8)
    p = numpyae.Parameter(rng.normal(size=(20, 10)).astype(np.float32))
    opt = make_opt([p])
    state = opt.m + opt.v if isinstance(opt, Adam) else opt.velocity
    w0 = p.value.astype(np.float64)
    g = (rng.normal(size=p.shape) * 1e-3).astype(np.float32)
    grads = [g.astype(np.float64)] + [np.zeros(p.shape)] * 3000   # then the unit dies
    for step, gt in enumerate(grads):
        p.grad[...] = gt
        opt.step()
        assert subnormal_count(state) == 0, f"subnormal state after step {step + 1}"
    if isinstance(opt, Adam):
        ref = textbook_adam(w0, grads, opt.lr, opt.b1, opt.b2, opt.eps, 0.0, False)
    else:
        ref, vel = w0.copy(), np.zeros(p.shape)
        for gt in grads:
            vel = opt.momentum * vel + gt
            ref = ref - opt.lr * vel
    np.testing.assert_allclose(p.value, ref, rtol=1e-5, atol=1e-7)
    assert not np.allclose(p.value, w0, rtol=0, atol=1e-6)     # it did move


def test_flush_period_leaves_room_before_the_subnormal_range():
    from numpyae.nn.optimizers import FLUSH_BELOW_TINY, flush_period
    assert flush_period(0.0) is None
    for decay in (0.5, 0.9, 0.99, 0.999):
        n = flush_period(decay)
        assert n >= 1 and decay ** (2 * n) >= 1 / FLUSH_BELOW_TINY * 0.99


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_flush_schedule_survives_a_state_dict_round_trip(cls):
    """A resumed optimizer flushes on the same steps as an uninterrupted one: bit-identical."""
    rng = np.random.default_rng(10)
    w0 = rng.normal(size=(6, 4)).astype(np.float32)
    # gradients of very different sizes, then none: the moments cross the flush threshold
    # over a spread of steps, so a flush at a different step leaves different numbers
    g0 = (1e-3 * np.exp(3 * rng.normal(size=(6, 4))) * rng.choice([-1, 1], size=(6, 4)))
    grads = [g0.astype(np.float32)] * 3 + [np.zeros((6, 4), np.float32)] * 697
    kwargs = {"lr": 1e-3, "momentum": 0.9} if cls is SGD else {"lr": 1e-3}

    def run(steps, opt, p):
        for g in steps:
            p.grad[...] = g
            opt.step()

    p1 = numpyae.Parameter(w0.copy())
    o1 = cls([p1], **kwargs)
    run(grads, o1, p1)
    p2 = numpyae.Parameter(w0.copy())
    o2 = cls([p2], **kwargs)
    run(grads[:620], o2, p2)
    state = {k: np.array(v, copy=True) for k, v in o2.state_dict().items()}
    p3 = numpyae.Parameter(p2.value.copy())
    o3 = cls([p3], **kwargs)
    o3.load_state_dict(state)
    run(grads[620:], o3, p3)
    np.testing.assert_array_equal(p3.value, p1.value)
    for a, b in zip(o3.state_dict().values(), o1.state_dict().values()):
        np.testing.assert_array_equal(a, b)
