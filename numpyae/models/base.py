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

import numpy as np

from ..nn.parameter import unique
from ..core.checks import all_finite, check_array, check_labels, check_positive_int


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
        other = copy.deepcopy(self)
        for p in other.parameters():
            p.astype(dtype)
        return other

    def n_parameters(self):
        """The number of trainable values (a tied weight counts once)."""
        return sum(p.value.size for p in self.parameters())

    input_dim = None
    n_classes = None

    def check_input(self, X, name="X"):
        """X as a 2-D array of the model's dtype with input_dim features, or a clear error."""
        return check_array(X, name, ndim=2, n_features=self.input_dim, dtype=self.dtype)

    def check_labels(self, y, n, name="y"):
        """y as n integer labels (required when the model needs labels), or None."""
        if y is None:
            if self.needs_labels:
                raise ValueError(f"{name} is required: {type(self).__name__} trains on labels")
            return None
        return check_labels(y, name, n=n, n_classes=self.n_classes)

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

    def evaluate(self, X, y=None, *, batch_size=1024):
        """Mean of each loss term over X (inference mode: no corruption, no grads)."""
        X = self.check_input(X)
        y = self.check_labels(y, len(X))
        batch_size = check_positive_int(batch_size, "batch_size")
        totals, n = {}, len(X)
        for start in range(0, n, batch_size):
            xb = X[start:start + batch_size]
            yb = None if y is None else y[start:start + batch_size]
            for k, v in self.forward_loss(xb, yb, training=False).items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(xb)
        return {k: v / n for k, v in totals.items()}


class EncoderDecoder:
    """encode / decode / reconstruct for a model made of self.encoder, self.decoder and
    self.loss (loss.predict maps the decoder's raw output to a reconstruction: the sigmoid of
    the logits for BCE). Inference mode: no corruption, no noise."""

    def encode(self, X):
        """Codes h = encoder(X).  (B, D) -> (B, k)"""
        return self.encoder.forward(self.check_input(X), training=False)

    def decode(self, H):
        """Reconstructions from codes.  (B, k) -> (B, D)"""
        H = check_array(H, "H", ndim=2, n_features=self.code_dim, dtype=self.dtype)
        return self.loss.predict(self.decoder.forward(H, training=False))

    def reconstruct(self, X):
        """x_hat = decode(encode(X)) (pass a corrupted X yourself to see a model denoise)."""
        X = self.check_input(X)
        return self.loss.predict(self.decoder.forward(self.encoder.forward(X, training=False),
                                                      training=False))


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf; the message names the quantity (and, from fit, where)."""


def guarded_update(optimizer, named):
    """optimizer.step(), undone if it overflows a parameter to inf/NaN (a learning rate far too
    large): the values from before the step are put back and NonFiniteError names the parameter.
    The backup is one copy of the parameters into buffers kept on the optimizer."""
    backup = getattr(optimizer, "_backup", None)
    if backup is None or len(backup) != len(named) or any(
            b.shape != p.value.shape or b.dtype != p.value.dtype for b, (_, p) in zip(backup, named)):
        backup = optimizer._backup = [np.empty_like(p.value) for _, p in named]
    for b, (_, p) in zip(backup, named):
        np.copyto(b, p.value)
    optimizer.step()
    for b, (name, p) in zip(backup, named):
        if not all_finite(p.value):
            for b2, (_, p2) in zip(backup, named):
                np.copyto(p2.value, b2)
            raise NonFiniteError(f"the optimizer step overflowed parameter {name} to inf/NaN "
                                 f"(learning rate too large?)")


def check_finite_step(terms, named_parameters):
    """NonFiniteError if a loss term or a gradient is NaN or inf."""
    for k, v in terms.items():
        if not np.isfinite(v):
            raise NonFiniteError(f"loss term {k!r} is {v}")
    for name, p in named_parameters:
        if not all_finite(p.grad):
            raise NonFiniteError(f"gradient of {name} contains NaN or inf")
