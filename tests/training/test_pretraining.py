"""Greedy layer-wise pretraining and fine-tuning (numpyae.training.pretraining). The deep and
tied stacks' gradient checks are in tests/models/test_autoencoder.py."""
import numpy as np
import pytest

import numpyae
from numpyae import SGD, Adam, check_model, load_digits, mlp_autoencoder
from numpyae.analysis.plotting import plot_stage_histories
from numpyae.models.autoencoder import stack_autoencoders
from numpyae.training.pretraining import (PretrainedStack, default_stage_builder, greedy_pretrain,
                                          make_optimizer, pretrain_and_finetune)


@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits()
    return X[:240], X[240:300]


# ---- greedy pretraining -------------------------------------------------------------------

def test_greedy_pretraining_end_to_end(digits):
    X, X_val = digits
    result = greedy_pretrain(X, [64, 32, 16, 8], epochs=[3, 2, 2], batch_size=32, lr=3e-3,
                             validation_data=(X_val,), rng=0)
    assert isinstance(result, PretrainedStack)
    assert len(result.stages) == 3 and len(result.histories) == 3
    assert [h.epochs for h in result.histories] == [3, 2, 2]
    for h in result.histories:
        assert "loss" in h and "val_loss" in h
        assert all(np.isfinite(h["loss"]))
    # shapes line up: stage i maps sizes[i] -> sizes[i+1] -> sizes[i]
    assert [(s.input_dim, s.code_dim) for s in result.stages] == [(64, 32), (32, 16), (16, 8)]
    # stage 1 reconstructs pixels (BCE on logits), later stages relu codes (MSE, relu output)
    assert result.stages[0].loss.name == "bce"
    assert result.stages[1].loss.name == "mse"
    assert result.stages[1].decoder[0].activation.name == "relu"

    model = result.stack()
    assert [layer.W.shape for layer in model.encoder] == [(64, 32), (32, 16), (16, 8)]
    assert [layer.W.shape for layer in model.decoder] == [(8, 16), (16, 32), (32, 64)]
    # before fine-tuning the stack reproduces the stage encoders' codes exactly ...
    h = X
    for stage in result.stages:
        h = stage.encode(h)
    np.testing.assert_array_equal(model.encode(X), h)
    np.testing.assert_array_equal(result.encode(X), h)
    # ... and decodes with the stage decoders in reverse order
    o = h
    for stage in reversed(result.stages):
        o = stage.decoder.forward(o, training=False)
    np.testing.assert_allclose(model.reconstruct(X), result.stages[0].loss.predict(o), rtol=1e-6)

    # the stack holds copies: fine-tuning it leaves the stages alone
    before = [p.value.copy() for s in result.stages for p in s.parameters()]
    opt = Adam(model.parameters(), lr=3e-3)
    loss_before = model.evaluate(X)["loss"]
    numpyae.fit(model, X, opt, epochs=3, batch_size=32, rng=0, progress=False)
    assert model.evaluate(X)["loss"] < loss_before
    after = [p.value for s in result.stages for p in s.parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_pretrain_and_finetune_histories(digits):
    X, X_val = digits
    model, histories = pretrain_and_finetune(X, [64, 24, 12], pretrain_epochs=2,
                                             finetune_epochs=3, lr=3e-3, batch_size=32,
                                             validation_data=(X_val,), rng=1)
    assert list(histories) == ["stage 1", "stage 2", "fine-tune"]
    assert histories["fine-tune"].epochs == 3 and "val_reconstruction" in histories["fine-tune"]
    assert histories["fine-tune"]["loss"][-1] < histories["fine-tune"]["loss"][0]
    assert model.reconstruct(X_val).shape == X_val.shape and model.code_dim == 12
    fig = plot_stage_histories(histories)
    assert [ax.get_title() for ax in fig.axes] == ["stage 1", "stage 2", "fine-tune"]
    assert all(len(ax.lines) == 2 for ax in fig.axes)  # loss and val_loss


def test_custom_stage_builders_tied_and_sgd(digits, tmp_path):
    X, _ = digits
    calls = []

    def builder(n_in, n_out, rng):
        calls.append((n_in, n_out))
        return mlp_autoencoder([n_in, n_out], activation="sigmoid", code_activation="sigmoid",
                               output_activation="sigmoid", loss="mse", tied=True, rng=rng)

    result = greedy_pretrain(X, [64, 20, 10], builder=builder, epochs=2,
                             optimizer=lambda ps: SGD(ps, lr=0.5, momentum=0.9), rng=0)
    assert calls == [(64, 20), (20, 10)]
    model = result.stack()
    # ties survive stacking (and the copy): decoder layer i reuses encoder layer (n-1-i)
    assert model.decoder[0].W is model.encoder[1].W and model.decoder[1].W is model.encoder[0].W
    assert model.decoder[1].W is not result.stages[0].encoder[0].W
    np.testing.assert_array_equal(model.encode(X), result.encode(X))
    path = numpyae.save(model, tmp_path / "stacked.npz")
    loaded = numpyae.load(path)
    np.testing.assert_array_equal(loaded.reconstruct(X), model.reconstruct(X))
    assert loaded.decoder[0].W is loaded.encoder[1].W


def test_gradcheck_stacked_pretrained_model(digits):
    X, _ = digits
    result = greedy_pretrain(X[:50], [64, 6, 3], activation="tanh", loss="mse", epochs=1,
                             rng=0, dtype=np.float64)
    model = result.stack()
    rng = np.random.default_rng(0)
    Xs = rng.uniform(0.05, 0.95, size=(4, 64))
    report = check_model(model, Xs, None, parameters=["encoder.1.W", "decoder.0.W",
                                                      "decoder.1.b", "encoder.0.b"])
    assert report.max_error <= 1e-7, report


def test_default_builder_and_bad_input(digits):
    X, _ = digits
    stage = default_stage_builder(1, activation="sigmoid")(8, 4, 0)
    assert stage.loss.name == "mse" and stage.decoder[0].activation.name == "sigmoid"
    with pytest.raises(ValueError, match="at least one code size"):
        greedy_pretrain(X, [64])
    with pytest.raises(ValueError, match="32 features"):
        greedy_pretrain(X, [32, 16])
    with pytest.raises(ValueError, match="list of 2"):
        greedy_pretrain(X, [64, 32, 16], epochs=[1, 2, 3])
    with pytest.raises(TypeError, match="must return an Autoencoder"):
        greedy_pretrain(X, [64, 16], builder=lambda a, b, rng: None, epochs=1)
    with pytest.raises(ValueError, match="64 -> 16 -> 64"):
        greedy_pretrain(X, [64, 16], builder=lambda a, b, rng: mlp_autoencoder([64, 8], rng=rng),
                        epochs=1)
    with pytest.raises(TypeError, match="builder must be callable"):
        greedy_pretrain(X, [64, 16], builder=3, epochs=1)
    with pytest.raises(ValueError, match="pass finetune_lr"):
        pretrain_and_finetune(X, [64, 16, 8], lr=[1e-3, 1e-3])
    assert isinstance(make_optimizer(SGD, mlp_autoencoder([4, 2]).parameters(), lr=0.1), SGD)
    with pytest.raises(TypeError, match="must return a numpyae Optimizer"):
        make_optimizer(lambda ps: None, mlp_autoencoder([4, 2]).parameters())
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("rmsprop", mlp_autoencoder([4, 2]).parameters())
    with pytest.raises(ValueError, match="stages\\[1\\] must take"):
        stack_autoencoders([mlp_autoencoder([8, 4]), mlp_autoencoder([3, 2])])
    with pytest.raises(TypeError, match="stages\\[0\\] must be an Autoencoder"):
        stack_autoencoders([object()])


def test_weight_decay_reaches_every_stage_and_the_fine_tuning(digits):
    """L2 weight decay comes from the optimizer (g = grad + wd * w): with it, every stage and
    the fine-tuned stack end up with smaller weights than the same run without it."""
    X, _ = digits
    norms = {}
    for wd in (0.0, 0.05):
        result = greedy_pretrain(X, [64, 16, 8], epochs=4, lr=3e-3, weight_decay=wd, rng=0)
        model, _ = pretrain_and_finetune(X, [64, 16, 8], pretrain_epochs=4, finetune_epochs=4,
                                         lr=3e-3, weight_decay=wd, rng=0)
        norms[wd] = ([np.linalg.norm(s.encoder[0].W.value) for s in result.stages],
                     np.linalg.norm(model.encoder[0].W.value))
    assert all(a < b for a, b in zip(norms[0.05][0], norms[0.0][0]))
    assert norms[0.05][1] < norms[0.0][1]
