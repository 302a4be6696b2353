"""Convolutional autoencoders: the plain one, a denoising preset on it, and the VAE with a
convolutional encoder and decoder. All take flat rows (B, D), D = H * W * C, like every other
numpyae model (numpyae.nn.conv: NHWC images, Reshape first and Flatten last).

With channels=(16, 32), stride 2 and a 28x28 input (the defaults):

    encoder  Reshape (28, 28, 1) -> Conv2D 1->16, s2 -> 14x14x16 -> Conv2D 16->32, s2 -> 7x7x32
             -> Flatten (1568) -> Dense 1568 -> code_dim                    (the code layer)
    decoder  Dense code_dim -> 1568 -> Reshape (7, 7, 32) -> ConvTranspose2D 32->16, s2 -> 14x14x16
             -> ConvTranspose2D 16->1, s2 -> 28x28x1 -> Flatten (784)

The decoder mirrors the encoder exactly: each ConvTranspose2D is shaped as the adjoint of the
Conv2D it mirrors, with output_padding chosen to give back that Conv2D's input size (7 -> 14 with
k = 3, s = 2, p = 1 needs output_padding 1). downsample="maxpool" builds the other classic
layout instead: stride-1 "same" convolutions each followed by MaxPool2D(stride), and in the
decoder Upsample2D(stride) each followed by a stride-1 convolution.

The padding defaults to (kernel_size - 1) // 2. Sizes that do not fit (a stride that would leave
input rows unread, a kernel larger than a padded feature map) are refused when the model is
built, naming the layer and the sizes. The code layer (the encoder's last layer) is a Dense
layer, so the code penalties of numpyae.nn.penalties apply unchanged.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..core.checks import check_choice, check_dtype, check_positive_int, check_sizes
from ..core.random import as_generator, child_seed, int_seed
from ..core.registry import register
from ..nn.conv import (Conv2D, ConvTranspose2D, Flatten, MaxPool2D, Reshape, Upsample2D,
                       as_pair)
from ..nn.corruption import get_corruption
from ..nn.layers import Dense, Sequential
from ..nn.losses import get_loss
from .autoencoder import Autoencoder
from .base import check_activation
from .vae import VAE

DOWNSAMPLING = ("stride", "maxpool")


def _saved(pair):
    """An int or (h, w) pair argument as JSON: the int, or a [h, w] list."""
    return int(pair) if isinstance(pair, numbers.Integral) else [int(v) for v in pair]


def conv_stacks(image_size, channels, *, in_channels=1, kernel_size=3, stride=2, padding=None,
                downsample="stride", activation="relu", output_activation="identity", init=None,
                rng=None, dtype=np.float32):
    """The convolutional halves of an encoder and a decoder, without their Dense layers:

        encoder_body  Reshape((H, W, C)), the convolutions (and pools), Flatten   (B, D) -> (B, F)
        decoder_body  Reshape(feature map), the mirror image, Flatten             (B, F) -> (B, D)
    Returns (encoder_body, decoder_body, F) as lists of layers; F = the number of features of
    the last feature map. image_size is (height, width); channels the output channels of each
    level (each level divides the height and width by about `stride`).
    """
    H, W = as_pair(image_size, "image_size")
    in_channels = check_positive_int(in_channels, "in_channels")
    channels = check_sizes(channels, "channels", min_length=1, what="at least one level's channels")
    kernel = as_pair(kernel_size, "kernel_size")
    step = as_pair(stride, "stride")
    if downsample not in DOWNSAMPLING:
        raise ValueError(f"downsample must be one of {DOWNSAMPLING}, got {downsample!r}")
    same = tuple((k - 1) // 2 for k in kernel)
    if downsample == "maxpool":
        if padding is not None or any(k % 2 == 0 for k in kernel):
            raise ValueError(f"downsample='maxpool' uses stride-1 'same' convolutions: it needs an "
                             f"odd kernel_size and padding=None, got kernel_size {kernel_size!r}, "
                             f"padding {padding!r}")
        pad = same
    else:
        pad = same if padding is None else as_pair(padding, "padding", minimum=0)
    check_activation(activation, "activation"), check_activation(output_activation, "output_activation")
    rng, dtype = as_generator(rng), check_dtype(dtype)
    opts = dict(init=init, rng=rng, dtype=dtype)
    shape = (H, W, in_channels)
    enc, mirrors = [Reshape(shape)], []
    for c in channels:
        if downsample == "stride":
            level = [Conv2D(shape[2], c, kernel, step, pad, activation, **opts)]
        else:
            level = [Conv2D(shape[2], c, kernel, 1, pad, activation, **opts), MaxPool2D(step)]
        out = shape
        try:
            for layer in level:
                out = layer.output_shape(out)
        except ValueError as exc:
            raise ValueError(f"image_size {(H, W)} does not fit the layers: {exc}") from None
        enc += level
        mirrors.append((shape, out))
        shape = out
    enc.append(Flatten(shape))
    dec = [Reshape(shape)]
    for level, (before, after) in enumerate(reversed(mirrors)):
        act = output_activation if level == len(mirrors) - 1 else activation
        if downsample == "stride":
            op = tuple(before[a] - ((after[a] - 1) * step[a] - 2 * pad[a] + kernel[a])
                       for a in range(2))
            dec.append(ConvTranspose2D(after[2], before[2], kernel, step, pad, op, act, **opts))
        else:
            dec += [Upsample2D(step), Conv2D(after[2], before[2], kernel, 1, pad, act, **opts)]
    dec.append(Flatten((H, W, in_channels)))
    return enc, dec, shape[0] * shape[1] * shape[2]


def conv_layers(image_size, channels, code_dim, *, in_channels=1, kernel_size=3, stride=2,
                padding=None, downsample="stride", activation="relu", code_activation="identity",
                output_activation="identity", init=None, rng=None, dtype=np.float32):
    """(encoder, decoder) Sequentials of a convolutional autoencoder (module doc): conv_stacks
    with a Dense code layer F -> code_dim (code_activation) ending the encoder and a Dense layer
    code_dim -> F (activation) starting the decoder."""
    code_dim = check_positive_int(code_dim, "code_dim")
    check_activation(code_activation, "code_activation")
    rng = as_generator(rng)
    enc, dec, F = conv_stacks(image_size, channels, in_channels=in_channels,
                              kernel_size=kernel_size, stride=stride, padding=padding,
                              downsample=downsample, activation=activation,
                              output_activation=output_activation, init=init, rng=rng,
                              dtype=dtype)
    code = Dense(F, code_dim, code_activation, init=init, rng=rng, dtype=dtype)
    expand = Dense(code_dim, F, activation, init=init, rng=rng, dtype=dtype)
    return Sequential(enc + [code]), Sequential([expand] + dec)


def conv_autoencoder(image_size=(28, 28), channels=(16, 32), code_dim=32, *, in_channels=1,
                     kernel_size=3, stride=2, padding=None, downsample="stride",
                     activation="relu", code_activation="identity", loss="bce",
                     output_activation=None, init=None, rng=None, dtype=np.float32,
                     corruption=None, penalties=()):
    """A convolutional autoencoder on flat rows of H*W*C values (module doc for the layout).

    image_size         (height, width) of the images; in_channels their channels (NHWC rows)
    channels           output channels of each encoder level, e.g. (16, 32)
    code_dim           size of the code (a Dense layer ends the encoder)
    kernel_size, stride, padding   of every convolution; padding None: (kernel_size - 1) // 2
    downsample         "stride" (strided Conv2D, ConvTranspose2D back) or "maxpool"
                       (Conv2D + MaxPool2D, Upsample2D + Conv2D back)
    activation         hidden layers; code_activation the code layer
    loss               "bce" (the decoder emits logits) or "mse"
    output_activation  last decoder layer; None: identity for "bce", sigmoid for "mse"
    corruption, penalties, rng, dtype   as for mlp_autoencoder
    Works for the 8x8 digits (image_size=(8, 8): 8 -> 4 -> 2) as for 28x28 MNIST.
    """
    loss = get_loss(loss)
    if output_activation is None:
        output_activation = "identity" if loss.name == "bce" else "sigmoid"
    encoder, decoder = conv_layers(image_size, channels, code_dim, in_channels=in_channels,
                                   kernel_size=kernel_size, stride=stride, padding=padding,
                                   downsample=downsample, activation=activation,
                                   code_activation=code_activation,
                                   output_activation=output_activation, init=init, rng=rng,
                                   dtype=dtype)
    return Autoencoder(encoder, decoder, loss, corruption=corruption, penalties=penalties)


@register
class ConvDenoisingAutoencoder(Autoencoder):
    """The denoising autoencoder (Vincent et al. 2008, 2010) on the convolutional autoencoder:
    the encoder sees a corrupted x_tilde, the loss compares the reconstruction with the clean x.

    Defaults follow DenoisingAutoencoder: zero-masking noise destroying a fraction 0.25 of the
    pixels, cross-entropy reconstruction (BCE on logits). The network is conv_autoencoder's
    (relu hidden layers, identity code layer). Saved by these arguments; the corruption draws
    from a Generator seeded with child_seed(rng) (rng + 1 for an int rng).

    noise, level   "masking" (p), "gaussian" (std) or "salt_and_pepper" (p)
    the others     as for conv_autoencoder
    """

    def __init__(self, image_size=(28, 28), channels=(16, 32), code_dim=32, *, in_channels=1,
                 noise="masking", level=0.25, kernel_size=3, stride=2, padding=None,
                 downsample="stride", activation="relu", code_activation="identity",
                 loss="bce", rng=None, dtype=np.float32):
        check_choice(loss, "loss", ("bce", "mse"))
        gen = as_generator(rng)
        encoder, decoder = conv_layers(image_size, channels, code_dim, in_channels=in_channels,
                                       kernel_size=kernel_size, stride=stride, padding=padding,
                                       downsample=downsample, activation=activation,
                                       code_activation=code_activation,
                                       output_activation="identity" if loss == "bce" else "sigmoid",
                                       rng=gen, dtype=dtype)
        corruption = get_corruption(noise, level, rng=child_seed(rng, gen))
        super().__init__(encoder, decoder, loss, corruption=corruption)
        self._config = {
            "image_size": list(as_pair(image_size, "image_size")),
            "channels": check_sizes(channels, "channels", min_length=1), "code_dim": self.code_dim,
            "in_channels": int(in_channels), "noise": noise, "level": float(level),
            "kernel_size": _saved(kernel_size), "stride": _saved(stride),
            "padding": None if padding is None else _saved(padding),
            "downsample": downsample, "activation": activation,
            "code_activation": code_activation, "loss": loss, "rng": int_seed(rng)}

    def get_config(self, ctx):
        """The constructor arguments (the weights are saved separately)."""
        return dict(self._config)


def conv_vae(image_size=(28, 28), channels=(16, 32), code_dim=16, *, in_channels=1,
             kernel_size=3, stride=2, padding=None, downsample="stride", activation="relu",
             likelihood="bernoulli", beta=1.0, kl_warmup=0, init=None, rng=None,
             dtype=np.float32):
    """A VAE (numpyae.models.vae.VAE) with a convolutional encoder body and decoder:

        encoder      Reshape, the convolutions of conv_autoencoder, Flatten   (B, D) -> (B, F)
        heads        Dense F -> code_dim for the mean and for the log-variance
        decoder      Dense code_dim -> F (activation), Reshape, the mirror convolutions,
                     Flatten; the last layer is linear (logits for "bernoulli", means for
                     "gaussian")
    Arguments as for conv_autoencoder and mlp_vae. rng seeds the weights and, through
    child_seed, the model's noise Generator.
    """
    code_dim = check_positive_int(code_dim, "code_dim")
    gen = as_generator(rng)
    dtype = check_dtype(dtype)
    enc, dec, F = conv_stacks(image_size, channels, in_channels=in_channels,
                              kernel_size=kernel_size, stride=stride, padding=padding,
                              downsample=downsample, activation=activation,
                              output_activation="identity", init=init, rng=gen, dtype=dtype)
    mean_head = Dense(F, code_dim, "identity", init=init, rng=gen, dtype=dtype)
    logvar_head = Dense(F, code_dim, "identity", init=init, rng=gen, dtype=dtype)
    expand = Dense(code_dim, F, activation, init=init, rng=gen, dtype=dtype)
    return VAE(Sequential(enc), mean_head, logvar_head, Sequential([expand] + dec), likelihood,
               beta=beta, kl_warmup=kl_warmup, rng=child_seed(rng, gen))
