"""numpyae: autoencoders in pure NumPy with hand-derived, gradient-checked backward passes."""
from .activations import get_activation
from .datasets import load_digits, train_validation_split
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

__version__ = "0.1.0"

__all__ = [
    "Adam", "AdamW", "Autoencoder", "BinaryCrossEntropy", "Callback", "Dense", "EarlyStopping",
    "History", "Layer", "MSE", "Model", "ModelFileError", "NonFiniteError", "Parameter", "SGD",
    "Sequential", "TiedDense", "SoftmaxCrossEntropy", "check_directional", "check_gradient", "check_layer", "check_model",
    "fit", "get_activation", "get_loss", "load", "load_digits", "mlp_autoencoder",
    "numerical_gradient", "relative_error", "train_validation_split",
    "Trace", "trace_backprop",
]
