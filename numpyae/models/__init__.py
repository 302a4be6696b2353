from .base import Model, NonFiniteError
from .autoencoder import Autoencoder, mlp_autoencoder

__all__ = ["Model", "NonFiniteError", "Autoencoder", "mlp_autoencoder"]
from .classifier import Classifier, mlp_classifier

__all__ += ["Classifier", "mlp_classifier"]
