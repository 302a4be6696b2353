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
                           check_nonnegative_int, check_positive_int, check_probability,
                           check_sizes)
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
    encoder, a TopK code layer, tied weights, a linear decoder and squared error summed over the
    pixels. With one hidden layer of n = sizes[-1] units, for a batch X (B, D):

        z = X W + b                 (B, n)
        h = z * m                   m keeps the K largest z of each row (TopK):
                                    K = k_t in training (train_step t),
                                    K = min(n, floor(alpha k_t)) at inference
                                    (encode, reconstruct, evaluate: training=False)
        X_hat = h W^T + c           (B, D)
        L = (1/B) sum_b ||X_hat_b - X_b||^2

    Backward (Autoencoder.backward through TopK): dX_hat = (2/B) (X_hat - X), dh = dX_hat W
    (B, n), dz = dh * m: the gradient reaches W (both uses, tied) and b only through the kept
    units. A unit that is never kept gets no gradient at all.

    The k schedule (the paper's Section 4.2.1). With a small k from the first step, the first
    steps hand each example to the few units that happen to start largest (much like k-means),
    and the other units never enter a code again: no gradient ever reaches them, and they keep
    their initial weights ("dead" units). Makhzani & Frey start from a large k, at which every
    unit trains, and lower k linearly to the target over the first half of the epochs, then
    keep it. Here the schedule counts the optimizer steps of fit() (train_step), so it needs no
    callback and a checkpoint resumes it exactly:

        k_t = k + ceil((k_start - k) (S - t) / S)    for 0 <= t < S;     k_t = k for t >= S

    S = schedule_steps (0: no schedule, k from the first step), t = step, the steps taken so
    far; k_0 = k_start and k_t falls linearly to k. The paper's recipe over E epochs of batches
    of B out of N examples is schedule_steps = (E * ceil(N / B)) // 2, the steps fit() takes in
    the first half. The schedule advances only in train_step: loss_and_grad, the gradient
    checker and evaluate keep the k of the current step.

    alpha (the paper's Section 2.2): the features are the alpha*k largest units, alpha >= 1
    chosen on validation data, which the authors found slightly better than k; the settings
    they report use alpha = 2 or 3. Inference follows the k of the current step, so a model
    stopped during its schedule encodes as it was trained.

    sizes           [D, h1, ..., n]: linear layers, n the code size (default (64, 25))
    k               the target number of active code units, 1 <= k <= n (default 5)
    k_start         the k of the first step, k <= k_start <= n (default None: n, every unit)
    schedule_steps  S above, an int >= 0 (default 0: no schedule)
    alpha           inference keeps min(n, floor(alpha k_t)) units; a number >= 1 (default 1)
    init_std        None (default): Glorot-uniform weights, as every preset; a number s > 0:
                    weights drawn from N(0, s^2), biases 0 (0.01, the classic small
                    initialization, leaves less of the random start in directions the data
                    never trains: cleaner filters)
    step            the train_steps taken so far, an int >= 0 (default 0); saved with the model
                    and restored by a checkpoint (training_state), so the schedule continues
                    where it stopped
    tied            the decoder uses W^T (default True, as the paper)
    The defaults give the plain k-sparse autoencoder: k = 5 from the first step, alpha = 1.
    """
    #: the step counter of the k schedule: saved, and restored by checkpoints
    training_state = ("step",)

    def __init__(self, sizes=(64, 25), *, k=5, k_start=None, schedule_steps=0, alpha=1.0,
                 init_std=None, step=0, tied=True, rng=None, dtype=np.float32):
        sizes, tied = _check_common(sizes, tied, rng, dtype)
        n = sizes[-1]
        k = check_positive_int(k, "k")
        if k > n:
            raise ValueError(f"k must be <= the code size {n}, got {k}")
        k_start = n if k_start is None else check_positive_int(k_start, "k_start")
        if not k <= k_start <= n:
            raise ValueError(f"k_start must lie in [k, code size] = [{k}, {n}] (the schedule "
                             f"lowers k from k_start to k), got {k_start}")
        schedule_steps = check_nonnegative_int(schedule_steps, "schedule_steps")
        step = check_nonnegative_int(step, "step")
        if init_std is not None:
            init_std = check_nonnegative_float(init_std, "init_std")
            if init_std == 0:
                raise ValueError("init_std must be > 0 (zero weights give every unit the same "
                                 "value: TopK could not tell them apart), or None for "
                                 "Glorot-uniform weights; got 0.0")
        code = TopK(k, alpha=alpha)          # checks alpha
        gen = as_generator(rng)
        encoder, decoder = mlp_layers(sizes, activation="identity", code_activation="identity",
                                      output_activation="identity", tied=tied,
                                      init=None if init_std is None else "zeros", rng=gen,
                                      dtype=dtype)
        if init_std is not None:
            weights = [p for name, p in encoder.named_parameters() + decoder.named_parameters()
                       if name.rsplit(".", 1)[-1] == "W"]
            for p in dict.fromkeys(weights):        # a tied W once
                p.value[...] = gen.normal(0.0, init_std, p.value.shape)
        encoder = Sequential(list(encoder.layers) + [code])
        self._build({"sizes": sizes, "k": k, "k_start": k_start,
                     "schedule_steps": schedule_steps, "alpha": code.alpha, "init_std": init_std,
                     "tied": tied, "rng": int_seed(rng)},
                    encoder, decoder, MSE(reduction="sum"))
        self.k, self.k_start, self.schedule_steps, self.alpha = k, k_start, schedule_steps, \
            code.alpha
        self.step = step

    @property
    def step(self):
        """The train_steps taken so far; setting it sets the code layer's k to training_k(step)."""
        return self._step

    @step.setter
    def step(self, value):
        self._step = check_nonnegative_int(value, "step")
        self.code_layer.k = self.training_k(self._step)

    def training_k(self, step):
        """k_t, the number of code units kept in training at step t = `step` (class doc)."""
        t = check_nonnegative_int(step, "step")
        S = self.schedule_steps
        if t >= S:
            return self.k
        return self.k + -(-(self.k_start - self.k) * (S - t) // S)

    @property
    def inference_k(self):
        """min(n, floor(alpha k_t)): the code units encode, reconstruct and evaluate keep."""
        return self.code_layer.kept(self.code_dim, training=False)

    def train_step(self, x, y, optimizer):
        """Model.train_step at k_t, then step += 1 (the next step's k). Returns the terms."""
        terms = super().train_step(x, y, optimizer)
        self.step += 1
        return terms

    def firing_counts(self, X, *, batch_size=4096):
        """counts (n,) int64: counts[j] = the number of rows of X (B, D) in whose code unit j is
        among the k_t kept at the training k of the current step (the target k once the
        schedule is over). A unit with count 0 never enters a code of X: it is dead on X, and
        training on X never changes its weights. The layers below the code layer run in
        inference mode (like encode); X may be any finite input."""
        X = self.check_input(X, as_target=False)
        batch_size = check_positive_int(batch_size, "batch_size")
        counts = np.zeros(self.code_dim, dtype=np.int64)
        below = self._encoder_layers[:-1]
        for start in range(0, len(X), batch_size):
            z = X[start:start + batch_size]
            for layer in below:
                z = layer.forward(z, training=False)
            z = self.finite_result(z, X)
            counts += np.bincount(TopK.select(z, self.code_layer.k).ravel(),
                                  minlength=self.code_dim)
        return counts

    def get_config(self, ctx):
        """The preset's arguments, with the current step."""
        return {**self._config, "step": self.step}


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
