from .base import Model, NonFiniteError
from .autoencoder import Autoencoder, mlp_autoencoder
from .autoencoder import ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder

__all__ = ["Model", "NonFiniteError", "Autoencoder", "mlp_autoencoder",
           "ContractiveAutoencoder", "DenoisingAutoencoder", "SparseAutoencoder"]
