"""Performance invariant of the models: no aliasing at the model level. What a model returns
(reconstructions, codes) or is given (the input batch) is never overwritten by later calls --
other batch sizes, inference after a training step -- although the layers underneath reuse
their scratch buffers (tests/performance/test_perf_layers.py). Correctness only; timings live
in benchmarks/.
"""
import numpy as np

from numpyae import Adam, mlp_autoencoder


def test_model_reconstructions_are_not_overwritten_by_later_calls():
    rng = np.random.default_rng(5)
    model = mlp_autoencoder([8, 5, 3], activation="relu", loss="mse", rng=0)
    X1, X2 = rng.random((6, 8), dtype=np.float32), rng.random((4, 8), dtype=np.float32)
    r1, h1 = model.reconstruct(X1), model.encode(X1)
    kept_r, kept_h = r1.copy(), h1.copy()
    model.reconstruct(X2)
    model.encode(X1[:2])
    model.train_step(X1, None, Adam(model.parameters(), lr=1e-3))
    np.testing.assert_array_equal(r1, kept_r)
    np.testing.assert_array_equal(h1, kept_h)
    np.testing.assert_array_equal(X1, np.asarray(X1))  # inputs untouched
    assert not np.shares_memory(model.reconstruct(X1), r1)
