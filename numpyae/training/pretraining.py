"""Greedy layer-wise pretraining of a deep autoencoder, then end-to-end fine-tuning.

(Hinton & Salakhutdinov 2006 with RBMs; Bengio et al. 2007 and Vincent et al. 2010 with shallow
autoencoders, which is what this module does.)

For sizes = [D, n1, n2, ..., nk]:

    stage 1   train a shallow autoencoder  D -> n1 -> D   on X              h1 = encode_1(X)
    stage 2   train a shallow autoencoder n1 -> n2 -> n1  on h1             h2 = encode_2(h1)
    ...
    stage k   n(k-1) -> nk -> n(k-1)  on h(k-1)

    stack     encoder = enc_1, enc_2, ..., enc_k      decoder = dec_k, ..., dec_2, dec_1
              (D -> n1 -> ... -> nk -> ... -> n1 -> D), loss = stage 1's loss
    fine-tune the stacked autoencoder end to end on X with fit()

Each stage trains its own shallow Autoencoder with fit(), so it records its own History. A stage
can be any Autoencoder (plain, denoising, sparse, contractive, tied): pass ``builder``, a callable
``builder(n_in, n_out, rng) -> Autoencoder`` (or a list of them, one per stage). Only the encoder
and decoder layers are stacked; a stage's corruption or penalties shape what it learns during
pretraining and are not part of the stacked model.

Before fine-tuning, the stacked encoder computes exactly the composition of the stage encoders
(enc_k(... enc_1(x))), so the pretrained codes are preserved: tests/training/test_pretraining.py checks it.
"""
from __future__ import annotations

import copy

import numpy as np

from ..nn.layers import Sequential
from ..models.autoencoder import Autoencoder, mlp_autoencoder, stack_autoencoders
from ..nn.optimizers import OPTIMIZERS, Optimizer
from .fit import fit
from ..core.checks import check_array, check_dtype, check_positive_int, check_sizes
from ..core.random import as_generator


def default_stage_builder(stage, *, activation="relu", loss="bce", tied=False, dtype=np.float32):
    """The builder greedy_pretrain uses when none is given: a plain shallow autoencoder.

    stage 0 (on the inputs) reconstructs the data with `loss` ("bce": pixels in [0, 1], the
    decoder emits logits; "mse": sigmoid output). Later stages reconstruct codes of the layer
    below, which live in the range of `activation` (relu: [0, inf)), so they use MSE with an
    output activation equal to `activation`: the stacked decoder then feeds each decoder layer
    inputs in the same range as the codes it was trained to decode.
    Initialization follows the activation (He for relu/elu, Glorot otherwise).
    """
    def build(n_in, n_out, rng):
        if stage == 0:
            return mlp_autoencoder([n_in, n_out], activation=activation, code_activation=activation,
                                   loss=loss, tied=tied, rng=rng, dtype=dtype)
        return mlp_autoencoder([n_in, n_out], activation=activation, code_activation=activation,
                               output_activation=activation, loss="mse", tied=tied, rng=rng,
                               dtype=dtype)
    return build


def make_optimizer(spec, parameters, *, lr=1e-3, weight_decay=0.0):
    """An Optimizer from a name ("adam", "sgd", "adamw"), an Optimizer class (given lr and
    weight_decay) or a callable(parameters) -> Optimizer (which sets its own lr and decay)."""
    if isinstance(spec, type) and issubclass(spec, Optimizer):
        return spec(parameters, lr=lr, weight_decay=weight_decay)
    if callable(spec) and not isinstance(spec, type):
        opt = spec(parameters)
        if not isinstance(opt, Optimizer):
            raise TypeError(f"optimizer callable must return a numpyae Optimizer, "
                            f"got {type(opt).__name__}")
        return opt
    if isinstance(spec, str) and spec in OPTIMIZERS:
        return OPTIMIZERS[spec](parameters, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a callable "
                     f"parameters -> Optimizer, got {spec!r}")


class PretrainedStack:
    """What greedy_pretrain returns.

    stages      the trained shallow Autoencoders, stage 1 first
    histories   one History per stage (fit()'s records: "loss", "reconstruction", "val_*")
    sizes       [D, n1, ..., nk]
    stack()     the deep Autoencoder built from (copies of) the stages, ready to fine-tune
    encode(X)   codes of the top stage, computed stage by stage
    """

    def __init__(self, stages, histories, sizes):
        self.stages, self.histories, self.sizes = list(stages), list(histories), list(sizes)

    def stack(self, *, copy_weights=True):
        """The deep Autoencoder stacked from the stages (stack_autoencoders), ready to fine-tune."""
        return stack_autoencoders(self.stages, copy_weights=copy_weights)

    def encode(self, X):
        """The top stage's codes h_k = encode_k(... encode_1(X))  (N, D) -> (N, nk)."""
        h = X
        for stage in self.stages:
            h = stage.encode(h)
        return h

    def __repr__(self):
        arrows = " -> ".join(str(s) for s in self.sizes)
        losses = ", ".join(f"stage {i + 1} loss {h['loss'][-1]:.4g}"
                           for i, h in enumerate(self.histories))
        return f"PretrainedStack({arrows}; {losses})"


def greedy_pretrain(X, sizes, *, builder=None, activation="relu", loss="bce", tied=False,
                    epochs=20, batch_size=64, optimizer="adam", lr=1e-3, weight_decay=0.0,
                    validation_data=None, rng=0, progress=False, dtype=np.float32):
    """Train one shallow autoencoder per consecutive pair of `sizes`, each on the codes below.

    X                (N, D) training inputs, D = sizes[0]
    sizes            [D, n1, ..., nk]: stage i maps n(i-1) -> n(i) -> n(i-1)
    builder          callable (n_in, n_out, rng) -> Autoencoder, or a list of k of them; default
                     default_stage_builder(i, activation=..., loss=..., tied=...) (plain stages)
    epochs, batch_size, optimizer, lr, weight_decay
                     the budget of every stage (an int/str/float, or a list with one per stage);
                     optimizer is a name or a callable(parameters) -> Optimizer
    validation_data  (X_val,): encoded stage by stage alongside X, so each History has val_*
    rng              int seed or Generator: initializations and shuffling

    Returns a PretrainedStack (stages, per-stage histories, .stack() for fine-tuning).
    """
    sizes = check_sizes(sizes)
    n_stages = len(sizes) - 1
    dtype = check_dtype(dtype)
    H, H_val = _stage_inputs(X, validation_data, sizes[0], dtype)
    builders = _stage_builders(builder, n_stages, activation, loss, tied, dtype)
    budget = list(zip(*(_per_stage(value, name, n_stages) for name, value in (
        ("epochs", epochs), ("batch_size", batch_size), ("optimizer", optimizer), ("lr", lr),
        ("weight_decay", weight_decay)))))
    rng = as_generator(rng)
    stages, histories = [], []
    for i, (n_epochs, n_batch, opt_spec, stage_lr, wd) in enumerate(budget):
        stage = _build_stage(builders[i], i, sizes[i], sizes[i + 1], rng)
        opt = make_optimizer(opt_spec, stage.parameters(), lr=stage_lr, weight_decay=wd)
        histories.append(fit(stage, H, opt, epochs=n_epochs, batch_size=n_batch,
                             validation_data=None if H_val is None else (H_val,), rng=rng,
                             progress=progress))
        stages.append(stage)
        if i < n_stages - 1:   # the next stage trains on this stage's codes
            H = stage.encode(H)
            if H_val is not None:
                H_val = stage.encode(H_val)
    return PretrainedStack(stages, histories, sizes)


def _stage_inputs(X, validation_data, n_features, dtype):
    """(X, X_val or None) checked as the first stage's inputs."""
    H = check_array(X, "X", ndim=2, n_features=n_features, dtype=dtype)
    if validation_data is None:
        return H, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 1:
        raise TypeError("validation_data must be a tuple (X_val,)")
    return H, check_array(validation_data[0], "validation_data[0]", ndim=2,
                          n_features=n_features, dtype=dtype)


def _per_stage(value, name, n_stages):
    """One value per stage: a list of n_stages as given, or one value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_stages:
            raise ValueError(f"{name} must be one value or a list of {n_stages} (one per "
                             f"stage), got {len(value)}")
        return list(value)
    return [value] * n_stages


def _stage_builders(builder, n_stages, activation, loss, tied, dtype):
    """One callable (n_in, n_out, rng) -> Autoencoder per stage."""
    if builder is None:
        return [default_stage_builder(i, activation=activation, loss=loss, tied=tied,
                                      dtype=dtype) for i in range(n_stages)]
    builders = _per_stage(builder, "builder", n_stages)
    for i, b in enumerate(builders):
        if not callable(b):
            raise TypeError(f"builder must be callable (n_in, n_out, rng) -> Autoencoder, "
                            f"got {type(b).__name__} for stage {i + 1}")
    return builders


def _build_stage(build, i, n_in, n_out, rng):
    """Stage i + 1's autoencoder n_in -> n_out -> n_in, checked."""
    stage = build(n_in, n_out, rng)
    if not isinstance(stage, Autoencoder):
        raise TypeError(f"builder for stage {i + 1} must return an Autoencoder, "
                        f"got {type(stage).__name__}")
    if stage.input_dim != n_in or stage.code_dim != n_out:
        raise ValueError(f"builder for stage {i + 1} must build a {n_in} -> {n_out} -> {n_in} "
                         f"autoencoder, got input_dim {stage.input_dim}, code_dim "
                         f"{stage.code_dim}")
    return stage


def pretrain_and_finetune(X, sizes, *, pretrain_epochs=20, finetune_epochs=20, batch_size=64,
                          optimizer="adam", lr=1e-3, finetune_lr=None, weight_decay=0.0,
                          validation_data=None, rng=0, progress=False, **pretrain_kwargs):
    """greedy_pretrain, stack, then fine-tune the deep autoencoder end to end with fit().

    Returns (model, histories): histories maps "stage 1", ..., "stage k" and "fine-tune" to their
    History objects. Extra keyword arguments (builder, activation, loss, tied, dtype) go to
    greedy_pretrain. Per-stage lists (epochs, lr, ...) are for greedy_pretrain only: the
    fine-tuning needs single values (finetune_lr, batch_size, optimizer, weight_decay).

    Example, with denoising or sparse stages from your own builder:
        builder = lambda n_in, n_out, rng: mlp_autoencoder([n_in, n_out], activation="sigmoid",
                                                           code_activation="sigmoid", rng=rng)
        model, histories = pretrain_and_finetune(X, [64, 48, 24], builder=builder)
    """
    for name, value in (("batch_size", batch_size), ("optimizer", optimizer),
                        ("weight_decay", weight_decay),
                        ("lr", lr if finetune_lr is None else finetune_lr)):
        if isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a single value for the fine-tuning, got a list "
                             f"{value!r}; call greedy_pretrain for per-stage settings"
                             + (" or pass finetune_lr" if name == "lr" else ""))
    result = greedy_pretrain(X, sizes, epochs=pretrain_epochs, batch_size=batch_size,
                             optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                             validation_data=validation_data, rng=rng, progress=progress,
                             **pretrain_kwargs)
    model = result.stack()
    histories = {f"stage {i + 1}": h for i, h in enumerate(result.histories)}
    opt = make_optimizer(optimizer, model.parameters(),
                         lr=lr if finetune_lr is None else finetune_lr, weight_decay=weight_decay)
    histories["fine-tune"] = fit(model, X, opt, epochs=finetune_epochs, batch_size=batch_size,
                                 validation_data=validation_data, rng=rng, progress=progress)
    return model, histories


