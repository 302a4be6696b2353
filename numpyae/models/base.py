"""Model: what fit(), the gradient checker, the tracer and save/load need from every model.

The model protocol (ARCHITECTURE.md). A model subclass implements
    forward_loss(x, y=None, *, training=True) -> dict   loss terms, "loss" is the total
    backward()                                          adds the gradients of the last "loss"
and lists its layers in ``named_children()``. loss_and_grad(x, y) = zero_grad, forward_loss,
backward. train_step() is one optimizer step; models with several optimizers (the adversarial
autoencoder) override it.
"""
from __future__ import annotations

import copy
import re

import numpy as np

from ..nn.activations import get_activation
from ..nn.layers import flatten
from ..nn.optimizers import SGD, Adam, AdamW
from ..nn.parameter import unique
from ..core.checks import (check_array, check_dtype, check_labels, check_positive_int,
                           first_nonfinite)
from ..core.random import as_generator

#: The seed of the Generator that draws the noise a loss needs in inference mode (the VAE's eps,
#: the AAE's prior samples) when evaluate() is called without rng, or forward_loss(...,
#: training=False) outside evaluate(). Inference never draws from the model's own Generator.
EVAL_SEED = 0


class Model:
    """The base of every model: named_children() -> layers and parameters; forward_loss, backward,
    loss_and_grad and train_step for training (module doc)."""

    #: names of the loss terms this model reports; "loss" (the total) is always first
    terms = ("loss",)
    #: whether the model needs labels y (classifier, conditional VAE)
    needs_labels = False
    #: get_config() entries that training advances (e.g. the VAE's KL warm-up step counter):
    #: a checkpoint restores them, and resuming does not count them as an architecture change
    training_state = ()

    def named_children(self):
        """[(name, Layer)] in a fixed order; parameters are named "<child>.<param>"."""
        raise NotImplementedError

    def named_parameters(self):
        """[("<child>.<param>", Parameter)]; a tied weight appears under each user."""
        return [(f"{cname}.{pname}", p) for cname, child in self.named_children()
                for pname, p in child.named_parameters()]

    def named_parameters_unique(self):
        """named_parameters with each Parameter once, under the first name it has."""
        seen, out = set(), []
        for name, p in self.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((name, p))
        return out

    def parameters(self):
        """Every Parameter of the model, each once."""
        return unique(p for _, p in self.named_parameters())

    def zero_grad(self):
        """Set every gradient to 0 (backward adds into them)."""
        for p in self.parameters():
            p.zero_grad()

    @property
    def dtype(self):
        """The parameters' dtype (np.float32 or np.float64)."""
        return self.parameters()[0].value.dtype.type

    def astype(self, dtype):
        """A deep copy with every Parameter cast to dtype (ties preserved)."""
        dtype = check_dtype(dtype)
        other = copy.deepcopy(self)
        for p in other.parameters():
            p.astype(dtype)
        return other

    def n_parameters(self):
        """The number of trainable values (a tied weight counts once)."""
        return sum(p.value.size for p in self.parameters())

    input_dim = None
    n_classes = None
    #: how to lift the data-range requirement of the reconstruction loss, for messages
    range_hint = "or use loss='mse'"

    def reconstruction_term(self):
        """The loss or likelihood that scores the reconstruction of X (its target_range is the
        range X must lie in), or None for a model that reconstructs nothing."""
        return None

    def check_input(self, X, name="X", *, as_target=True):
        """X as a 2-D array of the model's dtype with input_dim features, or a clear error.

        as_target  X is also what the model's loss compares against (fit, evaluate, gradient
                   checks, log-likelihoods): its values must then lie in the target_range of
                   reconstruction_term() ([0, 1] for binary cross-entropy and the Bernoulli
                   likelihood, which are unbounded below otherwise). That costs one min and one
                   max over X per call: fit() checks its data once, never per step. encode,
                   reconstruct and friends pass False: they compute no loss, and any finite
                   input (a noisy one, say) is fine.
        """
        X = check_array(X, name, ndim=2, n_features=self.input_dim, dtype=self.dtype)
        term = self.reconstruction_term() if as_target else None
        if term is not None and getattr(term, "target_range", None) is not None:
            term.check_target_range(X, name, hint=f"; scale it, e.g. {name} / 255 for 8-bit "
                                                  f"pixels, {self.range_hint}")
        return X

    def check_labels(self, y, n, name="y"):
        """y as n integer labels, for a model that trains on labels (there y is required);
        None for a model that takes none (there a y is refused rather than ignored)."""
        if not self.needs_labels:
            if y is not None:
                raise ValueError(f"{name} must be None: {type(self).__name__} takes no labels "
                                 f"(it learns from X alone), got {type(y).__name__}")
            return None
        if y is None:
            raise ValueError(f"{name} is required: {type(self).__name__} trains on labels")
        return check_labels(y, name, n=n, n_classes=self.n_classes)

    def finite_result(self, out, X, name="X"):
        """out, if every value in it is finite; else a ValueError naming the input `name`.

        The parameters are always finite (training never leaves them otherwise), so a NaN or inf
        result of inference on finite input means the input is too large for the model's
        float arithmetic (values of 1e30 squared, say). One dot product over the result."""
        outs = list(out.values()) if isinstance(out, dict) else \
            list(out) if isinstance(out, tuple) else [out]
        arrays = [np.asarray(o, dtype=np.float64) if np.ndim(o) == 0 else o for o in outs]
        if first_nonfinite(arrays) is None:
            return out
        named = self.named_parameters_unique()
        i = first_nonfinite([p.value for _, p in named])
        if i is not None:      # (only by hand: training and loading keep them finite)
            raise NonFiniteError(f"parameter {named[i][0]} holds NaN or inf, so every result "
                                 f"is NaN or inf")
        big = float(np.max(np.abs(X))) if np.size(X) else 0.0
        raise ValueError(f"{name} is too large for this model: the result is not finite in "
                         f"{np.dtype(self.dtype).name} arithmetic (|{name}| reaches {big:.3g}); "
                         f"scale {name} (e.g. standardize it)")

    def inference_rng(self):
        """The Generator for the random draws of a forward pass in inference mode
        (training=False): evaluate()'s, while it runs, else a fresh Generator(EVAL_SEED).
        Never self.rng: inference leaves the training stream where it was."""
        gen = self.__dict__.get("_eval_rng")
        return gen if gen is not None else np.random.default_rng(EVAL_SEED)

    def forward_loss(self, x, y=None, *, training=True):
        """The loss terms on the batch x (labels y), {"loss": total, ...}; caches for backward."""
        raise NotImplementedError

    def backward(self):
        """Adds the gradients of the last forward_loss's "loss" into every Parameter.grad."""
        raise NotImplementedError

    def loss_and_grad(self, x, y=None):
        """Zero the gradients, forward_loss in training mode, backward. Returns the terms."""
        self.zero_grad()
        terms = self.forward_loss(x, y, training=True)
        self.backward()
        return terms

    def train_step(self, x, y, optimizer):
        """One step: gradients of the batch loss, then the optimizer update. Returns the terms.

        Raises before the update if the loss or any gradient is not finite, so the parameters
        stay at their last good values (fit() adds the epoch and step to the message).
        """
        terms = self.loss_and_grad(x, y)
        named = self.named_parameters_unique()
        check_finite_step(terms, named)
        guarded_update(optimizer, named)
        return terms

    def evaluate(self, X, y=None, *, batch_size=1024, rng=EVAL_SEED):
        """Mean of each loss term over X (inference mode: no corruption, no grads).

        Deterministic and free of side effects: a loss that needs random draws in inference
        mode (the VAE's eps, the AAE's prior samples) draws them from a Generator seeded with
        rng (default EVAL_SEED = 0; an int, a Generator, or None for fresh entropy), never from
        the model's own Generator, which stays where it was. So two calls give the same
        numbers, and a training run is the same with or without validation data.
        """
        X = self.check_input(X)
        y = self.check_labels(y, len(X))
        batch_size = check_positive_int(batch_size, "batch_size")
        gen = as_generator(rng)
        totals, n = {}, len(X)
        self._eval_rng = gen
        try:
            for start in range(0, n, batch_size):
                xb = X[start:start + batch_size]
                yb = None if y is None else y[start:start + batch_size]
                for k, v in self.forward_loss(xb, yb, training=False).items():
                    totals[k] = totals.get(k, 0.0) + float(v) * len(xb)
        finally:
            self._eval_rng = None
        return self.finite_result({k: v / n for k, v in totals.items()}, X)


class EncoderDecoder:
    """encode / decode / reconstruct for a model made of self.encoder, self.decoder and
    self.loss (loss.predict maps the decoder's raw output to a reconstruction: the sigmoid of
    the logits for BCE). Inference mode: no corruption, no noise. X is checked for its shape,
    dtype and finiteness, not for the loss's target range: no loss is computed here, and a
    noisy input outside [0, 1] is a fair thing to reconstruct."""

    def reconstruction_term(self):
        """The reconstruction loss (its target_range is the range the data must lie in)."""
        return self.loss

    def encode(self, X):
        """Codes h = encoder(X).  (B, D) -> (B, k)"""
        X = self.check_input(X, as_target=False)
        return self.finite_result(self.encoder.forward(X, training=False), X)

    def decode(self, H):
        """Reconstructions from codes.  (B, k) -> (B, D)"""
        H = check_array(H, "H", ndim=2, n_features=self.code_dim, dtype=self.dtype)
        return self.finite_result(self.loss.predict(self.decoder.forward(H, training=False)),
                                  H, "H")

    def reconstruct(self, X):
        """x_hat = decode(encode(X)) (pass a corrupted X yourself to see a model denoise)."""
        X = self.check_input(X, as_target=False)
        out = self.loss.predict(self.decoder.forward(self.encoder.forward(X, training=False),
                                                     training=False))
        return self.finite_result(out, X)


def check_activation(spec, name):
    """The Activation for spec (a name, a config dict, an Activation or None), or an error that
    names the argument `name` (code_activation, output_activation, disc_activation, ...)."""
    try:
        return get_activation(spec)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        if name != "activation" and msg.startswith("activation "):
            msg = name + msg[len("activation"):]    # "code_activation must be one of ..."
        elif not msg.startswith(name):
            msg = f"{name}: {msg}"
        raise type(exc)(msg) from None


def check_logits_decoder(decoder, term):
    """Refuse a decoder whose last layer applies an activation when the reconstruction term
    (binary cross-entropy, the Bernoulli likelihood) works on logits: it applies the sigmoid
    itself, so a sigmoid output layer would be applied twice (reconstructions in [0.5, 0.73])."""
    if not getattr(term, "takes_logits", False):
        return
    leaves = flatten(decoder)
    act = getattr(leaves[-1], "activation", None) if leaves else None
    act_name = getattr(act, "name", "identity")
    if act_name != "identity":
        raise ValueError(f"decoder must end in logits (identity activation) for "
                         f"{term.long_name}, which applies the sigmoid itself; its last layer "
                         f"applies {act_name!r} (use output_activation='identity', or loss='mse' "
                         f"for a {act_name} output)")


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf; the message names the quantity (and, from fit, where)."""


def guarded_update(optimizer, named):
    """optimizer.step(), undone if it overflows a parameter to inf/NaN (a learning rate far too
    large) or its own state (Adam's v = b2 v + (1 - b2) g^2 reaches inf for |g| > ~1e19 in
    float32; Adam then divides by inf and those weights stop moving for good, with every
    parameter still finite): the values from before the step are put back and NonFiniteError
    names the parameter (and the state entry). The backup is one copy of the parameters into
    buffers kept on the optimizer; the checks are one dot product per parameter (first_nonfinite)
    and per float array of optimizer.state_dict(), which returns references, not copies."""
    backup = getattr(optimizer, "_backup", None)
    if backup is None or len(backup) != len(named) or any(
            b.shape != p.value.shape or b.dtype != p.value.dtype for b, (_, p) in zip(backup, named)):
        backup = optimizer._backup = [np.empty_like(p.value) for _, p in named]
    for b, (_, p) in zip(backup, named):
        np.copyto(b, p.value)
    failure = None
    try:
        # an overflow is found and reported below (NonFiniteError), not as a RuntimeWarning
        with np.errstate(over="ignore", invalid="ignore"):
            optimizer.step()
    except FloatingPointError as exc:   # an optimizer that raises itself: it stopped midway
        failure = exc
    message = _nonfinite_after_step(optimizer, named)
    if message is None and failure is not None:
        message = (f"the optimizer step failed ({failure}): the gradients are too large; scale "
                   f"the inputs (or lower the learning rate)")
    if message is not None:
        for b, (_, p) in zip(backup, named):
            np.copyto(p.value, b)
        raise NonFiniteError(message) from None


#: The state entries (key prefixes) of the library's own optimizers whose overflow would NOT
#: show in the parameters, so the guard must look at them. The others always do:
#:   SGD     a velocity of +-inf or NaN makes the step w -= lr * v itself +-inf or NaN;
#:   Adam    m = b1 m + (1 - b1) g can reach inf only when g^2, hence v, does, and then the
#:           update m / (sqrt(v) + eps) is inf / inf = NaN; a NaN in m or v is NaN in w.
#:           Only v = +inf with a finite m passes silently: m / inf = 0, the weight is frozen.
#: Exact types only: a subclass (another step) or any other optimizer has every float array
#: of its state_dict() checked. Skipping Adam's m and SGD's velocity halves the cost of the
#: check: measured on the 784-256-64-256-784 MSE benchmark with Adam, checking m and v added
#: 3% to a step at batch 64-256, checking v alone 1%.
SILENT_STATE = {SGD: (), Adam: ("v.",), AdamW: ("v.",)}


def _state_to_check(optimizer):
    """[(key, array)] of the optimizer state the update guard checks (see SILENT_STATE)."""
    prefixes = SILENT_STATE.get(type(optimizer))
    if prefixes is not None:
        return [(k, a) for k, a in optimizer.state_arrays() if k.startswith(prefixes)] \
            if prefixes else []
    return [(key, value) for key, value in optimizer.state_dict().items()
            if isinstance(value, np.ndarray) and value.dtype.kind == "f"]


def _nonfinite_after_step(optimizer, named):
    """The message naming the first parameter, else the first optimizer-state array, that is
    not finite after a step; None when everything is finite."""
    state = _state_to_check(optimizer)
    i = first_nonfinite([p.value for _, p in named] + [a for _, a in state])
    if i is None:
        return None
    if i < len(named):
        return (f"the optimizer step overflowed parameter {named[i][0]} to inf/NaN "
                f"(learning rate too large?)")
    return _state_overflow_message(optimizer, named, *state[i - len(named)])


#: What the entries of the optimizers' state_dict() hold ("<prefix>.<parameter index>").
_STATE_NAMES = {"m": "first moment m", "v": "second moment v", "velocity": "velocity"}


def _state_overflow_message(optimizer, named, key, value):
    """The message for the non-finite state entry `key` (its parameter found by the index in
    the key), e.g. Adam's second moment v of encoder.0.W overflowed to inf: the gradients are
    ~1e+20; scale the inputs."""
    what = "NaN" if np.isnan(value).any() else "inf"
    opt = type(optimizer).__name__
    match = re.fullmatch(r"(.+)\.(\d+)", key)
    params = getattr(optimizer, "parameters", None)
    if match is None or not isinstance(params, list) or int(match.group(2)) >= len(params):
        return (f"{opt}'s state entry {key!r} overflowed to {what}: the gradients are too "
                f"large; scale the inputs (or lower the learning rate)")
    p = params[int(match.group(2))]
    names = {id(q): n for n, q in named}
    pname = names.get(id(p), f"parameter {match.group(2)} of the optimizer")
    entry = _STATE_NAMES.get(match.group(1), f"state entry {key!r}")
    with np.errstate(all="ignore"):
        g = float(np.max(np.abs(p.grad))) if p.grad.size else 0.0
    return (f"{opt}'s {entry} of {pname} overflowed to {what}: the gradients are ~{g:.0e}; "
            f"scale the inputs (or lower the learning rate); this optimizer's state is spoiled, "
            f"build a new one to continue")


def check_finite_step(terms, named_parameters):
    """NonFiniteError if a loss term or a gradient is NaN or inf."""
    for k, v in terms.items():
        if not np.isfinite(v):
            raise NonFiniteError(f"loss term {k!r} is {v}")
    named_parameters = list(named_parameters)
    i = first_nonfinite([p.grad for _, p in named_parameters])
    if i is not None:
        raise NonFiniteError(f"gradient of {named_parameters[i][0]} contains NaN or inf")
