from .base import Model, NonFiniteError
from .autoencoder import Autoencoder, mlp_autoencoder

__all__ = ["Model", "NonFiniteError", "Autoencoder", "mlp_autoencoder"]
