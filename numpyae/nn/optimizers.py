"""Optimizers update a list of Parameters in place from their .grad. They know nothing else.

SGD with momentum mu, learning rate lr, L2 weight decay wd (added to the gradient):
    g = grad + wd * w
    v = mu * v + g
    step = g + mu * v   (Nesterov)   or   v   (classical momentum; = g when mu = 0)
    w -= lr * step

Adam (Kingma & Ba 2015), step t = 1, 2, ...:
    g = grad + wd * w                        (Adam: L2 through the gradient)
    m = b1 m + (1 - b1) g
    v = b2 v + (1 - b2) g^2
    w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
AdamW (Loshchilov & Hutter 2019) decouples the decay:  w -= lr * wd * w  before the Adam step,
with the Adam moments built from the raw gradient.
"""
from __future__ import annotations

import math

import numpy as np

from .parameter import Parameter, unique
from ..core.checks import all_finite, check_nonnegative_float


#: Entries of a decaying optimizer state below FLUSH_BELOW_TINY x the smallest normal float are
#: set to 0 before they turn subnormal (subnormal arithmetic is slow on x86; their effect on an
#: update is below 1e-20). See benchmarks/PERFORMANCE.md.
FLUSH_BELOW_TINY = 1e8


def flush_period(decay):
    """Steps between flushes for a state that decays as x <- decay * x (None: never decays)."""
    if decay <= 0:
        return None
    steps_to_subnormal = math.log(FLUSH_BELOW_TINY) / -math.log(decay)
    return max(1, int(steps_to_subnormal // 2))


def flush_tiny(arrays):
    """In place: entries with |x| < FLUSH_BELOW_TINY * tiny become 0."""
    for a in arrays:
        a[np.abs(a) < FLUSH_BELOW_TINY * np.finfo(a.dtype).tiny] = 0


#: A large parameter is updated in blocks of rows of about this many elements, so that the
#: arrays one block's update touches stay in a core's cache (benchmarks/PERFORMANCE.md).
BLOCK_ELEMENTS = 1 << 16


def row_blocks(shape, block=None):
    """Slices of the first axis that cover it, each about `block` elements (or one row;
    default BLOCK_ELEMENTS); just `...` (all of it) for a small or 0-d array. Elementwise
    updates of the blocks in turn give exactly the numbers of one update of the whole array."""
    block = BLOCK_ELEMENTS if block is None else block
    size = math.prod(shape)
    if size <= block or not shape:
        return (Ellipsis,)
    rows = shape[0]
    k = min(rows, -(-size // block))
    return tuple(slice(i * rows // k, (i + 1) * rows // k) for i in range(k))


class Optimizer:
    """Base class: updates a list of Parameters in place from their .grad (step), and saves
    and restores everything step() depends on: hyperparameters() (the constructor's settings),
    state_dict() / load_state_dict() (lr, step counters and the per-parameter arrays, which
    state_arrays() lists as references), check_state_dict() (a loaded state validated like
    user input)."""

    def __init__(self, parameters, lr):
        try:
            params = unique(parameters)
        except TypeError:
            raise TypeError(f"parameters must be a list of Parameters (e.g. model.parameters()), "
                            f"got {type(parameters).__name__}") from None
        if not params:
            raise ValueError("parameters must be a non-empty list of Parameters, got none")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"parameters[{i}] must be a Parameter, got {type(p).__name__}")
        self.parameters = params
        self.lr = check_nonnegative_float(lr, "lr")
        if self.lr == 0:
            raise ValueError("lr must be > 0, got 0")

    def zero_grad(self):
        """Set the gradient of every parameter to 0."""
        for p in self.parameters:
            p.zero_grad()

    def step(self):
        """One update of every parameter from its current .grad."""
        raise NotImplementedError

    def hyperparameters(self):
        """The constructor's settings step() uses, JSON-safe: {"lr": ...}, and each subclass's
        own (betas, eps, momentum, nesterov, weight_decay...). A checkpoint records them and a
        resumed run must have the same."""
        return {"lr": self.lr}

    def state_arrays(self):
        """[(key, array)] of the per-parameter state (SGD's velocities, Adam's m and v): the
        optimizer's OWN arrays, references, never copies. Calling it costs nothing but a short
        list, so it may run after every step (the update guard checks these arrays for
        overflow); writing into an array changes the optimizer. state_dict() holds the same
        arrays under the same keys."""
        return []

    def counters(self):
        """{key: int}: the step counters of the state (Adam's t, SGD's steps)."""
        return {}

    def state_dict(self):
        """Everything step() depends on besides the parameters and the hyperparameters:
        {"lr": 0-d array, <counter>: 0-d int array, <key>: per-parameter array}.

        Guarantee: the per-parameter arrays are the optimizer's own (those of state_arrays(),
        references, not copies), so this is cheap enough to call after every step; copy the
        arrays to keep a snapshot."""
        state = {"lr": np.array(self.lr)}
        state.update({k: np.array(v) for k, v in self.counters().items()})
        state.update(self.state_arrays())
        return state

    def check_state_dict(self, state):
        """Validate a state (e.g. read from a checkpoint) like user input, changing nothing.

        It must have exactly the keys of state_dict(); lr a finite number > 0; every counter a
        non-negative integer (an integer dtype, 0-d); every per-parameter array the shape and
        dtype of the optimizer's own and finite; plus the subclass's rules (_check_consistency:
        Adam's v >= 0, no moments before the first step...). A TypeError or ValueError names
        the key, what was expected and what came."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        mine = self.state_dict()
        missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
        if missing or extra:
            raise ValueError(f"state does not fit this {type(self).__name__}: missing keys "
                             f"{missing[:8]}, unexpected keys {extra[:8]}")
        got = {}
        for k, ref in mine.items():
            try:
                got[k] = value = np.asarray(state[k])
            except (TypeError, ValueError) as exc:
                raise TypeError(f"state[{k!r}] must be a numeric array, got "
                                f"{type(state[k]).__name__} ({exc})") from None
            if value.dtype.kind not in "iuf":
                raise ValueError(f"state[{k!r}] must be numeric, got dtype {value.dtype}")
            if value.shape != ref.shape:
                raise ValueError(f"state[{k!r}] must have shape {ref.shape}, got {value.shape}")
        lr = got["lr"]
        if not (np.isfinite(lr) and lr > 0):
            raise ValueError(f"state['lr'] must be a finite number > 0, got {lr}")
        for k in self.counters():
            if got[k].dtype.kind not in "iu" or got[k] < 0:
                raise ValueError(f"state[{k!r}] (a step counter) must be an integer >= 0, "
                                 f"got {got[k]!r} of dtype {got[k].dtype}")
        for k, ref in self.state_arrays():
            if got[k].dtype != ref.dtype:
                raise ValueError(f"state[{k!r}] must have dtype {ref.dtype} (its parameter's), "
                                 f"got {got[k].dtype}")
            if not all_finite(got[k]):
                raise ValueError(f"state[{k!r}] contains NaN or inf")
        self._check_consistency(got)

    def _check_consistency(self, state):
        """The subclass's rules for a state whose keys, shapes, dtypes and finiteness passed."""

    def load_state_dict(self, state):
        """Copy a state_dict() back in place, after check_state_dict(state): on an error nothing
        has changed."""
        self.check_state_dict(state)
        self.lr = float(state["lr"])
        for k, arr in self.state_arrays():
            arr[...] = state[k]
        for k in self.counters():
            self._set_counter(k, int(state[k]))

    def _set_counter(self, key, value):
        """Set the step counter `key` (a key of counters())."""
        raise KeyError(key)


class SGD(Optimizer):
    """SGD with momentum mu, optional Nesterov, L2 weight decay wd (module doc):
        g = grad + wd w;   v = mu v + g;   w -= lr (g + mu v  (Nesterov)  or  v)"""

    def __init__(self, parameters, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(parameters, lr)
        self.momentum = check_nonnegative_float(momentum, "momentum")
        if self.momentum >= 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {type(nesterov).__name__} "
                            f"{nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        self.velocity = [np.zeros_like(p.value) for p in self.parameters]
        self._steps = 0
        self._flush_every = flush_period(self.momentum)

    def step(self):
        """w -= lr * step (classical momentum or Nesterov), in place."""
        for p, v in zip(self.parameters, self.velocity):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.value
            if self.momentum:
                v *= self.momentum
                v += g
                g = g + self.momentum * v if self.nesterov else v
            p.value -= self.lr * g
        self._steps += 1
        if self._flush_every and self._steps % self._flush_every == 0:
            flush_tiny(self.velocity)

    def hyperparameters(self):
        """lr, momentum, nesterov, weight_decay."""
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    def state_arrays(self):
        """[("velocity.<i>", v_i)]: the velocities themselves (references, no copies)."""
        return [(f"velocity.{i}", v) for i, v in enumerate(self.velocity)]

    def counters(self):
        """{"steps": steps taken} (the flush schedule: a resumed run repeats it)."""
        return {"steps": self._steps}

    def _set_counter(self, key, value):
        self._steps = value

    def _check_consistency(self, state):
        """No velocity before the first step."""
        if int(state["steps"]) == 0 and any(np.any(state[k]) for k, _ in self.state_arrays()):
            raise ValueError("state['steps'] is 0 but the velocities are not all zero: a state "
                             "before the first step has none")


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), L2 weight decay through the gradient (module doc):
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w -= lr m_hat / (sqrt(v_hat) + eps)"""
    decoupled = False

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(parameters, lr)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair of floats, got {betas!r}") from None
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not 0 <= b < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {b}")
        self.b1, self.b2 = b1, b2
        self.eps = check_nonnegative_float(eps, "eps")
        if self.eps == 0:  # m / (sqrt(v) + 0) is 0/0 = NaN wherever a gradient entry stays 0
            raise ValueError("eps must be > 0, got 0")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        self.t = 0
        self.m = [np.zeros_like(p.value) for p in self.parameters]
        self.v = [np.zeros_like(p.value) for p in self.parameters]
        # The update runs entirely in place in scratch arrays as large as the largest parameter,
        # reused by every step: no temporaries the size of a weight matrix.
        self._scratch = {}
        self._flush_m, self._flush_v = flush_period(b1), flush_period(b2)

    def _work(self, p, j=0):
        """Scratch array j shaped like parameter p (a view into one buffer per dtype)."""
        dt = p.value.dtype
        buf = self._scratch.get((j, dt))
        if buf is None:
            size = max(q.value.size for q in self.parameters if q.value.dtype == dt)
            buf = self._scratch[(j, dt)] = np.empty(size, dtype=dt)
        return buf[:p.value.size].reshape(p.value.shape)

    def step(self):
        """One update of every parameter, in place: a dozen passes over each, no temporaries.
        A large parameter is updated block by block (row_blocks): the dozen passes over one
        block find its arrays in the core's cache."""
        self.t += 1
        b1, b2, t = self.b1, self.b2, self.t
        # Fold both bias corrections into the step size (same update, fewer array passes):
        #   lr * m_hat / (sqrt(v_hat) + eps) = lr_t * m / (sqrt(v) + eps * sqrt(1 - b2^t)),
        #   lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)
        root = math.sqrt(1 - b2 ** t)  # Python floats: no float64 upcast of float32 arrays
        lr_t = self.lr * root / (1 - b1 ** t)
        eps_t = self.eps * root
        for p, m, v in zip(self.parameters, self.m, self.v):
            grad, value, work = p.grad, p.value, self._work(p)
            for rows in row_blocks(value.shape):
                g, w, s = grad[rows], value[rows], work[rows]
                if self.weight_decay:
                    if self.decoupled:
                        w *= 1 - self.lr * self.weight_decay
                    else:
                        g = np.multiply(w, self.weight_decay, out=self._work(p, 1)[rows])
                        g += grad[rows]                       # g = grad + wd w (grad untouched)
                mb, vb = m[rows], v[rows]
                # m = b1 m + (1 - b1) g
                mb *= b1
                np.multiply(g, 1 - b1, out=s)
                mb += s
                # v = b2 v + (1 - b2) g^2
                vb *= b2
                np.multiply(g, 1 - b2, out=s)
                s *= g
                vb += s
                # w -= lr_t m / (sqrt(v) + eps_t)
                np.sqrt(vb, out=s)
                s += eps_t
                np.divide(mb, s, out=s)
                s *= lr_t
                w -= s
        if self._flush_m and t % self._flush_m == 0:
            flush_tiny(self.m)
        if self._flush_v and self.eps and t % self._flush_v == 0:   # eps = 0: keep v exact
            flush_tiny(self.v)

    def hyperparameters(self):
        """lr, betas, eps, weight_decay (decoupled or not follows from the class)."""
        return {"lr": self.lr, "betas": [self.b1, self.b2], "eps": self.eps,
                "weight_decay": self.weight_decay}

    def state_arrays(self):
        """[("m.<i>", m_i)] then [("v.<i>", v_i)]: the moments themselves (references)."""
        return [(f"m.{i}", m) for i, m in enumerate(self.m)] + \
            [(f"v.{i}", v) for i, v in enumerate(self.v)]

    def counters(self):
        """{"t": steps taken} (the bias corrections 1 - b^t depend on it)."""
        return {"t": self.t}

    def _set_counter(self, key, value):
        self.t = value

    def _check_consistency(self, state):
        """v >= 0 (a mean of squares); no moments before the first step (t = 0)."""
        for i in range(len(self.v)):
            if (state[f"v.{i}"] < 0).any():
                raise ValueError(f"state['v.{i}'] (a mean of squared gradients) must be >= 0, "
                                 f"got a minimum of {state[f'v.{i}'].min()}")
        if int(state["t"]) == 0 and any(np.any(state[k]) for k, _ in self.state_arrays()):
            raise ValueError("state['t'] is 0 but the moments m, v are not all zero: a state "
                             "before the first step has none")


class AdamW(Adam):
    """Adam with decoupled weight decay:  w -= lr * wd * w, then the Adam step on the raw gradient."""
    decoupled = True

    def __init__(self, parameters, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(parameters, lr, betas, eps, weight_decay)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW}
