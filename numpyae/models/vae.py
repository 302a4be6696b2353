"""Variational autoencoder (Kingma & Welling 2013) and the conditional VAE.

Forward pass for one batch x (B, D) (the CVAE first appends the one-hot label c (B, C) to x and
to z, see below):

    h  = encoder(x)                       (B, H)   the shared MLP body
    mu = h Wm + bm                        (B, k)   mean head (a Dense layer)
    r  = h Wv + bv                        (B, k)   log-variance head (a Dense layer)
    lv = clip(r, -30, 20)                 (B, k)   log sigma^2 (the clamp, see below)
    sd = exp(lv / 2)                      (B, k)
    z  = mu + sd * eps,  eps ~ N(0, I)    (B, k)   reparameterization; eps drawn from self.rng
    o  = decoder(z)                       (B, D)   logits (Bernoulli) or means (Gaussian)

Loss, averaged over the batch (each term summed over features / latent units):

    reconstruction  R  = 1/B sum_b -log p(x_b | z_b)
    KL              KL = 1/B sum_b 0.5 sum_j (mu_bj^2 + exp(lv_bj) - 1 - lv_bj)   = KL(q(z|x) || N(0, I))
    loss            L  = R + w KL,   w = beta * min(1, (step + 1) / kl_warmup)   (w = beta without warm-up)
    neg_elbo           = R + KL      (the true negative ELBO, whatever beta and the warm-up say)

Backward (hand-derived; a, b are the weights of the two terms, a = 1 and b = w for training):

    do  = a dR/do                                    (from the likelihood)         (B, D)
    dz  = decoder.backward(do)                       (first k columns for the CVAE) (B, k)
    dmu = dz + (b / B) mu                            z = mu + sd*eps, dKL/dmu = mu / B
    dlv = dz * eps * sd / 2 + (b / 2B) (exp(lv) - 1) dz/dlv = eps * sd / 2
    dr  = dlv * [-30 < r < 20]                       the clamp passes the gradient inside only
    dh  = mean_head.backward(dmu) + logvar_head.backward(dr)
    encoder.backward(dh)

Stability. lv is clamped to [-30, 20] (sd in [3e-7, 2.2e4]), so exp(lv) and exp(lv/2) can neither
overflow in float32 nor underflow to exactly 0 (log 0 in the KL). Outside the clamp the
gradient with respect to r is zero, which is the exact derivative of the clipped function; the
encoder never gets there in practice (|r| stays below ~10 on the digits). Large |mu| is harmless:
mu enters only through mu^2 / 2 and z, and Bernoulli likelihoods are computed on logits from
exp(-|o|) <= 1 (no exp overflow, no log 0).

The draw eps is kept on the model (self.noise) for backward; because it comes from the Generator
self.rng, the gradient checker (which snapshots and restores every Generator) replays the same
eps in each finite-difference evaluation: the loss is smooth in the parameters with eps fixed.

Evaluation is deterministic and leaves training alone: in inference mode (evaluate(),
forward_loss(..., training=False), log_likelihood()) eps is drawn from a Generator seeded with
the rng argument, by default models.base.EVAL_SEED = 0, never from self.rng. Two evaluations of
the same model give the same numbers, and a fit() with validation data trains exactly as one
without.

Data. The Bernoulli likelihood needs x in [0, 1] (for x > 1, -log p(x|z) = softplus(o) - x o is
unbounded below): fit, evaluate and log_likelihood refuse other data once, before any work
(Model.check_input); encode, decode and reconstruct compute no likelihood and take any finite
input.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..core.registry import register
from ..nn.layers import Dense, Layer, Sequential, input_dim, output_dim
from ..nn.likelihoods import get_likelihood
from ..core.checks import (check_array, check_dtype, check_nonnegative_float,
                           check_nonnegative_int, check_positive_int, check_sizes)
from ..core.random import as_generator, child_seed, int_seed
from .base import EVAL_SEED, Model, check_activation, check_logits_decoder

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0


# ---- the model --------------------------------------------------------------------------

@register
class VAE(Model):
    """VAE: encoder body + mean and log-variance heads + decoder + likelihood. See the module doc.

    encoder       Layer (B, D) -> (B, H) (may be an empty Sequential: the heads then read x)
    mean_head     Dense (H, k), identity activation
    logvar_head   Dense (H, k), identity activation
    decoder       Layer (B, k) -> (B, D): logits for Bernoulli, means for Gaussian
    likelihood    "bernoulli", "gaussian" (sigma = 1), "gaussian_learned", or a Likelihood
    beta          weight of the KL term (beta-VAE; 1 is the ELBO)
    kl_warmup     number of training steps over which the KL weight ramps linearly up to beta
    step          training steps taken so far (saved, so warm-up resumes where it stopped)
    rng           int seed or Generator of self.rng, which draws eps (an int is saved)
    """
    training_state = ("step",)  # the KL warm-up counter: saved and restored by checkpoints
    terms = ("loss", "reconstruction", "kl", "neg_elbo")

    def __init__(self, encoder, mean_head, logvar_head, decoder, likelihood="bernoulli", *,
                 beta=1.0, kl_warmup=0, step=0, rng=None):
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, Layer):
                raise TypeError(f"{name} must be a Layer (e.g. Sequential), got {type(part).__name__}")
        for name, head in (("mean_head", mean_head), ("logvar_head", logvar_head)):
            if not isinstance(head, Dense):
                raise TypeError(f"{name} must be a Dense layer, got {type(head).__name__}")
        self.encoder, self.mean_head, self.logvar_head, self.decoder = \
            encoder, mean_head, logvar_head, decoder
        self.code_dim = mean_head.n_out
        if logvar_head.n_out != self.code_dim or logvar_head.n_in != mean_head.n_in:
            raise ValueError(f"logvar_head must match mean_head ({mean_head.n_in} -> "
                             f"{mean_head.n_out}), got {logvar_head.n_in} -> {logvar_head.n_out}")
        body_out = output_dim(encoder)
        if body_out is not None and body_out != mean_head.n_in:
            raise ValueError(f"the heads read {mean_head.n_in} features, the encoder gives {body_out}")
        c = self.n_classes or 0
        enc_in = input_dim(encoder) or mean_head.n_in
        self.input_dim = enc_in - c
        if self.input_dim < 1:
            raise ValueError(f"encoder input {enc_in} leaves no room for {c} one-hot label columns")
        if input_dim(decoder) is not None and input_dim(decoder) != self.code_dim + c:
            raise ValueError(f"decoder must take {self.code_dim + c} features "
                             f"(latent {self.code_dim} + {c} label columns), got {input_dim(decoder)}")
        if output_dim(decoder) is not None and output_dim(decoder) != self.input_dim:
            raise ValueError(f"decoder must output {self.input_dim} features, got {output_dim(decoder)}")
        self.likelihood = get_likelihood(likelihood, self.input_dim, mean_head.W.value.dtype)
        check_logits_decoder(decoder, self.likelihood)
        self.beta = check_nonnegative_float(beta, "beta")
        self.kl_warmup = check_nonnegative_int(kl_warmup, "kl_warmup")
        self.step = check_nonnegative_int(step, "step")
        self.rng_seed = int_seed(rng)
        self.rng = as_generator(rng)
        self.noise = None

    def named_children(self):
        return [("encoder", self.encoder), ("mean_head", self.mean_head),
                ("logvar_head", self.logvar_head), ("decoder", self.decoder),
                ("likelihood", self.likelihood)]

    @property
    def kl_weight(self):
        """w = beta * min(1, (step + 1) / kl_warmup), or beta without warm-up."""
        if self.kl_warmup == 0:
            return self.beta
        return self.beta * min(1.0, (self.step + 1) / self.kl_warmup)

    # ---- conditioning hooks (the CVAE appends one-hot labels) --------------------------
    def _condition(self, a, onehot):
        return a

    def _onehot(self, y, n):
        return None

    # ---- forward / backward ------------------------------------------------------------
    def _encode(self, x, onehot, training):
        h = self.encoder.forward(self._condition(x, onehot), training=training)
        mu = self.mean_head.forward(h, training=training)
        r = self.logvar_head.forward(h, training=training)
        return mu, r, np.clip(r, LOGVAR_MIN, LOGVAR_MAX)

    def forward_loss(self, x, y=None, *, training=True):
        onehot = self._onehot(y, len(x))
        mu, r, lv = self._encode(x, onehot, training)
        sd = np.exp(0.5 * lv)
        rng = self.rng if training else self.inference_rng()   # inference leaves self.rng be
        eps = rng.standard_normal(mu.shape, dtype=mu.dtype)
        z = mu + sd * eps
        o = self.decoder.forward(self._condition(z, onehot), training=training)
        rec = self.likelihood.forward(o, x)
        var = sd * sd
        kl = float(0.5 * (mu * mu + var - 1 - lv).sum() / len(x))
        self._cache = (mu, r, lv, sd, var)
        self.noise = eps
        w = self.kl_weight
        return {"loss": rec + w * kl, "reconstruction": rec, "kl": kl, "neg_elbo": rec + kl}

    def backward(self, *, rec_weight=1.0, kl_weight=None):
        """Adds the gradients of rec_weight * R + kl_weight * KL (kl_weight None: the current w,
        so the default is the gradient of "loss"). Follows the last forward_loss; the
        derivation is in the module docstring."""
        mu, r, lv, sd, var = self._cache
        eps, B, k = self.noise, len(mu), self.code_dim
        b = self.kl_weight if kl_weight is None else float(kl_weight)
        if rec_weight:
            do = self.likelihood.backward()
            if rec_weight != 1:
                do = do * rec_weight
            dz = self.decoder.backward(do)
            if dz.shape[1] != k:
                dz = dz[:, :k]
            dmu = dz + (b / B) * mu
            dlv = (0.5 * dz) * (eps * sd)
            dlv += (b / (2 * B)) * (var - 1)
        else:
            dmu = (b / B) * mu
            dlv = (b / (2 * B)) * (var - 1)
        if r.min() <= LOGVAR_MIN or r.max() >= LOGVAR_MAX:
            dlv = dlv * ((r > LOGVAR_MIN) & (r < LOGVAR_MAX))
        dh = self.mean_head.backward(dmu)
        dh += self.logvar_head.backward(dlv)
        self.encoder.backward(dh, input_grad=False)   # x (and the CVAE's label columns) is data

    def train_step(self, x, y, optimizer):
        """Model.train_step, then step += 1 (the KL warm-up counter). Returns the terms."""
        terms = super().train_step(x, y, optimizer)
        self.step += 1  # counts optimizer steps, for the KL warm-up
        return terms

    # ---- inference ---------------------------------------------------------------------
    range_hint = "or use likelihood='gaussian'"

    def reconstruction_term(self):
        """The likelihood p(x | z) (its target_range is the range the data must lie in)."""
        return self.likelihood

    def _check_xy(self, X, y, name="X", *, as_target=False):
        X = self.check_input(X, name, as_target=as_target)
        return X, self._onehot(self.check_labels(y, len(X)), len(X))

    def encode_distribution(self, X, y=None):
        """q(z|x) = N(mu, exp(lv)): returns mu, lv, each (N, k)."""
        X, onehot = self._check_xy(X, y)
        mu, _, lv = self._encode(X, onehot, False)
        return self.finite_result((mu, lv), X)

    def encode(self, X, y=None):
        """The posterior mean mu(x)  (N, D) -> (N, k)."""
        return self.encode_distribution(X, y)[0]

    def decode(self, Z, y=None):
        """Mean of p(x|z) (sigmoid of the logits / the Gaussian mean)  (N, k) -> (N, D)."""
        Z = check_array(Z, "Z", ndim=2, n_features=self.code_dim, dtype=self.dtype)
        onehot = self._onehot(self.check_labels(y, len(Z)), len(Z))
        out = self.likelihood.predict(self.decoder.forward(self._condition(Z, onehot),
                                                           training=False))
        return self.finite_result(out, Z, "Z")

    def reconstruct(self, X, y=None):
        """decode(encode(X)): the decoder mean at the posterior mean."""
        X, onehot = self._check_xy(X, y)
        mu, _, _ = self._encode(X, onehot, False)
        out = self.likelihood.predict(self.decoder.forward(self._condition(mu, onehot),
                                                           training=False))
        return self.finite_result(out, X)

    def sample(self, n, y=None, *, rng=None):
        """n draws z ~ N(0, I) decoded to the mean of p(x|z)  -> (n, D).
        rng: seed or Generator (default: the model's own)."""
        n = check_positive_int(n, "n")
        rng = self.rng if rng is None else as_generator(rng)
        z = rng.standard_normal((n, self.code_dim), dtype=self.dtype)
        return self.decode(z, y)

    def _check_point(self, x, name):
        """One input row: shape (D,) or (1, D), checked like X, returned as (D,)."""
        try:
            nd = np.ndim(x)
        except (ValueError, TypeError):   # ragged: check_array names it
            nd = 1
        arr = check_array(x, name, ndim=2 if nd == 2 else 1, n_features=self.input_dim,
                          dtype=self.dtype)
        if arr.ndim == 2 and len(arr) != 1:
            raise ValueError(f"{name} must be one input, shape ({self.input_dim},) or "
                             f"(1, {self.input_dim}), got shape {arr.shape}")
        return arr.reshape(-1)

    def _check_label(self, label, name):
        """For interpolate/generate: None for a VAE (which takes no labels), one class label
        for a CVAE."""
        if not self.needs_labels:
            return self.check_labels(label, 1, name)
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, numbers.Integral):
            raise TypeError(f"{name} must be one int class label in [0, {self.n_classes}), "
                            f"got {type(label).__name__} {label!r}")
        if not 0 <= label < self.n_classes:
            raise ValueError(f"{name} must be a class label in [0, {self.n_classes}), got {label}")
        return int(label)

    def interpolate(self, x_a, x_b, n=8, y=None):
        """Decode n points on the line between the posterior means of x_a and x_b  -> (n, D).
        x_a, x_b: one input each, (D,) or (1, D). (For the CVAE, y is one label used for both
        ends.)"""
        n = check_positive_int(n, "n")
        X = np.stack([self._check_point(x_a, "x_a"), self._check_point(x_b, "x_b")])
        y = self._check_label(y, "y")
        mu = self.encode(X, None if y is None else np.full(2, y))
        t = np.linspace(0, 1, n, dtype=self.dtype)[:, None]
        return self.decode((1 - t) * mu[0] + t * mu[1], None if y is None else np.full(n, y))

    #: rows x importance samples of one decoder pass in log_likelihood (bounds its memory)
    LOG_LIKELIHOOD_CHUNK = 16384

    def log_likelihood(self, X, y=None, *, K=100, rng=EVAL_SEED, batch_size=None):
        """Importance-sampled log p(x) per row (Burda et al. 2016), with q(z|x) as proposal:

            log p(x) ~= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)
                     = logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K
        log p(z) = -0.5 |z|^2 - (k/2) log 2pi;  log q(z|x) = -0.5 sum_j (eps_j^2 + lv_j) - (k/2) log 2pi.
        It is a lower bound in expectation that tightens as K grows (K = 1 is the ELBO).
        Returns (N,) in the model's dtype.

        K           importance samples per row, an int >= 1
        rng         the Generator of the draws, like evaluate(): default EVAL_SEED = 0, so the
                    estimate is deterministic and the model's own Generator is not advanced
        batch_size  rows per decoder pass, an int >= 1 (None: 16384 // K rows; for K > 16384
                    one row, its K samples in chunks of 16384, so memory stays bounded)
        """
        K = check_positive_int(K, "K")
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size")
        rng = as_generator(rng)
        X, onehot = self._check_xy(X, y, as_target=True)
        N, k = len(X), self.code_dim
        chunk = self.LOG_LIKELIHOOD_CHUNK
        batch_size = batch_size or max(1, chunk // K)
        out = np.empty(N, dtype=self.dtype)
        for s in range(0, N, batch_size):
            xb = X[s:s + batch_size]
            oh = None if onehot is None else onehot[s:s + batch_size]
            mu, _, lv = self._encode(xb, oh, False)
            b = len(xb)
            if K * b <= chunk or K == 1:
                log_w = self._log_weights(xb, oh, mu, lv, K, rng)
                m = log_w.max(axis=0)
                out[s:s + b] = m + np.log(np.exp(log_w - m).mean(axis=0))
                continue
            # streaming logsumexp over chunks of the K samples: m the running max, acc the
            # running sum of exp(log_w - m)
            m = np.full(b, -np.inf, dtype=self.dtype)
            acc = np.zeros(b, dtype=self.dtype)
            step = max(1, chunk // b)
            for start in range(0, K, step):
                log_w = self._log_weights(xb, oh, mu, lv, min(step, K - start), rng)
                m_new = np.maximum(m, log_w.max(axis=0))
                acc = acc * np.exp(m - m_new) + np.exp(log_w - m_new).sum(axis=0)
                m = m_new
            out[s:s + b] = m + np.log(acc / K)
        return self.finite_result(out, X)

    def _log_weights(self, xb, oh, mu, lv, K, rng):
        """log p(x|z_k) + log p(z_k) - log q(z_k|x) for K fresh draws z_k ~ q(z|x)  -> (K, b)."""
        b, k = len(xb), self.code_dim
        eps = rng.standard_normal((K, b, k), dtype=self.dtype)
        z = mu + np.exp(0.5 * lv) * eps                              # (K, b, k)
        zin = z.reshape(K * b, k)
        if oh is not None:
            zin = self._condition(zin, np.tile(oh, (K, 1)))
        o = self.decoder.forward(zin, training=False).reshape(K, b, -1)
        return self.likelihood._log_prob(o, xb) \
            - 0.5 * (z * z).sum(-1) + 0.5 * (eps * eps + lv).sum(-1)  # (K, b); 2pi terms cancel

    def get_config(self, ctx):
        """The constructor arguments, for saving: the four layers, likelihood, beta, kl_warmup,
        step and rng (the int seed)."""
        return {"encoder": ctx.serialize(self.encoder), "mean_head": ctx.serialize(self.mean_head),
                "logvar_head": ctx.serialize(self.logvar_head), "decoder": ctx.serialize(self.decoder),
                "likelihood": ctx.serialize(self.likelihood), "beta": self.beta,
                "kl_warmup": self.kl_warmup, "step": self.step, "rng": self.rng_seed}

    def __repr__(self):
        return (f"{type(self).__name__}(input_dim={self.input_dim}, code_dim={self.code_dim}, "
                f"likelihood={self.likelihood!r}, beta={self.beta}, kl_warmup={self.kl_warmup})")


@register
class CVAE(VAE):
    """Conditional VAE: the one-hot label c (B, C) is appended to the encoder input and to z.

        h = encoder([x, c]),   o = decoder([z, c])
    Backward is the VAE's, with dz the first k columns of decoder.backward(do) (the label
    columns are data, not parameters). Labels are required everywhere (fit(..., y=labels)).
    """
    needs_labels = True

    def __init__(self, encoder, mean_head, logvar_head, decoder, likelihood="bernoulli", *,
                 n_classes, beta=1.0, kl_warmup=0, step=0, rng=None):
        self.n_classes = check_positive_int(n_classes, "n_classes")
        super().__init__(encoder, mean_head, logvar_head, decoder, likelihood, beta=beta,
                         kl_warmup=kl_warmup, step=step, rng=rng)

    def _onehot(self, y, n):
        y = self.check_labels(y, n)
        onehot = np.zeros((n, self.n_classes), dtype=self.dtype)
        onehot[np.arange(n), y] = 1
        return onehot

    def _condition(self, a, onehot):
        return np.concatenate([a, onehot.astype(a.dtype, copy=False)], axis=1)

    def generate(self, label, n, *, rng=None):
        """n samples of class `label`: z ~ N(0, I), decoded with that label  -> (n, D)."""
        n = check_positive_int(n, "n")
        label = self._check_label(label, "label")
        return self.sample(n, np.full(n, label), rng=rng)

    def get_config(self, ctx):
        """The VAE's config plus n_classes."""
        config = super().get_config(ctx)
        config["n_classes"] = self.n_classes
        return config


class KLTerm(Model):
    """The KL term of a VAE/CVAE alone, as a Model: for gradient checks of that term only.

    forward_loss returns {"loss": KL}; backward runs the VAE's backward with the
    reconstruction weight 0 and the KL weight 1.
    """

    def __init__(self, vae):
        if not isinstance(vae, VAE):
            raise TypeError(f"vae must be a VAE or CVAE, got {type(vae).__name__}")
        self.vae = vae
        self.input_dim, self.n_classes, self.needs_labels = vae.input_dim, vae.n_classes, vae.needs_labels
        self.range_hint = vae.range_hint

    def reconstruction_term(self):
        """The VAE's likelihood: the data must lie in its range, as for the VAE itself."""
        return self.vae.reconstruction_term()

    def named_children(self):
        return self.vae.named_children()

    def forward_loss(self, x, y=None, *, training=True):
        return {"loss": self.vae.forward_loss(x, y, training=training)["kl"]}

    def backward(self):
        """The VAE's backward with the reconstruction weight 0 and the KL weight 1."""
        self.vae.backward(rec_weight=0.0, kl_weight=1.0)


def _check_vae_args(sizes, activation, likelihood, beta, kl_warmup, dtype):
    """The builders' arguments, checked before any weight is drawn: (sizes, dtype)."""
    sizes = check_sizes(sizes, min_length=2, what="the input size and the latent size at least")
    dtype = check_dtype(dtype)
    check_activation(activation, "activation")
    get_likelihood(likelihood, sizes[0], dtype)
    check_nonnegative_float(beta, "beta")
    check_nonnegative_int(kl_warmup, "kl_warmup")
    return sizes, dtype


def _mlp_parts(sizes, n_classes, activation, init, rng, dtype):
    sizes = check_sizes(sizes, min_length=2, what="the input size and the latent size at least")
    rng, dtype, c = as_generator(rng), check_dtype(dtype), n_classes or 0
    n = len(sizes) - 1
    enc_sizes = [sizes[0] + c] + sizes[1:-1]
    body = Sequential([Dense(enc_sizes[i], enc_sizes[i + 1], activation, init=init, rng=rng,
                             dtype=dtype) for i in range(n - 1)])
    h = enc_sizes[-1]
    mean_head = Dense(h, sizes[-1], "identity", init=init, rng=rng, dtype=dtype)
    logvar_head = Dense(h, sizes[-1], "identity", init=init, rng=rng, dtype=dtype)
    back = sizes[::-1]
    back = [back[0] + c] + back[1:]
    decoder = Sequential([Dense(back[i], back[i + 1], activation if i < n - 1 else "identity",
                                init=init, rng=rng, dtype=dtype) for i in range(n)])
    return body, mean_head, logvar_head, decoder


def mlp_vae(sizes, *, activation="relu", likelihood="bernoulli", beta=1.0, kl_warmup=0,
            init=None, rng=None, dtype=np.float32):
    """A VAE from layer sizes: sizes=[64, 32, 2] builds
        encoder 64 -> 32, heads 32 -> 2 (mean, log-variance), decoder 2 -> 32 -> 64 (linear output).
    rng seeds the weights and, through child_seed, the model's noise Generator."""
    _check_vae_args(sizes, activation, likelihood, beta, kl_warmup, dtype)
    gen = as_generator(rng)
    parts = _mlp_parts(sizes, None, activation, init, gen, dtype)
    return VAE(*parts, likelihood, beta=beta, kl_warmup=kl_warmup, rng=child_seed(rng, gen))


def mlp_cvae(sizes, n_classes, *, activation="relu", likelihood="bernoulli", beta=1.0,
             kl_warmup=0, init=None, rng=None, dtype=np.float32):
    """A conditional VAE from layer sizes; the encoder takes D + n_classes inputs, the decoder
    k + n_classes."""
    n_classes = check_positive_int(n_classes, "n_classes")
    _check_vae_args(sizes, activation, likelihood, beta, kl_warmup, dtype)
    gen = as_generator(rng)
    parts = _mlp_parts(sizes, n_classes, activation, init, gen, dtype)
    return CVAE(*parts, likelihood, n_classes=n_classes, beta=beta, kl_warmup=kl_warmup,
                rng=child_seed(rng, gen))
