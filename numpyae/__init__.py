"""numpyae: autoencoders in pure NumPy with hand-derived, gradient-checked backward passes.

The package is layered (ARCHITECTURE.md): core, then nn and data, models, io and teaching,
training, analysis, and the command-line apps at the top. Everything a user needs is
re-exported here, grouped as below.
"""
# nn: parameters, layers, activations, losses, penalties, corruption, priors, optimizers
from .nn.parameter import Parameter
from .nn.activations import get_activation
from .nn.layers import Dense, Layer, Sequential, TiedDense, TopK
from .nn.conv import AvgPool2D, Conv2D, ConvTranspose2D, Flatten, MaxPool2D, Reshape, Upsample2D
from .nn.losses import MSE, BinaryCrossEntropy, GaussianNLL, SoftmaxCrossEntropy, get_loss
from .nn.likelihoods import Bernoulli, Gaussian
from .nn.penalties import Contractive, KLSparsity, L1Activity, WeightDecay
from .nn.corruption import GaussianNoise, MaskingNoise, SaltAndPepper
from .nn.priors import GaussianMixture, StandardGaussian
from .nn.optimizers import SGD, Adam, AdamW

# models
from .models import (AAE, CVAE, VAE, AAEPhase, Autoencoder, Classifier, ContractiveAutoencoder,
                     DenoisingAutoencoder, KLTerm, KSparseAutoencoder, L1SparseAutoencoder, Model,
                     NonFiniteError, PhaseOptimizers, SparseAutoencoder, linear_autoencoder,
                     mlp_aae, mlp_autoencoder, mlp_classifier, mlp_cvae, mlp_vae,
                     stack_autoencoders)
from .models.conv import ConvDenoisingAutoencoder, conv_autoencoder, conv_vae

# persistence
from .io import ModelFileError, load, save

# training
from .training.fit import Callback, EarlyStopping, History, fit
from .training.pretraining import greedy_pretrain, pretrain_and_finetune
from .training.lbfgs import LBFGSResult, MinimizeHistory, lbfgs, minimize

# teaching
from .teaching.gradcheck import (check_directional, check_gradient, check_layer, check_model,
                                 numerical_gradient, relative_error)
from .teaching.trace import Trace, trace_backprop
from .teaching import exercises

# data
from .data.datasets import (load_dataset, load_digits, load_fashion_mnist, load_mnist,
                            load_patches, train_validation_split)
from .data.preprocessing import ZCAWhitening

# analysis
from .analysis.pca import PCA, pca_subspace_angles, principal_angles
from .analysis.metrics import mmd2, prior_distance

__version__ = "0.1.0"

__all__ = [
    # nn
    "Parameter", "get_activation", "Dense", "Layer", "Sequential", "TiedDense", "TopK",
    "Conv2D", "ConvTranspose2D", "MaxPool2D", "AvgPool2D", "Upsample2D", "Flatten", "Reshape",
    "MSE", "BinaryCrossEntropy", "GaussianNLL", "SoftmaxCrossEntropy", "get_loss",
    "Bernoulli", "Gaussian",
    "Contractive", "KLSparsity", "L1Activity", "WeightDecay",
    "GaussianNoise", "MaskingNoise", "SaltAndPepper", "GaussianMixture", "StandardGaussian",
    "SGD", "Adam", "AdamW",
    # models
    "Model", "NonFiniteError", "Autoencoder", "mlp_autoencoder", "DenoisingAutoencoder",
    "SparseAutoencoder", "L1SparseAutoencoder", "KSparseAutoencoder", "ContractiveAutoencoder", "linear_autoencoder", "stack_autoencoders",
    "VAE", "CVAE", "KLTerm", "mlp_vae", "mlp_cvae", "AAE", "AAEPhase", "PhaseOptimizers",
    "mlp_aae", "Classifier", "mlp_classifier", "conv_autoencoder", "ConvDenoisingAutoencoder",
    "conv_vae",
    # persistence
    "ModelFileError", "load", "save",
    # training
    "Callback", "EarlyStopping", "History", "fit", "greedy_pretrain", "pretrain_and_finetune",
    "lbfgs", "minimize", "LBFGSResult", "MinimizeHistory",
    # teaching
    "check_directional", "check_gradient", "check_layer", "check_model", "numerical_gradient",
    "relative_error", "Trace", "trace_backprop", "exercises",
    # data
    "load_dataset", "load_digits", "load_fashion_mnist", "load_mnist", "load_patches",
    "train_validation_split", "ZCAWhitening",
    # analysis
    "PCA", "pca_subspace_angles", "principal_angles", "mmd2", "prior_distance",
]
