"""Models: the autoencoder family, each a composition of nn layers, losses and penalties."""
from .base import EncoderDecoder, Model, NonFiniteError
from .autoencoder import (Autoencoder, linear_autoencoder, mlp_autoencoder, mlp_layers,
                          stack_autoencoders)
from .presets import (ContractiveAutoencoder, DenoisingAutoencoder, KSparseAutoencoder,
                      L1SparseAutoencoder, SparseAutoencoder)
from .vae import CVAE, VAE, KLTerm, mlp_cvae, mlp_vae
from .aae import AAE, AAEPhase, PhaseOptimizers, mlp_aae
from .classifier import Classifier, mlp_classifier
from .conv import ConvDenoisingAutoencoder, conv_autoencoder, conv_layers, conv_stacks, conv_vae

__all__ = ["EncoderDecoder", "Model", "NonFiniteError",
           "Autoencoder", "linear_autoencoder", "mlp_autoencoder", "mlp_layers",
           "stack_autoencoders",
           "ContractiveAutoencoder", "DenoisingAutoencoder", "KSparseAutoencoder",
           "L1SparseAutoencoder", "SparseAutoencoder",
           "CVAE", "VAE", "KLTerm", "mlp_cvae", "mlp_vae",
           "AAE", "AAEPhase", "PhaseOptimizers", "mlp_aae",
           "Classifier", "mlp_classifier",
           "ConvDenoisingAutoencoder", "conv_autoencoder", "conv_layers", "conv_stacks", "conv_vae"]
