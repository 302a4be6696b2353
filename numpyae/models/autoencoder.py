"""The autoencoder as a composition: encoder + decoder + reconstruction loss, with an optional
input corruption and optional penalties.

    x_tilde = C(x)            corruption, training only (identity without one / at inference)
    h = encoder(x_tilde)      code               (B, k)    the encoder's LAST layer is the code layer
    o = decoder(h)            raw output         (B, D)    (logits when the loss is BCE)
    x_hat = loss.predict(o)   reconstruction     (B, D)
    L = loss(o, x) + sum_p P_p                   the reconstruction is always against the CLEAN x

Backward is the chain rule through the parts in reverse, the penalties joining at the code layer:
    do = dL/do
    dh = decoder.backward(do) + sum_p dP_p/dh                                  (B, k)
    code_layer.backward(dh, da=sum_p dP_p/da), then the layers below it        (B, k)
The encoder's input is data, so no gradient is computed for it (input_grad=False).

Data. Binary cross-entropy needs x in [0, 1] (for x > 1 it is unbounded below: training drives it
to -inf). fit, evaluate and the gradient checker refuse other data once, before any work
(Model.check_input: one min and one max over X, never per step); encode and reconstruct compute
no loss and take any finite input. BCE works on logits, so a decoder ending in a sigmoid (the
sigmoid applied twice) is refused too.

Builders: mlp_autoencoder (deep, under/overcomplete, tied), linear_autoencoder, and
stack_autoencoders (greedy layer-wise stacks). The classic variants are presets in presets.py.
"""
from __future__ import annotations

import copy

import numpy as np

from ..core.checks import check_bool, check_dtype, check_positive_int, check_sizes
from ..core.random import as_generator
from ..core.registry import register
from ..nn.corruption import Corruption
from ..nn.layers import (Dense, Layer, Sequential, TiedDense, backward_through, flatten,
                         input_dim, output_dim)
from ..nn.losses import get_loss
from ..nn.penalties import Penalty
from .base import EncoderDecoder, Model, check_activation, check_logits_decoder


@register
class Autoencoder(EncoderDecoder, Model):
    """encoder + decoder + loss (+ corruption) (+ penalties).

    corruption   a Corruption (numpyae.nn.corruption), active only in training
    penalties    Penalty objects (numpyae.nn.penalties); code penalties apply to the code layer,
                 which is the encoder's last (leaf) layer, ``model.code_layer``
    The loss terms are "loss" (total), "reconstruction" and one per penalty, named by the
    penalty (e.g. "kl_sparsity", "weight_decay"); fit()'s History records all of them.
    """

    def __init__(self, encoder, decoder, loss="mse", corruption=None, penalties=()):
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, Layer):
                raise TypeError(f"{name} must be a Layer (e.g. Sequential), got {type(part).__name__}")
        self.encoder, self.decoder = encoder, decoder
        self.loss = get_loss(loss)
        check_logits_decoder(decoder, self.loss)
        self.input_dim = input_dim(encoder)
        self.code_dim = output_dim(encoder)
        if output_dim(decoder) is not None and self.input_dim is not None \
                and output_dim(decoder) != self.input_dim:
            raise ValueError(f"decoder must output {self.input_dim} features (the encoder's input), "
                             f"got {output_dim(decoder)}")
        if corruption is not None and not isinstance(corruption, Corruption):
            raise TypeError(f"corruption must be a numpyae Corruption or None, "
                            f"got {type(corruption).__name__}")
        self.corruption = corruption
        if penalties is None:
            penalties = []
        if isinstance(penalties, Penalty):
            penalties = [penalties]
        if isinstance(penalties, (str, bytes, dict)) or not hasattr(penalties, "__iter__"):
            raise TypeError(f"penalties must be a list of numpyae Penalty objects, "
                            f"got {type(penalties).__name__}")
        penalties = list(penalties)
        for i, p in enumerate(penalties):
            if not isinstance(p, Penalty):
                raise TypeError(f"penalties[{i}] must be a numpyae Penalty, got {type(p).__name__}")
        self._encoder_layers = flatten(encoder)
        self.code_layer = self._encoder_layers[-1]
        for p in penalties:
            p.bind(self.code_layer)
        self.penalties = penalties
        names = []
        for p in penalties:
            name, k = p.name, 1
            while name in names or name in ("loss", "reconstruction"):
                k += 1
                name = f"{p.name}_{k}"
            names.append(name)
        self.penalty_names = tuple(names)
        self.terms = ("loss", "reconstruction") + self.penalty_names

    def named_children(self):
        return [("encoder", self.encoder), ("decoder", self.decoder)]

    def weight_parameters(self):
        """The weight matrices (parameters named W; a tied W once), which WeightDecay acts on."""
        return [p for name, p in self.named_parameters_unique() if name.rsplit(".", 1)[-1] == "W"]

    def forward_loss(self, x, y=None, *, training=True):
        """The loss terms on the batch x (module doc); caches what backward needs."""
        x_in = x
        if self.corruption is not None:
            x_in = self.corruption.forward(x, training=training)
        h = self.encoder.forward(x_in, training=training)
        o = self.decoder.forward(h, training=training)
        rec = self.loss.forward(o, x)  # against the clean input
        terms = {"loss": rec, "reconstruction": rec}
        if self.penalties:
            weights = self.weight_parameters()
            for name, p in zip(self.penalty_names, self.penalties):
                v = p.forward(h, self.code_layer, weights)
                terms[name] = v
                terms["loss"] += v
        return terms

    def backward(self):
        """The chain rule back from the loss and the penalties (module doc)."""
        dh = self.decoder.backward(self.loss.backward())
        if not self.penalties:
            self.encoder.backward(dh, input_grad=False)   # x is data: dL/dx is not needed
            return
        da = None
        for p in self.penalties:
            dh_p, da_p = p.backward()
            if dh_p is not None:
                dh = dh + dh_p
            if da_p is not None:
                da = da_p if da is None else da + da_p
        code, below = self.code_layer, self._encoder_layers[:-1]
        # x is data: dL/dx is needed only as far down as the lowest layer with parameters
        needs_dx = any(layer.named_parameters() for layer in below)
        if da is None:
            dx = code.backward(dh, input_grad=needs_dx)
        else:  # the penalties' dP/da joins the chain rule at the code layer's pre-activation
            dx = code.backward(dh, input_grad=needs_dx, da=da)
        if needs_dx:
            backward_through(below, dx, input_grad=False)

    def get_config(self, ctx):
        """Constructor arguments, for saving: encoder, decoder, loss (+ corruption, penalties)."""
        config = {"encoder": ctx.serialize(self.encoder), "decoder": ctx.serialize(self.decoder),
                  "loss": ctx.serialize(self.loss)}
        if self.corruption is not None:
            config["corruption"] = ctx.serialize(self.corruption)
        if self.penalties:
            config["penalties"] = [ctx.serialize(p) for p in self.penalties]
        return config

    def __repr__(self):
        extra = ""
        if self.corruption is not None:
            extra += f",\n corruption={self.corruption!r}"
        if self.penalties:
            extra += f",\n penalties={self.penalties!r}"
        return (f"{type(self).__name__}(\n encoder={self.encoder!r},\n decoder={self.decoder!r},"
                f"\n loss={self.loss!r}{extra})")


def mlp_layers(sizes, *, activation="relu", code_activation="identity",
               output_activation="identity", tied=False, init=None, rng=None, dtype=np.float32):
    """(encoder, decoder) Sequentials of a symmetric MLP: sizes=[64, 32, 16] gives the encoder
    64 -> 32 -> 16 and the decoder 16 -> 32 -> 64 (TiedDense layers when tied)."""
    sizes = check_sizes(sizes)
    for name, act in (("activation", activation), ("code_activation", code_activation),
                      ("output_activation", output_activation)):
        check_activation(act, name)  # validate every name, even one a shallow model does not use
    tied = check_bool(tied, "tied")
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
    return Sequential(enc), Sequential(dec)


def mlp_autoencoder(sizes, *, activation="relu", code_activation="identity", loss="bce",
                    output_activation=None, tied=False, init=None, rng=None, dtype=np.float32,
                    corruption=None, penalties=()):
    """A symmetric MLP autoencoder from layer sizes.

    sizes=[64, 32, 16] builds  64 -> 32 -> 16 (code) -> 32 -> 64.
    Undercomplete when the code is smaller than the input, overcomplete when larger.

    activation         hidden layers (encoder and decoder)
    code_activation    the code layer
    loss               "bce" (decoder emits logits, reconstruct applies the sigmoid) or "mse"
    output_activation  last decoder layer; None: what the loss expects, identity (logits) for
                       "bce" and sigmoid for "mse"
    tied               decoder layer i reuses encoder layer (n-1-i)'s W transposed (TiedDense),
                       with its own bias: half the weights, and the classic RBM-style autoencoder
    corruption         a Corruption for a denoising autoencoder (numpyae.nn.corruption)
    penalties          Penalty objects (numpyae.nn.penalties), on the code layer / the weights
    rng                int seed or np.random.Generator for the initial weights
    """
    loss = get_loss(loss)
    if output_activation is None:
        output_activation = "identity" if loss.takes_logits else "sigmoid"
    elif loss.takes_logits:
        out_name = check_activation(output_activation, "output_activation").name
        if out_name != "identity":
            raise ValueError(f"output_activation must be 'identity' (or None) with loss="
                             f"{loss.name!r}: {loss.long_name} takes logits and applies the "
                             f"sigmoid itself, so output_activation={out_name!r} would be "
                             f"applied twice (use loss='mse' for a {out_name} output)")
    encoder, decoder = mlp_layers(sizes, activation=activation, code_activation=code_activation,
                                  output_activation=output_activation, tied=tied, init=init,
                                  rng=rng, dtype=dtype)
    return Autoencoder(encoder, decoder, loss, corruption=corruption, penalties=penalties)


def linear_autoencoder(n_features, n_components, *, rng=None, dtype=np.float32):
    """The undercomplete autoencoder with identity activations and MSE loss: D -> k -> D."""
    n_features = check_positive_int(n_features, "n_features")
    n_components = check_positive_int(n_components, "n_components")
    return mlp_autoencoder([n_features, n_components], activation="identity",
                           code_activation="identity", output_activation="identity",
                           loss="mse", rng=rng, dtype=dtype)


def stack_autoencoders(stages, *, copy_weights=True):
    """One deep Autoencoder from shallow ones trained greedily (stage i encodes stage i-1's codes).

        encoder = Sequential(enc_1 layers, ..., enc_k layers)
        decoder = Sequential(dec_k layers, ..., dec_1 layers)
        loss    = stages[0].loss   (the deep model reconstructs the data, as stage 1 did)

    copy_weights=True deep-copies all stages together (tied layers stay tied to their copied
    encoder layer) so that fine-tuning the stack leaves the stage models untouched.
    """
    if isinstance(stages, (str, bytes, Model)) or not hasattr(stages, "__iter__"):
        raise TypeError(f"stages must be a list of Autoencoders, got {type(stages).__name__}")
    stages = list(stages)
    copy_weights = check_bool(copy_weights, "copy_weights")
    if not stages:
        raise ValueError("stages must hold at least one Autoencoder, got none")
    for i, s in enumerate(stages):
        if not isinstance(s, Autoencoder):
            raise TypeError(f"stages[{i}] must be an Autoencoder, got {type(s).__name__}")
    for i in range(1, len(stages)):
        if stages[i].input_dim != stages[i - 1].code_dim:
            raise ValueError(f"stages[{i}] must take stages[{i - 1}]'s {stages[i - 1].code_dim}-d "
                             f"codes as input, got input_dim {stages[i].input_dim}")
    if copy_weights:
        stages = copy.deepcopy(stages)
    encoder = Sequential([layer for s in stages for layer in flatten(s.encoder)])
    decoder = Sequential([layer for s in reversed(stages) for layer in flatten(s.decoder)])
    return Autoencoder(encoder, decoder, stages[0].loss)
