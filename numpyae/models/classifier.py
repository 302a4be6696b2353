"""Classifier: an encoder followed by a linear softmax head, trained with softmax cross-entropy.

    h = encoder(x)            features / code    (B, k)
    z = h W + b               logits             (B, K)     (head: Dense(k, K), identity)
    p = softmax(z)            class probabilities
    L = -1/B sum_b log p_b[y_b]

Backward is the chain rule through the parts in reverse:
    dz = (p - onehot(y)) / B          (B, K)     SoftmaxCrossEntropy.backward
    dh = head.backward(dz)            (B, k)     dW = h^T dz,  db = sum_b dz,  dh = dz W^T
    encoder.backward(dh)

The point of the model is *unsupervised pretraining, then supervision*: build it from a trained
autoencoder with ``Classifier.from_autoencoder(ae, n_classes)`` (the encoder's weights are copied,
the head is new) and fine-tune on a few labels; ``mlp_classifier`` builds the same architecture
from random initialization for the comparison. An empty encoder (``Sequential([])``) gives
multinomial logistic regression on the inputs, which the latent-size study uses as its
downstream classifier.

With ``freeze_encoder=True`` backward stops at the head: only the head's gradients are filled
(a "linear probe" of the encoder's features).
"""
from __future__ import annotations

import copy

import numpy as np

from ..core.registry import register
from ..nn.layers import Dense, Layer, Sequential, input_dim, output_dim
from ..nn.losses import SoftmaxCrossEntropy
from ..core.checks import check_bool, check_dtype, check_positive_int, check_sizes
from ..core.random import as_generator
from .base import Model, check_activation


def _check_n_classes(n_classes):
    """The number of classes: an int >= 2."""
    n_classes = check_positive_int(n_classes, "n_classes")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return n_classes


@register
class Classifier(Model):
    """encoder (any Layer) + head (a Dense layer to n_classes logits) + softmax cross-entropy.

    terms: "loss" (= "cross_entropy", the training objective) and "accuracy" (a metric: the
    fraction of the batch whose arg-max logit is the label; it has no gradient and fit() and
    evaluate() just average it like the other terms).
    """
    terms = ("loss", "cross_entropy", "accuracy")
    needs_labels = True

    def __init__(self, encoder, head, *, freeze_encoder=False):
        if not isinstance(encoder, Layer):
            raise TypeError(f"encoder must be a Layer (e.g. Sequential), got {type(encoder).__name__}")
        if not isinstance(head, Dense):
            raise TypeError(f"head must be a Dense layer to the class logits, got {type(head).__name__}")
        code_dim = output_dim(encoder)
        if code_dim is not None and code_dim != head.n_in:
            raise ValueError(f"head must take the encoder's {code_dim} features as input, "
                             f"got Dense({head.n_in}, {head.n_out})")
        if head.n_out < 2:
            raise ValueError(f"head must output at least 2 class logits, got {head.n_out}")
        self.encoder, self.head = encoder, head
        self.loss = SoftmaxCrossEntropy()
        self.freeze_encoder = check_bool(freeze_encoder, "freeze_encoder")
        self.input_dim = input_dim(encoder) or head.n_in
        self.code_dim = head.n_in
        self.n_classes = head.n_out

    def named_children(self):
        return [("encoder", self.encoder), ("head", self.head)]

    @classmethod
    def from_autoencoder(cls, autoencoder, n_classes, *, rng=None, copy_weights=True,
                         freeze_encoder=False):
        """A classifier whose encoder is (a deep copy of) autoencoder.encoder and whose head is a
        fresh Glorot-initialized Dense(code_dim, n_classes)."""
        encoder = getattr(autoencoder, "encoder", None)
        if not isinstance(encoder, Layer):
            raise TypeError(f"autoencoder must have an .encoder Layer (an Autoencoder), "
                            f"got {type(autoencoder).__name__}")
        return cls.from_encoder(encoder, n_classes, rng=rng, copy_weights=copy_weights,
                                freeze_encoder=freeze_encoder)

    @classmethod
    def from_encoder(cls, encoder, n_classes, *, rng=None, copy_weights=True, freeze_encoder=False):
        """A classifier on (a deep copy of) encoder with a fresh Glorot-initialized head
        Dense(code_dim, n_classes) of the encoder's dtype."""
        if not isinstance(encoder, Layer):
            raise TypeError(f"encoder must be a Layer, got {type(encoder).__name__}")
        n_classes = _check_n_classes(n_classes)
        copy_weights = check_bool(copy_weights, "copy_weights")
        check_bool(freeze_encoder, "freeze_encoder")
        code_dim = output_dim(encoder)
        if code_dim is None:
            raise ValueError("encoder declares no output size; build the head yourself: "
                             "Classifier(encoder, Dense(code_dim, n_classes))")
        if copy_weights:
            encoder = copy.deepcopy(encoder)
        params = encoder.parameters()
        dtype = params[0].value.dtype.type if params else np.float32
        head = Dense(code_dim, n_classes, "identity", rng=as_generator(rng), dtype=dtype)
        return cls(encoder, head, freeze_encoder=freeze_encoder)

    def logits(self, X):
        """Class scores z, inference mode.  (B, D) -> (B, K)"""
        X = self.check_input(X)
        return self.finite_result(self.head.forward(self.encoder.forward(X, training=False),
                                                    training=False), X)

    def predict_proba(self, X):
        """softmax(z)  (B, K), rows sum to 1."""
        return self.loss.predict(self.logits(X))

    def predict(self, X):
        """Arg-max class  (B,) int."""
        return np.argmax(self.logits(X), axis=1)

    def score(self, X, y):
        """Accuracy: the fraction of rows of X whose predicted class is y."""
        X = self.check_input(X)
        y = self.check_labels(y, len(X))
        return float(np.mean(self.predict(X) == y))

    def encode(self, X):
        """The encoder's features h, inference mode.  (B, D) -> (B, k)"""
        X = self.check_input(X)
        return self.finite_result(self.encoder.forward(X, training=False), X)

    def forward_loss(self, x, y=None, *, training=True):
        """{"loss", "cross_entropy": L = -1/B sum_b log softmax(z_b)[y_b], "accuracy"} on the
        batch x (B, D) with labels y (B,); caches what backward needs."""
        if y is None:
            raise ValueError("y is required: Classifier trains on labels")
        h = self.encoder.forward(x, training=training)
        z = self.head.forward(h, training=training)
        ce = self.loss.forward(z, y)
        acc = float(np.mean(np.argmax(z, axis=1) == y))
        return {"loss": ce, "cross_entropy": ce, "accuracy": acc}

    def backward(self):
        """dz = (softmax(z) - onehot(y)) / B;  dh = head.backward(dz);  encoder.backward(dh)."""
        dh = self.head.backward(self.loss.backward(), input_grad=not self.freeze_encoder)
        if not self.freeze_encoder:
            self.encoder.backward(dh, input_grad=False)

    def get_config(self, ctx):
        """The constructor arguments, for saving: encoder, head, freeze_encoder."""
        return {"encoder": ctx.serialize(self.encoder), "head": ctx.serialize(self.head),
                "freeze_encoder": self.freeze_encoder}

    def __repr__(self):
        return f"Classifier(\n encoder={self.encoder!r},\n head={self.head!r})"


def mlp_classifier(sizes, n_classes, *, activation="relu", code_activation="identity", init=None,
                   rng=None, dtype=np.float32):
    """A randomly initialized Classifier with the encoder mlp_autoencoder(sizes) would build.

    sizes=[64, 32, 16], n_classes=10:  64 -> 32 -> 16 -> 10 logits. Hidden layers use
    `activation`, the last encoder layer `code_activation`, like mlp_autoencoder's encoder, so a
    classifier from Classifier.from_autoencoder and one from here differ only in their weights.
    sizes=[64] gives multinomial logistic regression (no hidden layer).
    """
    sizes = check_sizes(sizes, min_length=1, what="at least the input size")
    check_activation(activation, "activation")
    check_activation(code_activation, "code_activation")
    n_classes = _check_n_classes(n_classes)
    rng = as_generator(rng)
    dtype = check_dtype(dtype)
    n = len(sizes) - 1
    layers = [Dense(sizes[i], sizes[i + 1], activation if i < n - 1 else code_activation,
                    init=init, rng=rng, dtype=dtype) for i in range(n)]
    head = Dense(sizes[-1], check_positive_int(n_classes, "n_classes"), "identity", rng=rng,
                 dtype=dtype)
    return Classifier(Sequential(layers), head)
