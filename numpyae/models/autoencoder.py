"""The autoencoder as a composition: encoder + decoder + reconstruction loss, with an optional
input corruption and optional penalties (DESIGN.md "Autoencoders are compositions").

    x_tilde = C(x)            corruption, training only (identity without one / at inference)
    h = encoder(x_tilde)      code               (B, k)    the encoder's LAST layer is the code layer
    o = decoder(h)            raw output         (B, D)    (logits when the loss is BCE)
    x_hat = loss.predict(o)   reconstruction     (B, D)
    L = loss(o, x) + sum_p P_p                   the reconstruction is always against the CLEAN x

Backward is the chain rule through the parts in reverse, with the penalties' gradients joining
at the code layer (penalties.py):
    do = dL/do
    dh = decoder.backward(do) + sum_p dP_p/dh                       (B, k)
    da = dh * f'(a) + sum_p dP_p/da      for the code layer h = f(a) (B, k)
    dx_c = code_layer.backward_preactivation(da);  then the layers below the code layer in reverse
    (weight decay adds lam*W straight into each W.grad; the corruption has no parameters and its
    input gradient is not needed, so the backward pass stops at the encoder's input)

The classic variants are presets over this composition (classes below, each citing its source):
DenoisingAutoencoder (corruption), SparseAutoencoder (KL / L1 activity penalty or a TopK code
layer), ContractiveAutoencoder (Jacobian penalty); mlp_autoencoder(tied=True) ties the weights.
"""
from __future__ import annotations

import copy

import numpy as np

from ..nn.corruption import Corruption, get_corruption
from ..core.registry import register
from ..nn.layers import (Dense, Layer, Sequential, TiedDense, TopK, backward_parameters_chain,
                      input_dim, output_dim)
from ..nn.losses import MSE, get_loss
from ..nn.penalties import Contractive, KLSparsity, L1Activity, Penalty, WeightDecay
from ..nn.activations import get_activation
from ..core.checks import check_dtype, check_positive_int, check_sizes
from ..core.random import as_generator
from .base import EncoderDecoder, Model


def _flatten(layer):
    """The leaf layers of a (possibly nested) Sequential, in forward order."""
    subs = getattr(layer, "layers", None)
    if subs is None:
        return [layer]
    return [leaf for sub in subs for leaf in _flatten(sub)]


@register
class Autoencoder(EncoderDecoder, Model):
    """encoder + decoder + loss (+ corruption) (+ penalties).

    corruption   a Corruption (numpyae.corruption), active only in training
    penalties    Penalty objects (numpyae.penalties); code penalties apply to the code layer,
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
        if isinstance(penalties, Penalty):
            penalties = [penalties]
        penalties = list(penalties)
        for i, p in enumerate(penalties):
            if not isinstance(p, Penalty):
                raise TypeError(f"penalties[{i}] must be a numpyae Penalty, got {type(p).__name__}")
        self._encoder_layers = _flatten(encoder)
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

    # ---- inference: encode, decode, reconstruct come from EncoderDecoder ----

    # ---- training ---------------------------------------------------------------------
    def forward_loss(self, x, y=None, *, training=True):
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

    def loss_and_grad(self, x, y=None):
        self.zero_grad()
        terms = self.forward_loss(x, y, training=True)
        dh = self.decoder.backward(self.loss.backward())
        if not self.penalties:
            self.encoder.backward_parameters(dh)   # x is data: dL/dx is not needed
            return terms
        da_extra = None
        for p in self.penalties:
            dh_p, da_p = p.backward()
            if dh_p is not None:
                dh = dh + dh_p
            if da_p is not None:
                da_extra = da_p if da_extra is None else da_extra + da_p
        code, below = self.code_layer, self._encoder_layers[:-1]
        # x is data: dL/dx is needed only as far down as the lowest layer with parameters
        needs_dx = any(layer.named_parameters() for layer in below)
        if da_extra is None:
            dx = code.backward(dh) if needs_dx else code.backward_parameters(dh)
        else:  # the penalty's dP/da joins the chain rule at the code layer's pre-activation
            da = dh * code.activation.derivative(code.a, code.y) + da_extra
            dx = code.backward_preactivation(da, input_grad=needs_dx)
        if needs_dx:
            backward_parameters_chain(below, dx)
        return terms

    def get_config(self, ctx):
        config = {"encoder": ctx.encode(self.encoder), "decoder": ctx.encode(self.decoder),
                  "loss": ctx.encode(self.loss)}
        if self.corruption is not None:
            config["corruption"] = ctx.encode(self.corruption)
        if self.penalties:
            config["penalties"] = [ctx.encode(p) for p in self.penalties]
        return config

    def __repr__(self):
        extra = ""
        if self.corruption is not None:
            extra += f",\n corruption={self.corruption!r}"
        if self.penalties:
            extra += f",\n penalties={self.penalties!r}"
        return (f"{type(self).__name__}(\n encoder={self.encoder!r},\n decoder={self.decoder!r},"
                f"\n loss={self.loss!r}{extra})")


def mlp_autoencoder(sizes, *, activation="relu", code_activation="identity", loss="bce",
                    output_activation=None, tied=False, init=None, rng=None, dtype=np.float32,
                    corruption=None, penalties=()):
    """A symmetric MLP autoencoder from layer sizes.

    sizes=[64, 32, 16] builds  64 -> 32 -> 16 (code) -> 32 -> 64.
    Undercomplete when the code is smaller than the input, overcomplete when larger.

    activation         hidden layers (encoder and decoder)
    code_activation    the code layer
    loss               "bce" (decoder emits logits, reconstruct applies the sigmoid) or "mse"
    output_activation  last decoder layer; default identity for "bce", sigmoid for "mse"
    tied               decoder layer i reuses encoder layer (n-1-i)'s W transposed (TiedDense),
                       with its own bias: half the weights, and the classic RBM-style autoencoder
    corruption         a Corruption for a denoising autoencoder (numpyae.corruption)
    penalties          Penalty objects (numpyae.penalties), applied to the code layer / the weights
    """
    sizes = check_sizes(sizes)
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
    return Autoencoder(Sequential(enc), Sequential(dec), loss, corruption=corruption,
                       penalties=penalties)


def linear_autoencoder(n_features, n_components, *, rng=None, dtype=np.float32):
    """The undercomplete autoencoder with identity activations and MSE loss: D -> k -> D."""
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
    stages = list(stages)
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
    encoder = Sequential([layer for s in stages for layer in _flatten(s.encoder)])
    decoder = Sequential([layer for s in reversed(stages) for layer in _flatten(s.decoder)])
    return Autoencoder(encoder, decoder, stages[0].loss)


# ---- presets ----------------------------------------------------------------------------

class _Preset(Autoencoder):
    """A preset is an Autoencoder built from a few literature-style arguments. It is saved by
    those arguments (get_config); loading rebuilds it the same way and copies the weights in,
    so ties and the corruption/penalties survive the round trip."""

    def _finish(self, base, config, *, corruption=None, penalties=()):
        Autoencoder.__init__(self, base.encoder, base.decoder, base.loss, corruption=corruption,
                             penalties=penalties)
        self._config = config

    def get_config(self, ctx):
        return dict(self._config)


def _int_seed(rng):
    return rng if isinstance(rng, int) and not isinstance(rng, bool) else None


@register
class DenoisingAutoencoder(_Preset):
    """Denoising autoencoder: reconstruct the clean x from a corrupted x_tilde.

    Sources: Vincent, Larochelle, Bengio & Manzagol (2008), "Extracting and composing robust
    features with denoising autoencoders", ICML; Vincent et al. (2010), "Stacked denoising
    autoencoders", JMLR 11. Defaults follow them: sigmoid units, cross-entropy reconstruction
    (BCE on logits here), zero-masking noise that destroys a fraction 0.25 of the inputs.

    sizes         [D, h1, ..., code] of a symmetric MLP (mlp_autoencoder)
    noise, level  "masking" (p), "gaussian" (std) or "salt_and_pepper" (p)
    tied          decoder reuses the encoder weights transposed (Vincent et al. use W' = W^T)
    The corruption draws from its own Generator (seeded by ``noise_seed``).
    """

    def __init__(self, sizes=(64, 32), *, noise="masking", level=0.25, activation="sigmoid",
                 code_activation=None, loss="bce", tied=False, noise_seed=None, rng=None,
                 dtype=np.float32):
        sizes = check_sizes(sizes)
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse' (build an Autoencoder directly for a "
                             f"custom Loss), got {loss!r}")
        code_activation = activation if code_activation is None else code_activation
        base = mlp_autoencoder(sizes, activation=activation, code_activation=code_activation,
                               loss=loss, tied=tied, rng=rng, dtype=dtype)
        corruption = get_corruption(noise, level, rng=noise_seed)
        self._finish(base, {"sizes": sizes, "noise": noise, "level": level,
                            "activation": activation, "code_activation": code_activation,
                            "loss": loss,
                            "tied": bool(tied), "noise_seed": _int_seed(noise_seed)},
                     corruption=corruption)


@register
class SparseAutoencoder(_Preset):
    """Sparse autoencoder: a sparsity penalty on the code, or a TopK code layer.

    penalty="kl" (default): Ng, CS294A lecture notes "Sparse autoencoder" and the UFLDL tutorial's
        sparse autoencoder exercise: sigmoid hidden (code) and output units, squared error,
        weight decay and a KL sparsity penalty towards a target mean activation rho:
            J_UFLDL = (1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lambda/2 sum W^2 + beta sum_j KL(rho||rho_hat_j)
        defaults rho = 0.01, beta = 3, weight_decay (lambda) = 1e-4, as in the exercise.
        How it is reproduced: our MSE(reduction="sum") is (1/m) sum ||x_hat - x||^2, without the 1/2,
        so the model uses WeightDecay(2 lambda) and KLSparsity(rho, 2 beta). Then
            model loss = 2 * J_UFLDL    exactly (same minimizer, same gradient direction),
        and ``ufldl_objective(terms) = terms["loss"] / 2`` gives UFLDL's number.
    penalty="l1": the same network with an L1 activity penalty beta * mean ||h||_1 (UFLDL units as
        above: the model's penalty is 2 beta; default beta = 0.02; there is no canonical value).
    penalty="topk": k-sparse autoencoder (Makhzani & Frey 2013, "k-Sparse Autoencoders", ICLR 2014):
        linear encoder, TopK(k) code layer (keep the k largest units per example), tied weights,
        linear decoder, squared error; default k = code size // 5.
    """

    def __init__(self, sizes=(64, 25), *, penalty="kl", rho=0.01, beta=None, weight_decay=None,
                 k=None, activation="sigmoid", tied=None, rng=None, dtype=np.float32):
        sizes = check_sizes(sizes)
        if penalty not in ("kl", "l1", "topk"):
            raise ValueError(f"penalty must be 'kl', 'l1' or 'topk', got {penalty!r}")
        if penalty == "topk":
            tied = True if tied is None else bool(tied)
            weight_decay = 0.0 if weight_decay is None else weight_decay
            k = max(1, sizes[-1] // 5) if k is None else check_positive_int(k, "k")
            if k > sizes[-1]:
                raise ValueError(f"k must be <= the code size {sizes[-1]}, got {k}")
            base = mlp_autoencoder(sizes, activation="identity", code_activation="identity",
                                   loss=MSE(reduction="sum"), output_activation="identity",
                                   tied=tied, rng=rng, dtype=dtype)
            enc = Sequential(list(base.encoder.layers) + [TopK(k)])
            base = Autoencoder(enc, base.decoder, base.loss)
            penalties = []
            beta = None
        else:
            tied = False if tied is None else bool(tied)
            weight_decay = 1e-4 if weight_decay is None else weight_decay
            beta = (3.0 if penalty == "kl" else 0.02) if beta is None else beta
            base = mlp_autoencoder(sizes, activation=activation, code_activation="sigmoid",
                                   loss=MSE(reduction="sum"), output_activation="sigmoid",
                                   tied=tied, rng=rng, dtype=dtype)
            penalties = [KLSparsity(rho, 2 * float(beta)) if penalty == "kl"
                         else L1Activity(2 * float(beta))]
        if weight_decay:
            penalties.append(WeightDecay(2 * float(weight_decay)))
        self.penalty_kind = penalty
        self._finish(base, {"sizes": sizes, "penalty": penalty, "rho": rho, "beta": beta,
                            "weight_decay": weight_decay, "k": k, "activation": activation,
                            "tied": tied}, penalties=penalties)

    @staticmethod
    def ufldl_objective(terms):
        """UFLDL's J from this model's loss terms (the model optimizes exactly 2 J)."""
        return terms["loss"] / 2


@register
class ContractiveAutoencoder(_Preset):
    """Contractive autoencoder (Rifai, Vincent, Muller, Glorot & Bengio 2011, "Contractive
    auto-encoders: explicit invariance during feature extraction", ICML):

        J_CAE = sum over examples of [ L(x, x_hat) + lam ||J_h(x)||_F^2 ]

    with a sigmoid encoder, tied weights and the cross-entropy reconstruction summed over the
    inputs (BCE on logits with reduction="sum" here, averaged over the batch; so lam has the
    paper's scale). The penalty is numpyae.penalties.Contractive on the code layer (closed form).
    Default lam = 0.1 (the paper selects it on validation data).
    """

    def __init__(self, sizes=(64, 32), *, lam=0.1, activation="sigmoid", tied=True,
                 weight_decay=0.0, rng=None, dtype=np.float32):
        sizes = check_sizes(sizes)
        from ..nn.losses import BinaryCrossEntropy
        base = mlp_autoencoder(sizes, activation=activation, code_activation=activation,
                               loss=BinaryCrossEntropy(reduction="sum"), tied=tied, rng=rng,
                               dtype=dtype)
        penalties = [Contractive(lam)] if lam else []
        if weight_decay:
            penalties.append(WeightDecay(weight_decay))
        self._finish(base, {"sizes": sizes, "lam": lam, "activation": activation,
                            "tied": bool(tied), "weight_decay": weight_decay},
                     penalties=penalties)
