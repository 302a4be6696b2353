"""Adversarial autoencoder (Makhzani et al. 2015).

A deterministic autoencoder whose codes are pushed towards a prior p(z) by a discriminator
D (an MLP on codes, one logit out) instead of a KL term. Each batch x (B, D_in) runs three phases,
each followed by its own optimizer's step (PhaseOptimizers holds the three):

1. reconstruction (encoder + decoder)
       h = E(x),  o = G(h),   L_rec = loss(o, x)                (BCE on logits or MSE, mean)
       do = dL_rec/do;  dh = G.backward(do);  E.backward(dh)

2. discriminator (D only). Prior samples are "real" (target 1), codes are "fake" (target 0):
       d = D([z_prior; E(x)])          (2B, 1) logits, one forward pass over both halves
       L_D = 1/(2B) sum_i [log(1 + exp(d_i)) - t_i d_i]         t = [1]*B + [0]*B
       dd = (sigmoid(d) - t) / (2B);   D.backward(dd)           (the codes are held constant)

3. generator (the encoder, to fool D), the non-saturating GAN loss:
       d = D(E(x)),   L_G = 1/B sum_b log(1 + exp(-d_b))        (BCE against target 1)
       dd = (sigmoid(d) - 1) / B;   dh = D.backward(dd);  E.backward(dh)
   D's parameters receive gradients here too, but only the encoder's optimizer steps.

z_prior is drawn from the model's Generator self.rng, so a gradient check (which snapshots and
restores every Generator) sees the same prior samples in each evaluation. In inference mode
(evaluate(), forward_loss(..., training=False)) it is drawn from a Generator seeded with
evaluate's rng (default models.base.EVAL_SEED = 0) instead: evaluation gives the same numbers
every time and does not advance self.rng, so validation leaves training alone. AAEPhase exposes one
phase as a Model with exactly the parameters that phase updates, for check_model.
"""
from __future__ import annotations

import numpy as np

from ..core.registry import register
from ..nn.layers import Dense, Layer, Sequential, input_dim, output_dim
from ..nn.losses import BinaryCrossEntropy, get_loss
from ..nn.optimizers import Adam, Optimizer
from ..nn.priors import Prior, get_prior
from ..core.checks import (check_dtype, check_nonnegative_float, check_positive_int,
                           check_sizes)
from ..core.random import as_generator, child_seed, int_seed
from .base import (EncoderDecoder, Model, check_activation, check_finite_step,
                   check_logits_decoder, guarded_update)

PHASES = ("reconstruction", "discriminator", "generator")


def _check_lr(value, name):
    """A learning rate: a finite float > 0."""
    value = check_nonnegative_float(value, name)
    if value == 0:
        raise ValueError(f"{name} must be > 0, got 0")
    return value


def _check_betas(betas, name):
    """Adam's (beta1, beta2): a pair of floats, each in [0, 1)."""
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"{name} must be a pair of floats (beta1, beta2), got {betas!r}")
    out = []
    for i, b in enumerate(betas):
        b = check_nonnegative_float(b, f"{name}[{i}]")
        if b >= 1:
            raise ValueError(f"{name}[{i}] must lie in [0, 1), got {b}")
        out.append(b)
    return tuple(out)


class PhaseOptimizers:
    """One optimizer per AAE phase. fit() passes this object to AAE.train_step unchanged.

    state_dict() flattens the three optimizers' states with "<phase>." prefixes (for checkpoints).
    """

    def __init__(self, reconstruction, discriminator, generator):
        for name, opt in zip(PHASES, (reconstruction, discriminator, generator)):
            if not isinstance(opt, Optimizer):
                raise TypeError(f"{name} must be an Optimizer, got {type(opt).__name__}")
        self.reconstruction, self.discriminator, self.generator = \
            reconstruction, discriminator, generator

    def __getitem__(self, phase):
        if phase not in PHASES:
            raise KeyError(f"phase must be one of {PHASES}, got {phase!r}")
        return getattr(self, phase)

    @property
    def parameters(self):
        """The Parameters of the three optimizers, each once, in phase order."""
        seen, out = set(), []
        for phase in PHASES:
            for p in self[phase].parameters:
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def zero_grad(self):
        """Zero the gradients of every phase's parameters."""
        for phase in PHASES:
            self[phase].zero_grad()

    def step(self):
        """Always raises TypeError: AAE.train_step steps each phase's optimizer itself."""
        raise TypeError("PhaseOptimizers has one optimizer per phase; AAE.train_step calls "
                        "each phase's optimizer itself (use fit(aae, X, aae.make_optimizers()))")

    def state_dict(self):
        """The three optimizers' states in one dict, keys "<phase>.<key>"."""
        return {f"{phase}.{k}": v for phase in PHASES for k, v in self[phase].state_dict().items()}

    def load_state_dict(self, state):
        """Restore each phase's optimizer from the "<phase>."-prefixed entries of state_dict().
        A key of no phase is refused (each phase's optimizer checks its own entries)."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        stray = sorted(str(k) for k in state
                       if not (isinstance(k, str) and k.split(".", 1)[0] in PHASES))
        if stray:
            raise ValueError(f"state has keys of no phase {PHASES}: {stray[:8]}")
        for phase in PHASES:
            prefix = f"{phase}."
            self[phase].load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                         if k.startswith(prefix)})


@register
class AAE(EncoderDecoder, Model):
    """encoder (B, D) -> (B, k), decoder (B, k) -> (B, D), discriminator (B, k) -> (B, 1) logit.

    loss   reconstruction loss: "bce" (decoder emits logits) or "mse", or a Loss (mean reduction)
    prior  "gaussian", "mixture" (10 components on a circle in the first two code dims) or a Prior
    rng    int seed or Generator of self.rng, which draws the prior samples (kept as
           self.prior_sample; an int is saved)

    Terms: "loss" is the reconstruction loss (the only term of the autoencoder itself);
    "discriminator" is L_D and "generator" L_G as in the module docstring.
    """
    terms = ("loss", "reconstruction", "discriminator", "generator")

    def __init__(self, encoder, decoder, discriminator, prior="gaussian", loss="bce", *, rng=None):
        for name, part in (("encoder", encoder), ("decoder", decoder),
                           ("discriminator", discriminator)):
            if not isinstance(part, Layer):
                raise TypeError(f"{name} must be a Layer (e.g. Sequential), got {type(part).__name__}")
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.input_dim, self.code_dim = input_dim(encoder), output_dim(encoder)
        if output_dim(decoder) != self.input_dim or input_dim(decoder) != self.code_dim:
            raise ValueError(f"decoder must map {self.code_dim} -> {self.input_dim} features, got "
                             f"{input_dim(decoder)} -> {output_dim(decoder)}")
        if input_dim(discriminator) != self.code_dim or output_dim(discriminator) != 1:
            raise ValueError(f"discriminator must map {self.code_dim} -> 1 (a logit), got "
                             f"{input_dim(discriminator)} -> {output_dim(discriminator)}")
        self.prior = get_prior(prior, self.code_dim)
        self.loss = get_loss(loss)
        check_logits_decoder(decoder, self.loss)
        self.adv_loss = BinaryCrossEntropy(reduction="mean")
        self.rng_seed = int_seed(rng)
        self.rng = as_generator(rng)
        self.prior_sample = None

    def named_children(self):
        return [("encoder", self.encoder), ("decoder", self.decoder),
                ("discriminator", self.discriminator)]

    def make_optimizers(self, lr=1e-3, adversarial_lr=None, betas=(0.9, 0.999),
                        adversarial_betas=(0.5, 0.999)):
        """PhaseOptimizers of Adam: reconstruction on encoder + decoder, discriminator on D,
        generator on the encoder (adversarial_lr defaults to lr; beta1 = 0.5 as usual for GANs)."""
        lr = _check_lr(lr, "lr")
        alr = lr if adversarial_lr is None else _check_lr(adversarial_lr, "adversarial_lr")
        betas = _check_betas(betas, "betas")
        adversarial_betas = _check_betas(adversarial_betas, "adversarial_betas")
        enc = self.encoder.parameters()
        return PhaseOptimizers(
            Adam(enc + self.decoder.parameters(), lr=lr, betas=betas),
            Adam(self.discriminator.parameters(), lr=alr, betas=adversarial_betas),
            Adam(enc, lr=alr, betas=adversarial_betas))

    # ---- the three phase losses ----------------------------------------------------------
    def phase_loss(self, phase, x, *, training=True):
        """Forward pass of one phase; caches what phase_backward needs. Returns the loss."""
        if phase == "reconstruction":
            o = self.decoder.forward(self.encoder.forward(x, training=training), training=training)
            return self.loss.forward(o, x)
        if phase == "discriminator":
            B = len(x)
            fake = self.encoder.forward(x, training=training)
            # inference (evaluate) draws from its own Generator and leaves self.rng be
            rng = self.rng if training else self.inference_rng()
            real = self.prior.sample(B, rng, dtype=fake.dtype)
            self.prior_sample = real
            d = self.discriminator.forward(np.concatenate([real, fake]), training=training)
            t = np.zeros_like(d)
            t[:B] = 1
            return self.adv_loss.forward(d, t)
        if phase == "generator":
            d = self.discriminator.forward(self.encoder.forward(x, training=training),
                                           training=training)
            return self.adv_loss.forward(d, np.ones_like(d))
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")

    def phase_backward(self, phase):
        """Gradients of the last phase_loss(phase, ...) (see the module docstring)."""
        if phase == "reconstruction":
            self.encoder.backward(self.decoder.backward(self.loss.backward()), input_grad=False)
        elif phase == "discriminator":   # the codes are held constant: no gradient for them
            self.discriminator.backward(self.adv_loss.backward(), input_grad=False)
        elif phase == "generator":
            dh = self.discriminator.backward(self.adv_loss.backward())
            self.encoder.backward(dh, input_grad=False)
        else:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")

    def forward_loss(self, x, y=None, *, training=True):
        """All three phase losses; "loss" is the reconstruction, which runs last so that
        backward() follows it."""
        terms = {phase: self.phase_loss(phase, x, training=training)
                 for phase in ("discriminator", "generator", "reconstruction")}
        return {"loss": terms["reconstruction"], **{phase: terms[phase] for phase in PHASES}}

    def backward(self):
        """Gradient of "loss", the reconstruction phase."""
        self.phase_backward("reconstruction")

    def loss_and_grad(self, x, y=None):
        """Gradient of "loss" (the reconstruction phase alone: the other two do not enter it)."""
        self.zero_grad()
        rec = self.phase_loss("reconstruction", x)
        self.phase_backward("reconstruction")
        return {"loss": rec, "reconstruction": rec}

    def train_step(self, x, y, optimizer):
        """The three phases in order, each: zero grads, forward, backward, its optimizer's step."""
        if not isinstance(optimizer, PhaseOptimizers):
            raise TypeError(f"optimizer must be PhaseOptimizers (model.make_optimizers()), "
                            f"got {type(optimizer).__name__}")
        named = dict(self.named_parameters_unique())
        terms = {}
        for phase in PHASES:
            self.zero_grad()
            terms[phase] = self.phase_loss(phase, x)
            self.phase_backward(phase)
            ids = {id(p) for p in optimizer[phase].parameters}
            phase_params = [(n, p) for n, p in named.items() if id(p) in ids]
            check_finite_step({phase: terms[phase]}, phase_params)
            guarded_update(optimizer[phase], phase_params)
        return {"loss": terms["reconstruction"], **terms}

    # ---- inference: encode, decode, reconstruct come from EncoderDecoder ----

    def sample(self, n, *, rng=None):
        """Decode n prior samples  -> (n, D)."""
        rng = self.rng if rng is None else as_generator(rng)
        return self.decode(self.prior.sample(check_positive_int(n, "n"), rng, dtype=self.dtype))

    def get_config(self, ctx):
        """The constructor arguments, for saving: the three networks, prior, loss and rng (the int
        seed)."""
        return {"encoder": ctx.serialize(self.encoder), "decoder": ctx.serialize(self.decoder),
                "discriminator": ctx.serialize(self.discriminator), "prior": ctx.serialize(self.prior),
                "loss": ctx.serialize(self.loss), "rng": self.rng_seed}


class AAEPhase(Model):
    """One AAE phase as a Model (for check_model): its loss and the parameters it updates
    (reconstruction: encoder + decoder; discriminator: D; generator: encoder, plus D's
    gradient of L_G, which is computed and checked though never applied)."""

    _CHILDREN = {"reconstruction": ("encoder", "decoder"), "discriminator": ("discriminator",),
                 "generator": ("encoder", "discriminator")}

    def __init__(self, aae, phase):
        if not isinstance(aae, AAE):
            raise TypeError(f"aae must be an AAE, got {type(aae).__name__}")
        if not isinstance(phase, str) or phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        self.aae, self.phase, self.input_dim = aae, phase, aae.input_dim

    def reconstruction_term(self):
        """The AAE's reconstruction loss: the data must lie in its range, as for the AAE."""
        return self.aae.loss

    def named_children(self):
        return [(n, c) for n, c in self.aae.named_children() if n in self._CHILDREN[self.phase]]

    def forward_loss(self, x, y=None, *, training=True):
        return {"loss": self.aae.phase_loss(self.phase, x, training=training)}

    def backward(self):
        """The phase's backward (AAE.phase_backward)."""
        self.aae.phase_backward(self.phase)


def mlp_aae(sizes, *, discriminator=(64, 64), prior="gaussian", activation="relu",
            disc_activation="relu", loss="bce", init=None, rng=None, dtype=np.float32):
    """An AAE from layer sizes: sizes=[64, 32, 2] builds encoder 64 -> 32 -> 2 (linear code),
    decoder 2 -> 32 -> 64 (logits for "bce", sigmoid for "mse") and a discriminator
    2 -> 64 -> 64 -> 1 (logit)."""
    sizes = check_sizes(sizes, what="the input size and the code size at least")
    hidden = check_sizes(discriminator, "discriminator", min_length=0, what="hidden layer sizes")
    check_activation(activation, "activation")
    check_activation(disc_activation, "disc_activation")
    gen, dtype = as_generator(rng), check_dtype(dtype)
    loss = get_loss(loss)
    if isinstance(prior, str) and prior == "mixture" and sizes[-1] < 2:
        raise ValueError(f"prior='mixture' puts its components on a circle in the first two "
                         f"code dimensions: sizes[-1] (the code size) must be >= 2, got {sizes[-1]}")
    prior = get_prior(prior, sizes[-1])
    out_act = "identity" if loss.takes_logits else "sigmoid"
    n = len(sizes) - 1
    dense = lambda a, b, f: Dense(a, b, f, init=init, rng=gen, dtype=dtype)
    enc = Sequential([dense(sizes[i], sizes[i + 1], activation if i < n - 1 else "identity")
                      for i in range(n)])
    back = sizes[::-1]
    dec = Sequential([dense(back[i], back[i + 1], activation if i < n - 1 else out_act)
                      for i in range(n)])
    ds = [sizes[-1]] + hidden + [1]
    disc = Sequential([dense(ds[i], ds[i + 1], disc_activation if i < len(ds) - 2 else "identity")
                       for i in range(len(ds) - 1)])
    return AAE(enc, dec, disc, prior, loss, rng=child_seed(rng, gen))
