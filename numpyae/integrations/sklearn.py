"""numpyae's autoencoders as scikit-learn transformers, for Pipeline, GridSearchCV and
cross_val_score. Needs scikit-learn >= 1.6 (pip install "numpyae[sklearn]").

    AutoencoderTransformer              mlp_autoencoder   D -> hidden -> code_dim -> hidden -> D
    DenoisingAutoencoderTransformer     the DenoisingAutoencoder preset (input corruption)
    SparseAutoencoderTransformer        the SparseAutoencoder preset (KL sparsity, weight decay)
    ContractiveAutoencoderTransformer   the ContractiveAutoencoder preset (loss="bce"), or the
                                        same network with squared error (loss="mse")
    VAETransformer                      mlp_vae; transform gives the posterior mean mu(x)

Each one builds numpyae's own model in fit and trains it with numpyae.fit (Adam(lr), `epochs`
epochs of `batch_size` shuffled rows): no second training loop. With the same seed the
transformer's model_ is, bit for bit, the model numpyae trains itself:

    AutoencoderTransformer(code_dim=k, hidden=(64,), random_state=0).fit(X).model_
    ==  fit(mlp_autoencoder([D, 64, k], activation="relu", code_activation="identity",
                            output_activation="identity", loss="mse", rng=0),
            X, Adam(model.parameters(), lr=3e-3), epochs=60, batch_size=32, rng=0)

    fit(X, y=None)          build the model for X's columns and train it; y is ignored (a
                            Pipeline passes it to every step)                  returns self
    transform(X)            the codes                         (n, n_features_in_) -> (n, code_dim)
    inverse_transform(H)    reconstructions from codes        (n, code_dim) -> (n, n_features_in_)
    fit_transform(X)        fit(X).transform(X)

scikit-learn's conventions hold: the constructor stores its arguments unchanged and checks
nothing; fit checks every argument (a TypeError or ValueError naming it) before any work, then
the data (sklearn's validate_data: 2-D, finite, numeric, n_features_in_ and
feature_names_in_); learned state lives in attributes ending in "_":

    model_           the trained numpyae model (numpyae.save(est.model_, path) saves it)
    history_         its numpyae History (the mean of every loss term per epoch)
    loss_            the last epoch's mean training loss
    n_features_in_   the number of input columns (feature_names_in_ for a DataFrame)

get_params / set_params / clone work as for any scikit-learn estimator; parameters keep
numpyae's names (code_dim, noise, level, rho, beta, lam, likelihood, ...), except
random_state, scikit-learn's name for numpyae's rng: None, an int (passed to numpyae
unchanged), a np.random.RandomState (one int seed is drawn from it) or a np.random.Generator.

The model computes in `dtype` (float32 by default): X is converted once, and transform returns
that dtype. Sigmoid outputs (the denoising, sparse and contractive presets) reconstruct values
in [0, 1] only, and binary cross-entropy (loss="bce") and the Bernoulli likelihood refuse data
outside [0, 1]: put a MinMaxScaler in front of them.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..core.checks import (check_bool, check_choice, check_dtype, check_nonnegative_float,
                           check_positive_int)
from ..models.autoencoder import mlp_autoencoder
from ..models.presets import ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder
from ..models.vae import mlp_vae
from ..nn.losses import MSE
from ..nn.optimizers import Adam
from ..nn.penalties import Contractive, WeightDecay
from ..training.fit import fit as numpyae_fit

#: what to install when scikit-learn is missing or too old
INSTALL_HINT = 'pip install "numpyae[sklearn]"'
#: the oldest scikit-learn this module works with (validate_data and __sklearn_tags__ are 1.6's)
MIN_SKLEARN = (1, 6)

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as exc:   # not installed, or older than 1.6 (no validate_data)
    raise ImportError(f"numpyae.integrations.sklearn needs scikit-learn >= "
                      f"{'.'.join(map(str, MIN_SKLEARN))} ({exc}): {INSTALL_HINT}",
                      name="sklearn") from exc

__all__ = ["AutoencoderTransformer", "DenoisingAutoencoderTransformer",
           "SparseAutoencoderTransformer", "ContractiveAutoencoderTransformer", "VAETransformer",
           "numpyae_rng"]


# ---- the arguments --------------------------------------------------------------------------

def numpyae_rng(random_state):
    """scikit-learn's random_state as numpyae's rng: None -> None (fresh entropy), an int >= 0 ->
    the same int, a np.random.RandomState -> one int seed drawn from it (so the state advances,
    as scikit-learn's estimators advance it), a np.random.Generator -> itself."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int seed, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(f"random_state must be None, an int seed, a np.random.RandomState or a "
                    f"np.random.Generator, got {type(random_state).__name__} {random_state!r}")


def _check_hidden(hidden):
    """hidden as a list of positive ints (the layer sizes between the input and the code; may
    be empty), or a TypeError / ValueError naming `hidden`."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if isinstance(hidden, (str, bytes, dict)) or not hasattr(hidden, "__iter__"):
        raise TypeError(f"hidden must be a tuple of positive ints (the layer sizes between the "
                        f"input and the code; () for none), got {type(hidden).__name__} "
                        f"{hidden!r}")
    return [check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)]


def _check_lr(lr):
    """lr as a finite float > 0, or a TypeError / ValueError naming `lr`."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a finite number > 0, got {type(lr).__name__} {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    return float(lr)


# ---- the shared estimator -------------------------------------------------------------------

class _AutoencoderEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """fit / transform / inverse_transform around a numpyae model built by _build_model (module
    doc). Subclasses list their own constructor arguments and build their model from them."""

    def _build_model(self, sizes, rng, dtype):
        """The untrained numpyae model of layer sizes [n_features, *hidden, code_dim]."""
        raise NotImplementedError

    def fit(self, X, y=None):
        """Check every argument, then X; build the numpyae model for X's columns and train it
        with numpyae.fit: Adam(lr), `epochs` epochs of `batch_size` rows, shuffled with
        random_state. y is ignored. Returns self.

        X   (n_samples, n_features) numeric, finite; converted once to `dtype`
        """
        code_dim = check_positive_int(self.code_dim, "code_dim")
        hidden = _check_hidden(self.hidden)
        epochs = check_positive_int(self.epochs, "epochs")
        batch_size = check_positive_int(self.batch_size, "batch_size")
        lr = _check_lr(self.lr)
        verbose = check_bool(self.verbose, "verbose")
        dtype = check_dtype(self.dtype, "dtype")
        rng = numpyae_rng(self.random_state)
        X = validate_data(self, X, dtype=dtype, reset=True)
        model = self._build_model([X.shape[1], *hidden, code_dim], rng, dtype)
        history = numpyae_fit(model, X, Adam(model.parameters(), lr=lr), epochs=epochs,
                              batch_size=batch_size, rng=rng, progress=verbose)
        self.model_, self.history_ = model, history
        self.loss_ = float(history["loss"][-1])
        return self

    def transform(self, X):
        """The codes of X: numpyae's model_.encode(X) (inference mode: no corruption, no
        sampling).  (n, n_features_in_) -> (n, code_dim), in the model's dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self.model_.dtype, reset=False)
        return self.model_.encode(X)

    def inverse_transform(self, X):
        """Reconstructions from codes: numpyae's model_.decode(X) (the decoder's mean).
        (n, code_dim) -> (n, n_features_in_), in the model's dtype."""
        check_is_fitted(self)
        X = check_array(X, dtype=self.model_.dtype)
        k = self.model_.code_dim
        if X.shape[1] != k:
            raise ValueError(f"X must hold codes of {k} columns (what transform returns, "
                             f"code_dim={k}), got {X.shape[1]} columns")
        return self.model_.decode(X)

    @property
    def _n_features_out(self):
        """The number of code columns (for get_feature_names_out)."""
        return self.model_.code_dim

    def __sklearn_tags__(self):
        """scikit-learn's tags: a transformer that keeps the dtype it computes in."""
        tags = super().__sklearn_tags__()
        try:
            kept = [np.dtype(check_dtype(self.dtype)).name]
        except (TypeError, ValueError):   # an invalid dtype: fit will say so
            kept = []
        tags.transformer_tags.preserves_dtype = kept
        return tags


# ---- the estimators ----------------------------------------------------------------------

class AutoencoderTransformer(_AutoencoderEstimator):
    """A symmetric MLP autoencoder (numpyae.mlp_autoencoder) as a scikit-learn transformer.

        h = encoder(x)        D -> hidden[0] -> ... -> code_dim        (n, code_dim)
        x_hat = decoder(h)    code_dim -> ... -> hidden[0] -> D        (n, D)
        L = loss(x_hat, x)    "mse" (mean squared error) or "bce" (X in [0, 1], logits)

    code_dim            the code size k (transform's columns)
    hidden              layer sizes between the input and the code, () for a shallow model
    activation          the hidden layers'; code_activation the code layer's
    output_activation   the decoder's last layer ("identity": any real data; "sigmoid" for
                        data in [0, 1]; must be "identity" with loss="bce", which takes logits)
    loss, tied          numpyae's: "mse" / "bce"; tied decoder weights (W transposed)
    epochs, batch_size, lr   numpyae.fit with Adam(lr)
    random_state        None, int, RandomState or Generator (numpyae's rng, module doc)
    verbose             a progress bar over the epochs
    dtype               np.float32 or np.float64, the model's arithmetic
    """

    def __init__(self, code_dim=2, *, hidden=(64,), activation="relu",
                 code_activation="identity", output_activation="identity", loss="mse",
                 tied=False, epochs=60, batch_size=32, lr=3e-3, random_state=None,
                 verbose=False, dtype=np.float32):
        self.code_dim = code_dim
        self.hidden = hidden
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.tied = tied
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_model(self, sizes, rng, dtype):
        return mlp_autoencoder(sizes,
                               activation=self.activation, code_activation=self.code_activation,
                               output_activation=self.output_activation, loss=self.loss,
                               tied=self.tied, rng=rng, dtype=dtype)


class DenoisingAutoencoderTransformer(_AutoencoderEstimator):
    """numpyae's DenoisingAutoencoder preset (Vincent et al. 2008) as a scikit-learn
    transformer: trained to reconstruct the clean x from a corrupted x_tilde = C(x); transform
    encodes the clean input (no corruption at inference).

    noise, level        "masking" (a fraction `level` of the inputs set to 0), "gaussian"
                        (standard deviation `level`) or "salt_and_pepper" (probability `level`)
    activation, code_activation   sigmoid by default, as in the paper
    loss                "mse" (sigmoid output; the default here, fit for any real data) or
                        "bce" (the preset's default: logits, X in [0, 1])
    tied                decoder reuses the encoder weights transposed
    The rest as in AutoencoderTransformer.
    """

    def __init__(self, code_dim=32, *, hidden=(), noise="masking", level=0.25,
                 activation="sigmoid", code_activation="sigmoid", loss="mse", tied=False,
                 epochs=60, batch_size=32, lr=3e-3, random_state=None, verbose=False,
                 dtype=np.float32):
        self.code_dim = code_dim
        self.hidden = hidden
        self.noise = noise
        self.level = level
        self.activation = activation
        self.code_activation = code_activation
        self.loss = loss
        self.tied = tied
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_model(self, sizes, rng, dtype):
        return DenoisingAutoencoder(sizes, noise=self.noise,
                                    level=self.level, activation=self.activation,
                                    code_activation=self.code_activation, loss=self.loss,
                                    tied=self.tied, rng=rng, dtype=dtype)


class SparseAutoencoderTransformer(_AutoencoderEstimator):
    """numpyae's SparseAutoencoder preset (Ng's CS294A notes, UFLDL) as a scikit-learn
    transformer: sigmoid code and output, squared error, weight decay and a KL penalty pulling
    each code unit's mean activation towards rho:

        loss = (1/n) sum_i ||x_hat_i - x_i||^2 + 2 beta sum_j KL(rho || rho_hat_j)
               + weight_decay sum W^2                (2 J_UFLDL)

    rho, beta, weight_decay   the preset's (defaults 0.01, 3, 1e-4: the UFLDL exercise)
    activation          the hidden layers' (the code layer is sigmoid: KL needs it in (0, 1))
    The rest as in AutoencoderTransformer. The code is often overcomplete (code_dim > D).
    """

    def __init__(self, code_dim=25, *, hidden=(), rho=0.01, beta=3.0, weight_decay=1e-4,
                 activation="sigmoid", tied=False, epochs=60, batch_size=32, lr=3e-3,
                 random_state=None, verbose=False, dtype=np.float32):
        self.code_dim = code_dim
        self.hidden = hidden
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.activation = activation
        self.tied = tied
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_model(self, sizes, rng, dtype):
        return SparseAutoencoder(sizes, rho=self.rho,
                                 beta=self.beta, weight_decay=self.weight_decay,
                                 activation=self.activation, tied=self.tied, rng=rng,
                                 dtype=dtype)


class ContractiveAutoencoderTransformer(_AutoencoderEstimator):
    """numpyae's contractive autoencoder (Rifai et al. 2011) as a scikit-learn transformer:

        loss = (1/n) sum_i [ L(x_hat_i, x_i) + lam ||J_h(x_i)||_F^2 ]  (+ weight_decay sum W^2)

    with L summed over the features, J_h the code layer's Jacobian, sigmoid units, tied weights.

    loss    "bce": exactly numpyae's ContractiveAutoencoder preset (cross-entropy on logits;
            X in [0, 1]). "mse" (the default here, fit for any real data): the same network
            and penalties (numpyae Autoencoder with the Contractive penalty) with a sigmoid
            output and squared error summed over the features, so lam has the same scale.
    lam     the penalty's weight (0 drops it); weight_decay an optional L2 penalty on W
    The rest as in AutoencoderTransformer.
    """

    def __init__(self, code_dim=32, *, hidden=(), lam=0.1, activation="sigmoid", tied=True,
                 weight_decay=0.0, loss="mse", epochs=60, batch_size=32, lr=3e-3,
                 random_state=None, verbose=False, dtype=np.float32):
        self.code_dim = code_dim
        self.hidden = hidden
        self.lam = lam
        self.activation = activation
        self.tied = tied
        self.weight_decay = weight_decay
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_model(self, sizes, rng, dtype):
        loss = check_choice(self.loss, "loss", ("mse", "bce"))
        if loss == "bce":
            return ContractiveAutoencoder(sizes, lam=self.lam, activation=self.activation,
                                          tied=self.tied, weight_decay=self.weight_decay,
                                          rng=rng, dtype=dtype)
        lam = check_nonnegative_float(self.lam, "lam")
        weight_decay = check_nonnegative_float(self.weight_decay, "weight_decay")
        penalties = ([Contractive(lam)] if lam else []) + \
            ([WeightDecay(weight_decay)] if weight_decay else [])
        return mlp_autoencoder(sizes, activation=self.activation,
                               code_activation=self.activation, output_activation="sigmoid",
                               loss=MSE(reduction="sum"), tied=self.tied, rng=rng, dtype=dtype,
                               penalties=penalties)


class VAETransformer(_AutoencoderEstimator):
    """numpyae's variational autoencoder (mlp_vae; Kingma & Welling 2013) as a scikit-learn
    transformer. transform gives the posterior mean mu(x) of q(z | x) = N(mu(x), sigma^2(x));
    inverse_transform the mean of p(x | z) at the given z.

        encoder  D -> hidden -> (mu, log sigma^2), each code_dim     (n, code_dim)
        decoder  code_dim -> hidden -> D                              (n, D)
        loss     -log p(x | z) + beta KL(q(z|x) || N(0, I)),  z = mu + sigma eps

    likelihood   "gaussian" (sigma = 1; the default here, fit for any real data),
                 "gaussian_learned", or "bernoulli" (X in [0, 1])
    beta, kl_warmup   the KL weight and its linear warm-up in steps
    The rest as in AutoencoderTransformer.
    """

    def __init__(self, code_dim=2, *, hidden=(64,), activation="relu", likelihood="gaussian",
                 beta=1.0, kl_warmup=0, epochs=60, batch_size=32, lr=3e-3, random_state=None,
                 verbose=False, dtype=np.float32):
        self.code_dim = code_dim
        self.hidden = hidden
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    def _build_model(self, sizes, rng, dtype):
        return mlp_vae(sizes, activation=self.activation,
                       likelihood=self.likelihood, beta=self.beta, kl_warmup=self.kl_warmup,
                       rng=rng, dtype=dtype)
