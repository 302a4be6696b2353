"""The autoencoder as a composition: encoder + decoder + reconstruction loss.

    h = encoder(x)            code               (B, k)
    o = decoder(h)            raw output         (B, D)   (logits when the loss is BCE)
    x_hat = loss.predict(o)   reconstruction     (B, D)
    L = loss(o, x)

Backward is the chain rule through the parts in reverse:
    do = dL/do;   dh = decoder.backward(do);   encoder.backward(dh)
"""
from __future__ import annotations

import numpy as np

from ..io import register
from ..layers import Dense, Layer, Sequential, TiedDense, input_dim, output_dim
from ..activations import get_activation
from ..losses import get_loss
from .._validation import as_generator, check_dtype, check_positive_int
from .base import Model


@register
class Autoencoder(Model):
    terms = ("loss", "reconstruction")

    def __init__(self, encoder, decoder, loss="mse"):
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, Layer):
                raise TypeError(f"{name} must be a Layer (e.g. Sequential), got {type(part).__name__}")
        self.encoder, self.decoder = encoder, decoder
        self.loss = get_loss(loss)
        self.input_dim = input_dim(encoder)
        self.code_dim = output_dim(encoder)
        if output_dim(decoder) is not None and self.input_dim is not None \
                and output_dim(decoder) != self.input_dim:
            raise ValueError(f"decoder must output {self.input_dim} features (the encoder's input), "
                             f"got {output_dim(decoder)}")

    def named_children(self):
        return [("encoder", self.encoder), ("decoder", self.decoder)]

    # ---- inference --------------------------------------------------------------------
    def encode(self, X):
        """Codes h = encoder(X), inference mode.  (B, D) -> (B, k)"""
        return self.encoder.forward(self.check_input(X), training=False)

    def decode(self, H):
        """Reconstructions from codes.  (B, k) -> (B, D)"""
        from .._validation import check_array
        H = check_array(H, "H", ndim=2, n_features=self.code_dim, dtype=self.dtype)
        return self.loss.predict(self.decoder.forward(H, training=False))

    def reconstruct(self, X):
        """x_hat = decode(encode(X)), inference mode."""
        X = self.check_input(X)
        return self.loss.predict(self.decoder.forward(self.encoder.forward(X, training=False),
                                                      training=False))

    # ---- training ---------------------------------------------------------------------
    def forward_loss(self, x, y=None, *, training=True):
        h = self.encoder.forward(x, training=training)
        o = self.decoder.forward(h, training=training)
        rec = self.loss.forward(o, x)
        return {"loss": rec, "reconstruction": rec}

    def loss_and_grad(self, x, y=None):
        self.zero_grad()
        terms = self.forward_loss(x, y, training=True)
        dh = self.decoder.backward(self.loss.backward())
        self.encoder.backward(dh)
        return terms

    def get_config(self, ctx):
        return {"encoder": ctx.encode(self.encoder), "decoder": ctx.encode(self.decoder),
                "loss": ctx.encode(self.loss)}

    def __repr__(self):
        return f"Autoencoder(\n encoder={self.encoder!r},\n decoder={self.decoder!r},\n loss={self.loss!r})"


def mlp_autoencoder(sizes, *, activation="relu", code_activation="identity", loss="bce",
                    output_activation=None, tied=False, init=None, rng=None, dtype=np.float32):
    """A symmetric MLP autoencoder from layer sizes.

    sizes=[64, 32, 16] builds  64 -> 32 -> 16 (code) -> 32 -> 64.
    Undercomplete when the code is smaller than the input, overcomplete when larger.

    activation         hidden layers (encoder and decoder)
    code_activation    the code layer
    loss               "bce" (decoder emits logits, reconstruct applies the sigmoid) or "mse"
    output_activation  last decoder layer; default identity for "bce", sigmoid for "mse"
    tied               decoder layer i reuses encoder layer (n-1-i)'s W transposed (TiedDense),
                       with its own bias: half the weights, and the classic RBM-style autoencoder
    """
    try:
        sizes = [check_positive_int(s, "sizes[i]") for s in sizes]
    except TypeError as exc:
        if "sizes[i]" in str(exc):
            raise
        raise TypeError(f"sizes must be a list of positive ints, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes must list the input size and at least one code size, got {sizes}")
    loss = get_loss(loss)
    for act in (activation, code_activation, output_activation):
        get_activation(act)  # validate every name, even one a shallow model does not use
    if output_activation is None:
        output_activation = "identity" if loss.name == "bce" else "sigmoid"
    rng = as_generator(rng)
    dtype = check_dtype(dtype)
    n = len(sizes) - 1
    enc = [Dense(sizes[i], sizes[i + 1], activation if i < n - 1 else code_activation,
                 init=init, rng=rng, dtype=dtype) for i in range(n)]
    back = sizes[::-1]
    dec_activations = [activation] * (n - 1) + [output_activation]
    if tied:
        dec = [TiedDense(enc[n - 1 - i], dec_activations[i]) for i in range(n)]
    else:
        dec = [Dense(back[i], back[i + 1], dec_activations[i], init=init, rng=rng, dtype=dtype)
               for i in range(n)]
    return Autoencoder(Sequential(enc), Sequential(dec), loss)
