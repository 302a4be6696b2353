"""The classic autoencoders as presets: each is an Autoencoder built once from a few
literature-style arguments with fixed, documented defaults, and saved by those arguments.

    DenoisingAutoencoder     corruption of the input          Vincent et al. 2008, 2010
    SparseAutoencoder        KL sparsity + weight decay        Ng, CS294A notes; UFLDL exercise
    L1SparseAutoencoder      L1 activity + weight decay        the same network, an L1 penalty
    KSparseAutoencoder       a TopK code layer                 Makhzani & Frey 2013
    ContractiveAutoencoder   the encoder-Jacobian penalty      Rifai et al. 2011

rng (an int seed or a Generator) draws the initial weights; the denoising preset's corruption
draws from a Generator seeded with child_seed(rng) (rng + 1 for an int rng).
"""
from __future__ import annotations

import numpy as np

from ..core.checks import (check_bool, check_choice, check_dtype, check_nonnegative_float,
                           check_positive_int, check_probability, check_sizes)
from ..core.random import as_generator, child_seed, int_seed
from ..core.registry import register
from ..nn.corruption import CORRUPTIONS, get_corruption
from ..nn.layers import Sequential, TopK
from ..nn.losses import MSE, BinaryCrossEntropy
from ..nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay
from .autoencoder import Autoencoder, mlp_layers
from .base import check_activation


class _Preset(Autoencoder):
    """An Autoencoder that is saved by its preset arguments (get_config) and rebuilt from them."""

    def _build(self, config, encoder, decoder, loss, *, corruption=None, penalties=()):
        Autoencoder.__init__(self, encoder, decoder, loss, corruption=corruption,
                             penalties=penalties)
        self._config = config

    def get_config(self, ctx):
        return dict(self._config)


def _check_common(sizes, tied, rng, dtype, **activations):
    """The arguments every preset takes, checked before anything is built: sizes, tied, rng,
    dtype, and each activation (a name such as "sigmoid" or a config dict: a preset is saved
    by its arguments, so an Activation object is refused)."""
    sizes = check_sizes(sizes)
    for name, spec in activations.items():
        if not isinstance(spec, (str, dict)):
            raise TypeError(f"{name} must be an activation name such as 'sigmoid' (or a config "
                            f"dict), got {type(spec).__name__}")
        check_activation(spec, name)
    tied = check_bool(tied, "tied")
    as_generator(rng)
    check_dtype(dtype)
    return sizes, tied


def _ufldl_penalties(penalty, weight_decay):
    """[penalty, WeightDecay(2 lambda)] in the model's units (2 J, see SparseAutoencoder)."""
    return [penalty] + ([WeightDecay(2 * weight_decay)] if weight_decay else [])


@register
class DenoisingAutoencoder(_Preset):
    """Denoising autoencoder: reconstruct the clean x from a corrupted x_tilde.

    Sources: Vincent, Larochelle, Bengio & Manzagol (2008), "Extracting and composing robust
    features with denoising autoencoders", ICML; Vincent et al. (2010), "Stacked denoising
    autoencoders", JMLR 11. Defaults follow them: sigmoid units, cross-entropy reconstruction
    (BCE on logits here), zero-masking noise that destroys a fraction 0.25 of the inputs.

    sizes         [D, h1, ..., code] of a symmetric MLP
    noise, level  "masking" (p), "gaussian" (std) or "salt_and_pepper" (p)
    activation    hidden layers; code_activation the code layer (sigmoid for both by default)
    loss          "bce" (decoder logits) or "mse" (sigmoid output)
    tied          decoder reuses the encoder weights transposed (Vincent et al. use W' = W^T)
    """

    def __init__(self, sizes=(64, 32), *, noise="masking", level=0.25, activation="sigmoid",
                 code_activation="sigmoid", loss="bce", tied=False, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype, activation=activation,
                                    code_activation=code_activation)
        loss = check_choice(loss, "loss", ("bce", "mse"))
        noise = check_choice(noise, "noise", tuple(CORRUPTIONS))
        level = (check_nonnegative_float(level, "level") if noise == "gaussian"
                 else check_probability(level, "level"))
        gen = as_generator(rng)
        encoder, decoder = mlp_layers(sizes, activation=activation, code_activation=code_activation,
                                      output_activation="identity" if loss == "bce" else "sigmoid",
                                      tied=tied, rng=gen, dtype=dtype)
        corruption = get_corruption(noise, level, rng=child_seed(rng, gen), name="noise")
        self._build({"sizes": sizes, "noise": noise, "level": level, "activation": activation,
                     "code_activation": code_activation, "loss": loss, "tied": tied,
                     "rng": int_seed(rng)},
                    encoder, decoder, loss, corruption=corruption)


@register
class SparseAutoencoder(_Preset):
    """Sparse autoencoder with a KL sparsity penalty (Ng, CS294A lecture notes "Sparse
    autoencoder", and the UFLDL tutorial's exercise): sigmoid hidden (code) and output units,
    squared error, weight decay and KL sparsity towards a target mean activation rho:

        J_UFLDL = (1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lambda/2 sum W^2 + beta sum_j KL(rho||rho_hat_j)

    Defaults are the exercise's: rho = 0.01, beta = 3, weight_decay (lambda) = 1e-4.
    MSE(reduction="sum") is (1/m) sum ||x_hat - x||^2, without the 1/2, so the model uses
    WeightDecay(2 lambda) and KLSparsity(rho, 2 beta): its loss is exactly 2 J_UFLDL (same
    minimizer, same gradient direction), and ufldl_objective(terms) = terms["loss"] / 2.
    """

    def __init__(self, sizes=(64, 25), *, rho=0.01, beta=3.0, weight_decay=1e-4,
                 activation="sigmoid", tied=False, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype, activation=activation)
        rho = check_probability(rho, "rho", open_low=True, open_high=True)
        beta = check_nonnegative_float(beta, "beta")
        weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        encoder, decoder = mlp_layers(sizes, activation=activation, code_activation="sigmoid",
                                      output_activation="sigmoid", tied=tied, rng=rng, dtype=dtype)
        penalties = _ufldl_penalties(KLSparsity(rho, 2 * beta), weight_decay)
        self._build({"sizes": sizes, "rho": rho, "beta": beta, "weight_decay": weight_decay,
                     "activation": activation, "tied": tied, "rng": int_seed(rng)},
                    encoder, decoder, MSE(reduction="sum"), penalties=penalties)

    @staticmethod
    def ufldl_objective(terms):
        """UFLDL's J from this model's loss terms (the model optimizes exactly 2 J)."""
        return terms["loss"] / 2


@register
class L1SparseAutoencoder(_Preset):
    """SparseAutoencoder's network with an L1 activity penalty instead of the KL one:

        J = (1/m) sum_i 1/2 ||x_hat_i - x_i||^2 + lambda/2 sum W^2 + beta mean_i ||h_i||_1

    in the same units as SparseAutoencoder (the model's loss is 2 J). Defaults: beta = 0.02
    (there is no canonical value), weight_decay = 1e-4.
    """

    def __init__(self, sizes=(64, 25), *, beta=0.02, weight_decay=1e-4, activation="sigmoid",
                 tied=False, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype, activation=activation)
        beta = check_nonnegative_float(beta, "beta")
        weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        encoder, decoder = mlp_layers(sizes, activation=activation, code_activation="sigmoid",
                                      output_activation="sigmoid", tied=tied, rng=rng, dtype=dtype)
        penalties = _ufldl_penalties(L1Activity(2 * beta), weight_decay)
        self._build({"sizes": sizes, "beta": beta, "weight_decay": weight_decay,
                     "activation": activation, "tied": tied, "rng": int_seed(rng)},
                    encoder, decoder, MSE(reduction="sum"), penalties=penalties)


@register
class KSparseAutoencoder(_Preset):
    """k-sparse autoencoder (Makhzani & Frey 2013, "k-Sparse Autoencoders", ICLR 2014): a linear
    encoder, a TopK(k) code layer (keep the k largest units of each example), tied weights, a
    linear decoder and squared error summed over the pixels. Defaults: k = 5, tied.
    """

    def __init__(self, sizes=(64, 25), *, k=5, tied=True, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype)
        k = check_positive_int(k, "k")
        if k > sizes[-1]:
            raise ValueError(f"k must be <= the code size {sizes[-1]}, got {k}")
        encoder, decoder = mlp_layers(sizes, activation="identity", code_activation="identity",
                                      output_activation="identity", tied=tied, rng=rng,
                                      dtype=dtype)
        encoder = Sequential(list(encoder.layers) + [TopK(k)])
        self._build({"sizes": sizes, "k": k, "tied": tied, "rng": int_seed(rng)},
                    encoder, decoder, MSE(reduction="sum"))


@register
class ContractiveAutoencoder(_Preset):
    """Contractive autoencoder (Rifai, Vincent, Muller, Glorot & Bengio 2011, "Contractive
    auto-encoders: explicit invariance during feature extraction", ICML):

        J_CAE = sum over examples of [ L(x, x_hat) + lam ||J_h(x)||_F^2 ]

    with a sigmoid encoder, tied weights and the cross-entropy reconstruction summed over the
    inputs (BCE on logits with reduction="sum" here, averaged over the batch; so lam has the
    paper's scale). The penalty is numpyae.nn.penalties.Contractive on the code layer (closed
    form). Default lam = 0.1 (the paper selects it on validation data); lam = 0 drops it.
    """

    def __init__(self, sizes=(64, 32), *, lam=0.1, activation="sigmoid", tied=True,
                 weight_decay=0.0, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype, activation=activation)
        lam = check_nonnegative_float(lam, "lam")
        weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        encoder, decoder = mlp_layers(sizes, activation=activation, code_activation=activation,
                                      output_activation="identity", tied=tied, rng=rng,
                                      dtype=dtype)
        penalties = ([Contractive(lam)] if lam else []) + \
            ([WeightDecay(weight_decay)] if weight_decay else [])
        self._build({"sizes": sizes, "lam": lam, "activation": activation, "tied": tied,
                     "weight_decay": weight_decay, "rng": int_seed(rng)},
                    encoder, decoder, BinaryCrossEntropy(reduction="sum"), penalties=penalties)
