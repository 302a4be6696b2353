"""Named terms and paths of the catalogue's gradients, and the planted student mistakes they name.

Each planted student is written here from the formulas, as a student would, independently of
the catalogue's references and term functions.
"""
import numpy as np
import pytest

from numpyae.teaching.exercises import EXERCISES, check, reference
from numpyae.teaching.exercises.catalog import ADAM_DEFAULTS
from numpyae.teaching.exercises.checker import fixed_dims, random_inputs

#: every multi-path exercise of the catalogue and the terms of its multi-path output
MULTI_PATH = {
    "tied_autoencoder_grad": ("dW", ["encoder use", "decoder use"]),
    "contractive_penalty_grad": ("dW", ["through h", "direct"]),
    "softmax_cross_entropy_grad": ("dz", ["softmax", "one-hot"]),
    "bce_with_logits_grad": ("dz", ["log(1 + exp(z))", "-t z"]),
    "kl_sparsity_grad": ("dh", ["rho log(rho / rho_hat)",
                                "(1 - rho) log((1 - rho) / (1 - rho_hat))"]),
    "vae_kl_grad": ("dlogvar", ["exp(logvar)", "-logvar"]),
    "library_tied_autoencoder_backward": ("dW", ["encoder use", "decoder use"]),
    "library_contractive_backward": ("dW", ["through h", "direct"]),
}


def sig(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("name", sorted(MULTI_PATH))
def test_every_multi_path_exercise_declares_its_terms_and_they_add_up(name):
    ex = EXERCISES[name]
    output, names = MULTI_PATH[name]
    assert [t.name for t in ex.terms[output]] == names
    assert all(t.hint for t in ex.terms[output])
    k = ex.outputs.index(output)
    for seed, dims in enumerate(fixed_dims(ex)):
        inputs = random_inputs(ex, dims, np.random.default_rng(seed))
        ref = reference(name)(**inputs)
        ref = ref[k] if isinstance(ref, tuple) else ref
        total = sum(np.broadcast_to(t.value(**inputs), ref.shape) for t in ex.terms[output])
        np.testing.assert_allclose(total, ref, rtol=1e-12, atol=1e-15)


# ---- the planted mistakes of the issue, named precisely -------------------------------------------

def test_planted_kl_gradient_without_the_1_over_B_is_named_as_the_missing_batch_division():
    def kl_sparsity_grad(h, rho):
        q = h.mean(axis=0)
        return np.tile(-rho / q + (1 - rho) / (1 - q), (h.shape[0], 1))     # forgot the 1/B

    result = check("kl_sparsity_grad", kl_sparsity_grad, verbose=False)
    assert result.kind == "factor", result.message
    assert ("dh is off by a constant factor: yours = 5 x the true gradient. Likely cause: the "
            "division by the batch size B = 5 is missing") in result.message
    assert result.summary == ("dh off by a constant factor: the division by the batch size B is "
                              "missing")


def test_planted_adam_step_without_the_v_bias_correction_is_named():
    lr, b1, b2, eps = (ADAM_DEFAULTS[k] for k in ("lr", "beta1", "beta2", "eps"))

    def adam_step(w, g, m, v, t):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        return w - lr * m_hat / (np.sqrt(v) + eps), m, v                 # v_hat forgotten

    result = check("adam_step", adam_step, verbose=False)
    assert result.kind == "factor", result.message
    assert "the step w_new - w is off by a constant factor" in result.message
    assert "Likely cause: the bias correction v_hat = v / (1 - beta2^t) is missing" \
        in result.message


def test_planted_contractive_gradient_without_the_direct_term_of_W_is_named_by_the_term():
    def contractive_penalty_grad(x, W, b):
        h = sig(x @ W + b)
        s = h * (1 - h)
        da = 2 * s * s * (1 - 2 * h) * (W ** 2).sum(axis=0)   # d/da of s^2 sum_i W_ij^2
        return x.T @ da / len(x), da.sum(axis=0) / len(x)      # W inside sum_i W_ij^2: forgotten

    result = check("contractive_penalty_grad", contractive_penalty_grad, verbose=False)
    assert (result.kind, result.terms) == ("term", {"missing": ["direct"]}), result.message
    assert "contractive_penalty_grad: not right yet (missing term: direct)" in result.message
    assert ("dW is missing the term 'direct': yours = 'through h', the true dW = 'through h' + "
            "'direct'") in result.message
    assert "W also appears in the factor sum_i W_ij^2 itself" in result.message


def test_planted_tied_autoencoder_dW_without_the_decoders_use_of_W_is_named_by_the_term():
    def tied_autoencoder_grad(x, W, b, c, do):
        h = sig(x @ W + b)
        da = (do @ W) * h * (1 - h)
        return x.T @ da, da.sum(axis=0), do.sum(axis=0)       # only the encoder's use of W

    result = check("tied_autoencoder_grad", tied_autoencoder_grad, verbose=False)
    assert (result.kind, result.terms) == ("term", {"missing": ["decoder use"]}), result.message
    assert ("dW is missing the term 'decoder use': yours = 'encoder use', the true dW = "
            "'encoder use' + 'decoder use'") in result.message
    assert result.summary == "dW: missing term 'decoder use'"


def test_planted_softmax_cross_entropy_without_the_one_hot_subtraction_is_named_by_the_term():
    def softmax_cross_entropy_grad(z, y):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True) / len(z)      # the -onehot(y) forgotten

    result = check("softmax_cross_entropy_grad", softmax_cross_entropy_grad, verbose=False)
    assert (result.kind, result.terms) == ("term", {"missing": ["one-hot"]}), result.message
    assert "dz is missing the term 'one-hot': yours = 'softmax'" in result.message
    assert "subtract 1/B at each example's label" in result.message


def test_planted_softmax_cross_entropy_adding_the_one_hot_is_a_term_with_the_wrong_sign():
    def softmax_cross_entropy_grad(z, y):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True) + np.eye(z.shape[1])[y]) / len(z)

    result = check("softmax_cross_entropy_grad", softmax_cross_entropy_grad, verbose=False)
    assert result.terms == {"wrong sign": ["one-hot"]}, result.message
    assert "dz has the term 'one-hot' with the wrong sign" in result.message


def test_planted_vae_kl_without_the_minus_one_is_a_missing_term():
    result = check("vae_kl_grad",
                   lambda mu, lv: (mu / len(mu), 0.5 * np.exp(lv) / len(mu)), verbose=False)
    assert result.terms == {"missing": ["-logvar"]}, result.message


def test_planted_library_tied_pair_without_the_decoder_use_is_named_by_the_term():
    def library_tied_autoencoder_backward(x, W, b, c, dy):
        h = sig(x @ W + b)
        da = (dy @ W) * h * (1 - h)
        return da @ W.T, x.T @ da, da.sum(0), dy.sum(0)

    result = check("library_tied_autoencoder_backward", library_tied_autoencoder_backward,
                   verbose=False)
    assert result.terms == {"missing": ["decoder use"]}, result.message


def test_planted_library_contractive_without_the_direct_term_is_named_by_the_term():
    def library_contractive_backward(x, W, b):
        h = sig(x @ W + b)
        s = h * (1 - h)
        da = 2 * s * s * (1 - 2 * h) * (W ** 2).sum(axis=0) / len(x)   # lam = 1
        return x.T @ da, da.sum(axis=0)

    result = check("library_contractive_backward", library_contractive_backward, verbose=False)
    assert result.terms == {"missing": ["direct"]}, result.message


def test_the_right_answers_written_from_the_formulas_pass():
    def tied(x, W, b, c, do):
        h = sig(x @ W + b)
        da = (do @ W) * h * (1 - h)
        return x.T @ da + do.T @ h, da.sum(0), do.sum(0)

    def contractive(x, W, b):
        h = sig(x @ W + b)
        s = h * (1 - h)
        da = 2 * s * s * (1 - 2 * h) * (W ** 2).sum(axis=0)
        return (x.T @ da + 2 * W * (s * s).sum(0)) / len(x), da.sum(0) / len(x)

    assert check("tied_autoencoder_grad", tied, verbose=False).passed
    assert check("contractive_penalty_grad", contractive, verbose=False).passed
