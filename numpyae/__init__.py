"""numpyae: autoencoders in pure NumPy with hand-derived, gradient-checked backward passes."""
from .activations import get_activation
from .datasets import (load_dataset, load_digits, load_fashion_mnist, load_mnist,
                       train_validation_split)
from .gradcheck import (check_directional, check_gradient, check_layer, check_model, numerical_gradient,
                        relative_error)
from .io import ModelFileError, load
from .layers import Dense, Layer, Sequential, TiedDense
from .losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy, get_loss
from .models import Autoencoder, Model, NonFiniteError, mlp_autoencoder
from .optimizers import SGD, Adam, AdamW
from .parameter import Parameter
from .training import Callback, EarlyStopping, History, fit
from .trace import Trace, trace_backprop
from .losses import GaussianNLL
from .models import (AAE, CVAE, VAE, AAEPhase, KLTerm, PhaseOptimizers, mlp_aae, mlp_cvae,
                     mlp_vae)
from .priors import GaussianMixture, StandardGaussian, mmd2, prior_distance
from .models import Classifier, mlp_classifier
from .pca import PCA, linear_autoencoder, pca_subspace_angles, principal_angles
from .pretraining import greedy_pretrain, pretrain_and_finetune, stack_autoencoders

# regularized autoencoders (issue 3)
from .corruption import GaussianNoise, MaskingNoise, SaltAndPepper
from .datasets import load_patches
from .layers import TopK
from .models import ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder
from .penalties import Contractive, KLSparsity, L1Activity, WeightDecay
from .preprocessing import ZCAWhitening

__version__ = "0.1.0"

__all__ = [
    "Adam", "AdamW", "Autoencoder", "BinaryCrossEntropy", "Callback", "Dense", "EarlyStopping",
    "History", "Layer", "MSE", "Model", "ModelFileError", "NonFiniteError", "Parameter", "SGD",
    "Sequential", "TiedDense", "SoftmaxCrossEntropy", "check_directional", "check_gradient", "check_layer", "check_model",
    "fit", "get_activation", "get_loss", "load", "load_digits", "mlp_autoencoder",
    "numerical_gradient", "relative_error", "train_validation_split",
    "Trace", "trace_backprop",
    "load_dataset", "load_mnist", "load_fashion_mnist",
    # issue 3
    "Contractive", "ContractiveAutoencoder", "DenoisingAutoencoder", "GaussianNoise", "KLSparsity",
    "L1Activity", "MaskingNoise", "SaltAndPepper", "SparseAutoencoder", "TopK", "WeightDecay",
    "ZCAWhitening", "load_patches",
]
__all__ += [
    "AAE", "AAEPhase", "CVAE", "GaussianMixture", "GaussianNLL", "KLTerm", "PhaseOptimizers",
    "StandardGaussian", "VAE", "mlp_aae", "mlp_cvae", "mlp_vae", "mmd2", "prior_distance",
]
__all__ += ["Classifier", "PCA", "greedy_pretrain", "linear_autoencoder", "mlp_classifier",
            "pca_subspace_angles", "pretrain_and_finetune", "principal_angles",
            "stack_autoencoders"]
