"""Performance invariant: float32 stays float32. A float32 training step -- forward, backward,
penalties, corruption, the VAE's noise, every optimizer update -- creates no float64 array
(a single float64 scalar or temporary would upcast and double the memory traffic). An
ndarray subclass records the dtype of every array derived from the data and the parameters.
"""
import numpy as np
import pytest

from numpyae import SGD, Adam, AdamW, fit, mlp_autoencoder
from numpyae.nn.activations import ACTIVATIONS

ACTIVATION_NAMES = sorted(set(ACTIVATIONS) - {"linear"})


class DtypeRecorder(np.ndarray):
    """Every array created from a DtypeRecorder (ufunc results, matmuls, views, reductions,
    zeros_like copies) is one too, and NumPy calls __array_finalize__ for each: log its dtype."""
    seen = []

    def __array_finalize__(self, obj):
        DtypeRecorder.seen.append(self.dtype)


def instrument(model):
    for p in model.parameters():
        p.value = p.value.view(DtypeRecorder)
        p.grad = p.grad.view(DtypeRecorder)


def float_dtypes_seen():
    return {dt for dt in DtypeRecorder.seen if dt.kind == "f"}


def test_recorder_sees_an_upcast():
    """The instrument itself works: a float64 scalar times a float32 array is caught."""
    DtypeRecorder.seen = []
    x = np.ones(3, dtype=np.float32).view(DtypeRecorder)
    _ = x * np.float64(2.0)
    assert np.dtype(np.float64) in float_dtypes_seen()
    DtypeRecorder.seen = []
    _ = (x * 2.0 + 1) @ x
    assert float_dtypes_seen() == {np.dtype(np.float32)}


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_float32_training_step_creates_no_float64(activation, loss):
    rng = np.random.default_rng(0)
    model = mlp_autoencoder([12, 8, 4], activation=activation, code_activation=activation,
                            loss=loss, rng=0)
    instrument(model)
    X = rng.random((40, 12), dtype=np.float32).view(DtypeRecorder)
    DtypeRecorder.seen = []
    fit(model, X, Adam(model.parameters(), lr=1e-3), epochs=2, batch_size=16, rng=0,
        progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}
    assert all(p.value.dtype == np.float32 for p in model.parameters())


def _regularized_and_generative_models():
    from numpyae.models import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                                L1SparseAutoencoder, SparseAutoencoder, mlp_cvae, mlp_vae)
    return {
        "contractive": lambda: ContractiveAutoencoder((12, 5), lam=0.1, rng=0),
        "denoising": lambda: DenoisingAutoencoder((12, 5), rng=0),
        "sparse-kl": lambda: SparseAutoencoder((12, 5), rng=0),
        "sparse-l1": lambda: L1SparseAutoencoder((12, 5), rng=0),
        # k=1: the old SparseAutoencoder(penalty="topk") default, code size // 5
        "k-sparse": lambda: KSparseAutoencoder((12, 5), k=1, rng=0),
        "vae": lambda: mlp_vae([12, 8, 3], rng=0),
        "cvae": lambda: mlp_cvae([12, 8, 3], 4, rng=0),
    }


@pytest.mark.parametrize("name", ["contractive", "denoising", "sparse-kl", "sparse-l1", "k-sparse",
                                  "vae", "cvae"])
def test_float32_steps_of_the_other_models_create_no_float64(name):
    model = _regularized_and_generative_models()[name]()
    instrument(model)
    rng = np.random.default_rng(2)
    X = rng.random((24, 12), dtype=np.float32).view(DtypeRecorder)
    y = rng.integers(0, 4, size=24) if model.needs_labels else None
    DtypeRecorder.seen = []
    fit(model, X, Adam(model.parameters(), lr=1e-3), y=y, epochs=2, batch_size=8, rng=2,
        progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}


@pytest.mark.parametrize("make_opt", [
    lambda ps: Adam(ps, lr=1e-3, weight_decay=1e-4),
    lambda ps: AdamW(ps, lr=1e-3),
    lambda ps: SGD(ps, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
], ids=["adam-l2", "adamw", "sgd-nesterov"])
def test_float32_optimizers_create_no_float64(make_opt):
    model = mlp_autoencoder([10, 6], activation="tanh", loss="mse", tied=True, rng=1)
    instrument(model)
    X = np.random.default_rng(1).random((20, 10), dtype=np.float32).view(DtypeRecorder)
    DtypeRecorder.seen = []
    fit(model, X, make_opt(model.parameters()), epochs=2, batch_size=8, rng=1, progress=False)
    assert float_dtypes_seen() == {np.dtype(np.float32)}
