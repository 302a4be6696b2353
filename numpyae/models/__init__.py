from .base import Model, NonFiniteError
from .autoencoder import Autoencoder, mlp_autoencoder
from .autoencoder import ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder

__all__ = ["Model", "NonFiniteError", "Autoencoder", "mlp_autoencoder",
           "ContractiveAutoencoder", "DenoisingAutoencoder", "SparseAutoencoder"]
from .vae import (CVAE, VAE, Bernoulli, Gaussian, KLTerm, mlp_cvae, mlp_vae)

__all__ += ["CVAE", "VAE", "Bernoulli", "Gaussian", "KLTerm", "mlp_cvae", "mlp_vae"]
from .aae import AAE, AAEPhase, PhaseOptimizers, mlp_aae

__all__ += ["AAE", "AAEPhase", "PhaseOptimizers", "mlp_aae"]
from .classifier import Classifier, mlp_classifier

__all__ += ["Classifier", "mlp_classifier"]
