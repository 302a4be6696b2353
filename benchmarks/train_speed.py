"""Side-by-side training speed: numpyae vs PyTorch (eager, CPU) vs scikit-learn.

    python benchmarks/train_speed.py                       # the full benchmark (several minutes)
    python benchmarks/train_speed.py --quick               # a smoke run in well under a minute
    python benchmarks/train_speed.py --batch-sizes 256 --epochs 5 --skip sklearn

Needs the `bench` extra (torch==2.13.0 CPU, scikit-learn, threadpoolctl).

What it measures, all in one process and interleaved (each repetition runs every contender once,
in a rotating order, so that load from elsewhere on the machine falls on all of them alike;
every number printed is a median over repetitions):

1. One epoch of the same autoencoder in each library: 784-256-64-256-784, relu hidden layers,
   sigmoid output (identity for scikit-learn's MLPRegressor, which has no sigmoid output), MSE,
   Adam with learning rate 1e-3, float32, 60,000 examples of MNIST shape (real MNIST when
   numpyae.data.datasets.load_mnist finds it on disk, else uniform random data of that shape), batch
   sizes 64, 256 and 1024. PyTorch runs with as many threads as NumPy's BLAS has.
2. The machine's float32 matmul rate (a 2048 x 2048 square matmul, timed in the same rotation)
   and the share of it numpyae's epoch attains: 6 x examples x sum(n_in * n_out) floating-point
   operations (forward, dW and dx of every layer; numpyae skips the first layer's dx, which the
   count still includes, as PyTorch does) divided by the epoch time.
3. One training step (batch 256) of the contractive autoencoder and of the VAE (784-400-20), each
   against the plain step of the same network and against a PyTorch implementation of the same
   model (the contractive penalty written in its closed form and differentiated by autograd).
4. Peak memory of a numpyae training run (one epoch of fit() at batch 256, measured with
   tracemalloc, which sees NumPy's array allocations) beyond the dataset, against the budget
   parameters + gradients + Adam's two moments + one batch's activations and their gradients.
5. The convolutional autoencoder conv_autoencoder((28, 28), (16, 32), 32) (numpyae.models.conv,
   NHWC): one epoch at batch 64 and 256 (--conv-batch-sizes) against PyTorch eager with the same
   layers (NCHW: Conv2d 1->16 k3 s2 p1 relu, 16->32 k3 s2 p1 relu, Linear 1568->32, Linear
   32->1568 relu, ConvTranspose2d 32->16 k3 s2 p1 op1 relu, 16->1 k3 s2 p1 op1), binary
   cross-entropy on logits (numpyae's default for this model), Adam 1e-3, same thread count,
   interleaved; the share of a numpyae training step spent in its matrix products and in its
   im2col/col2im calls (each timed alone with the step's shapes and layouts, taking turns with
   the whole step so that all see the same load; best of 9 rounds); and the
   peak memory of one fit() epoch beyond the dataset against parameters + gradients + Adam's
   moments + one batch's activations (and their gradients) + the im2col columns.
   Only this part:  --skip epochs,sklearn,steps,memory  (--skip conv leaves it out)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's numpyae

import numpyae  # noqa: E402
from numpyae import Adam, fit, mlp_autoencoder  # noqa: E402

SIZES = (784, 256, 64, 256, 784)
LR = 1e-3
CONTRACTIVE_CODE = 256
CONTRACTIVE_LAM = 0.1
VAE_SIZES = (784, 400, 20)


# ---- data -------------------------------------------------------------------------------

def load_data(n, seed):
    """(n, 784) float32 in [0, 1]: MNIST's training images if numpyae can load them from disk."""
    loader = getattr(numpyae.data.datasets, "load_mnist", None)
    if loader is not None:
        try:
            X = loader("train", download=False)[0]
            X = np.ascontiguousarray(X.reshape(len(X), -1)[:n], dtype=np.float32)
            if X.shape[1] == SIZES[0] and len(X) == n:
                return X, "MNIST training images"
        except Exception:  # not on disk (no download here): fall back to random data
            pass
    rng = np.random.default_rng(seed)
    return rng.random((n, SIZES[0]), dtype=np.float32), "uniform random data of MNIST shape"


# ---- numpyae ----------------------------------------------------------------------------

class NumpyaeAE:
    name = "numpyae"

    def __init__(self, seed):
        self.model = mlp_autoencoder(list(SIZES[:3]), activation="relu", code_activation="relu",
                                     loss="mse", output_activation="sigmoid", rng=seed)
        self.opt = Adam(self.model.parameters(), lr=LR)
        self.seed = seed

    def epoch(self, X, batch_size):
        self.seed += 1
        h = fit(self.model, X, self.opt, epochs=1, batch_size=batch_size, rng=self.seed,
                progress=False)
        return h["loss"][-1]


# ---- PyTorch ----------------------------------------------------------------------------

def torch_autoencoder(torch):
    nn = torch.nn
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers += [nn.Linear(a, b), nn.ReLU() if i < len(SIZES) - 2 else nn.Sigmoid()]
    return nn.Sequential(*layers)


class TorchAE:
    name = "pytorch"

    def __init__(self, seed):
        import torch
        self.torch = torch
        torch.manual_seed(seed)
        self.net = torch_autoencoder(torch)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LR)

    def epoch(self, X, batch_size):
        torch, F = self.torch, self.torch.nn.functional
        X = torch.from_numpy(X)   # shares the NumPy array's memory
        n = len(X)
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            xb = X[order[start:start + batch_size]]
            self.opt.zero_grad()
            loss = F.mse_loss(self.net(xb), xb)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(xb)   # what fit() records: the epoch's mean loss
        return total / n


# ---- scikit-learn -----------------------------------------------------------------------

class SklearnAE:
    name = "sklearn"

    def __init__(self, seed, batch_size):
        from sklearn.neural_network import MLPRegressor
        self.model = MLPRegressor(hidden_layer_sizes=SIZES[1:-1], activation="relu",
                                  solver="adam", alpha=0.0, batch_size=batch_size,
                                  learning_rate_init=LR, shuffle=True, random_state=seed)

    def epoch(self, X, batch_size):
        self.model.partial_fit(X, X)   # one pass over X in minibatches (identity output)
        return self.model.loss_


# ---- the machine's matmul rate ----------------------------------------------------------

class Matmul:
    name = "matmul"
    n = 2048

    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.a = rng.random((self.n, self.n), dtype=np.float32)
        self.b = rng.random((self.n, self.n), dtype=np.float32)
        self.out = np.empty_like(self.a)

    def epoch(self, X, batch_size):
        for _ in range(3):
            np.matmul(self.a, self.b, out=self.out)

    @classmethod
    def flops(cls):
        return 3 * 2 * cls.n ** 3


def epoch_flops(n):
    return 6 * n * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))


# ---- timing -----------------------------------------------------------------------------

def interleaved(contenders, X, batch_size, reps):
    """{name: [seconds per run]}: every repetition runs every contender once, in rotation."""
    times = {c.name: [] for c in contenders}
    for r in range(reps):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            t0 = time.perf_counter()
            c.epoch(X, batch_size)
            times[c.name].append(time.perf_counter() - t0)
    return times


def median(xs):
    return statistics.median(xs)


# ---- contractive and VAE steps ----------------------------------------------------------

class StepTimer:
    """Times `steps` training steps on consecutive batches (one 'epoch' of the rotation)."""

    def __init__(self, name, step, X, batch_size, steps):
        self.name, self._step, self.X, self.bs, self.steps = name, step, X, batch_size, steps
        self.i = 0

    def epoch(self, X, batch_size):
        for _ in range(self.steps):
            start = (self.i * self.bs) % (len(self.X) - self.bs)
            self._step(self.X[start:start + self.bs])
            self.i += 1


def numpyae_step(model):
    opt = Adam(model.parameters(), lr=LR)
    return lambda xb: model.train_step(xb, None, opt)


def torch_step(torch, module, loss_fn):
    opt = torch.optim.Adam(module.parameters(), lr=LR)

    def step(xb):
        xb = torch.from_numpy(xb)
        opt.zero_grad()
        loss = loss_fn(xb)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_contractive(torch, n_in, n_code, lam, seed):
    """Tied sigmoid contractive autoencoder (Rifai et al. 2011), BCE on logits summed over
    pixels and averaged over the batch, plus lam * mean_b ||J_b||_F^2 in its closed form
        ||J_b||_F^2 = sum_j (h_bj (1 - h_bj))^2 sum_i W_ij^2,
    differentiated by autograd."""
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(seed)

    class CAE(nn.Module):
        def __init__(self):
            super().__init__()
            bound = (6 / (n_in + n_code)) ** 0.5
            self.W = nn.Parameter(torch.empty(n_in, n_code).uniform_(-bound, bound))
            self.b = nn.Parameter(torch.zeros(n_code))
            self.c = nn.Parameter(torch.zeros(n_in))

        def loss(self, x):
            h = torch.sigmoid(x @ self.W + self.b)
            o = h @ self.W.t() + self.c
            B = x.shape[0]
            rec = F.binary_cross_entropy_with_logits(o, x, reduction="sum") / B
            if not lam:
                return rec
            fprime = h * (1 - h)
            penalty = lam * ((fprime * fprime) @ (self.W * self.W).sum(0)).sum() / B
            return rec + penalty

    return CAE()


def torch_vae(torch, sizes, seed):
    """VAE 784-400-20 (Kingma & Welling 2013): relu body, mean and log-variance heads,
    log-variance clamped to [-30, 20], Bernoulli decoder on logits; ELBO summed over pixels and
    latent units, averaged over the batch."""
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(seed)
    D, H, K = sizes

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.mu, self.lv = nn.Linear(D, H), nn.Linear(H, K), nn.Linear(H, K)
            self.dec1, self.dec2 = nn.Linear(K, H), nn.Linear(H, D)

        def loss(self, x):
            h = F.relu(self.body(x))
            mu, lv = self.mu(h), torch.clamp(self.lv(h), -30.0, 20.0)
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            o = self.dec2(F.relu(self.dec1(z)))
            B = x.shape[0]
            rec = F.binary_cross_entropy_with_logits(o, x, reduction="sum") / B
            kl = 0.5 * (mu * mu + lv.exp() - 1 - lv).sum() / B
            return rec + kl

    return VAE()


def model_steps(X, args, torch):
    """Contractive and VAE step timings; numpyae's side only where this checkout has the model."""
    bs, steps = 256, args.steps
    Xs = X[:max(len(X) // 4, 2 * bs)]
    out = []
    try:
        from numpyae.models.presets import ContractiveAutoencoder
    except ImportError:
        ContractiveAutoencoder = None
    try:
        from numpyae.models.vae import mlp_vae
    except ImportError:
        mlp_vae = None

    # contractive: the same tied one-layer network with lam = 0 (plain) and lam = 0.1
    cae = []
    if ContractiveAutoencoder is not None:
        for lam, label in ((0.0, "numpyae plain"), (CONTRACTIVE_LAM, "numpyae contractive")):
            m = ContractiveAutoencoder((SIZES[0], CONTRACTIVE_CODE), lam=lam, rng=args.seed)
            cae.append(StepTimer(label, numpyae_step(m), Xs, bs, steps))
    if torch is not None:
        for lam, label in ((0.0, "pytorch plain"), (CONTRACTIVE_LAM, "pytorch contractive")):
            m = torch_contractive(torch, SIZES[0], CONTRACTIVE_CODE, lam, args.seed)
            cae.append(StepTimer(label, torch_step(torch, m, m.loss), Xs, bs, steps))
    for timer in cae:   # warm-up (first-call costs), untimed
        timer.epoch(Xs, bs)
    if cae:
        out.append(("contractive", interleaved(cae, Xs, bs, args.step_reps)))
    vae = []
    if mlp_vae is not None:
        m = mlp_vae(list(VAE_SIZES), rng=args.seed)
        vae.append(StepTimer("numpyae vae", numpyae_step(m), Xs, bs, steps))
    if torch is not None:
        m = torch_vae(torch, VAE_SIZES, args.seed)
        vae.append(StepTimer("pytorch vae", torch_step(torch, m, m.loss), Xs, bs, steps))
    for timer in vae:
        timer.epoch(Xs, bs)
    if vae:
        out.append(("vae", interleaved(vae, Xs, bs, args.step_reps)))
    missing = [name for name, ok in (("ContractiveAutoencoder", ContractiveAutoencoder),
                                     ("mlp_vae", mlp_vae)) if ok is None]
    return out, missing


# ---- memory -----------------------------------------------------------------------------

def memory_budget(batch_size):
    """Bytes of parameters + their gradients + Adam's m and v + one batch's activations
    (input, and a and y of every layer) and their gradients (da and dx of every layer)."""
    n_params = sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:]))
    outs, ins = sum(SIZES[1:]), sum(SIZES[:-1])
    activations = batch_size * (SIZES[0] + 2 * outs)
    act_grads = batch_size * (outs + ins)
    return 4 * (4 * n_params + activations + act_grads), n_params


def measure_memory(X, batch_size, seed):
    """Peak bytes allocated by a fresh numpyae model + optimizer + one epoch of fit() on X."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model = mlp_autoencoder(list(SIZES[:3]), activation="relu", code_activation="relu",
                            loss="mse", output_activation="sigmoid", rng=seed)
    opt = Adam(model.parameters(), lr=LR)
    fit(model, X, opt, epochs=1, batch_size=batch_size, rng=seed, progress=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


# ---- the convolutional autoencoder (part 5) ----------------------------------------------

CONV_IMAGE, CONV_CHANNELS, CONV_CODE = (28, 28), (16, 32), 32


def numpyae_conv_model(seed):
    """conv_autoencoder((28, 28), (16, 32), 32): relu, BCE on logits, float32 (its defaults)."""
    from numpyae.models.conv import conv_autoencoder
    return conv_autoencoder(CONV_IMAGE, CONV_CHANNELS, CONV_CODE, rng=seed)


class NumpyaeConvAE(NumpyaeAE):
    name = "numpyae"

    def __init__(self, seed):
        self.model = numpyae_conv_model(seed)
        self.opt = Adam(self.model.parameters(), lr=LR)
        self.seed = seed


def torch_conv_autoencoder(torch):
    """The same layers in PyTorch (NCHW); rows of 784 in, 784 logits out."""
    nn = torch.nn
    (c1, c2), (h, w) = CONV_CHANNELS, CONV_IMAGE
    h4, w4 = h // 4, w // 4
    return nn.Sequential(
        nn.Unflatten(1, (1, h, w)),
        nn.Conv2d(1, c1, 3, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(c2 * h4 * w4, CONV_CODE),
        nn.Linear(CONV_CODE, c2 * h4 * w4), nn.ReLU(), nn.Unflatten(1, (c2, h4, w4)),
        nn.ConvTranspose2d(c2, c1, 3, 2, 1, 1), nn.ReLU(), nn.ConvTranspose2d(c1, 1, 3, 2, 1, 1),
        nn.Flatten())


class TorchConvAE(TorchAE):
    name = "pytorch"

    def __init__(self, seed):
        import torch
        self.torch = torch
        torch.manual_seed(seed)
        self.net = torch_conv_autoencoder(torch)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LR)

    def epoch(self, X, batch_size):
        torch, F = self.torch, self.torch.nn.functional
        X = torch.from_numpy(X)
        n = len(X)
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            xb = X[order[start:start + batch_size]]
            self.opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(self.net(xb), xb)
            loss.backward()
            self.opt.step()
            total += loss.item() * len(xb)
        return total / n


def conv_step_kernels(model, batch_size):
    """The matrix products and the im2col / col2im calls of one training step of `model` at
    `batch_size`, with the shapes and operand layouts its layers use (a transposed operand is
    a transposed view, as in the layers), as {"matmul" | "im2col" | "col2im": [thunk]}.
    Follows Sequential.backward: the lowest layer with parameters computes no dx."""
    from numpyae.nn import conv as C
    from numpyae.nn.layers import Dense, flatten
    rng = np.random.default_rng(0)
    f32 = np.float32

    def arr(*shape):
        return rng.standard_normal(shape, dtype=f32)

    kernels = {"matmul": [], "im2col": [], "col2im": []}

    def product(left, right):
        out = np.empty((left.shape[0], right.shape[1]), f32)
        kernels["matmul"].append(lambda: np.matmul(left, right, out=out))

    def columns(x, layer):
        kh, kw = layer.kernel_size
        B, H, W, Cc = x.shape
        Ho, Wo = C.output_size_2d((H, W), layer.kernel_size, layer.stride, layer.padding)
        out = np.empty((B, Ho, Wo, kh, kw, Cc), f32)
        kernels["im2col"].append(lambda: C.im2col(x, layer.kernel_size, layer.stride,
                                                  layer.padding, out=out))

    def scatter(cols, shape, layer):
        kernels["col2im"].append(lambda: C.col2im(cols, shape, layer.kernel_size, layer.stride,
                                                  layer.padding))

    B, shape, first = batch_size, (batch_size, model.input_dim), True
    for layer in flatten(model.encoder) + flatten(model.decoder):
        if isinstance(layer, C.Conv2D):
            Ho, Wo, O = layer.output_shape(shape[1:])
            N, K = B * Ho * Wo, layer.kernel_size[0] * layer.kernel_size[1] * shape[3]
            columns(arr(*shape), layer)
            product(arr(N, K), arr(K, O))                      # forward
            product(arr(N, K).T, arr(N, O))                    # dW
            if not first:
                product(arr(N, O), arr(K, O).T)                # dx columns, then col2im
                scatter(arr(N, K), shape, layer)
            shape = (B, Ho, Wo, O)
        elif isinstance(layer, C.ConvTranspose2D):
            Ho, Wo, O = layer.output_shape(shape[1:])
            Nx, Ci, K = B * shape[1] * shape[2], shape[3], layer.kernel_size[0] * \
                layer.kernel_size[1] * O
            product(arr(Nx, Ci), arr(K, Ci).T)                 # forward columns, then col2im
            scatter(arr(Nx, K), (B, Ho, Wo, O), layer)
            columns(arr(B, Ho, Wo, O), layer)                  # backward: im2col of dL/da
            product(arr(Nx, K).T, arr(Nx, Ci))                 # dW
            if not first:
                product(arr(Nx, K), arr(K, Ci))                # dx
            shape = (B, Ho, Wo, O)
        elif isinstance(layer, Dense):
            product(arr(B, layer.n_in), arr(layer.n_in, layer.n_out))
            product(arr(B, layer.n_in).T, arr(B, layer.n_out))
            if not first:
                product(arr(B, layer.n_out), arr(layer.n_in, layer.n_out).T)
            shape = (B, layer.n_out)
        else:                                                  # Reshape, Flatten: views
            shape = (B,) + tuple(np.shape(layer.forward(np.zeros(shape, f32))))[1:]
            continue
        first = False
    return kernels


def time_rounds(groups, reps=9):
    """{name: seconds}: for each named group of thunks, the best over `reps` rounds of calling
    all its thunks in turn. The groups take turns within every round, so that all of them are
    timed under the same conditions (load from elsewhere falls on each alike)."""
    for thunks in groups.values():
        for f in thunks:
            f()
    best = {name: float("inf") for name in groups}
    for _ in range(reps):
        for name, thunks in groups.items():
            t0 = time.perf_counter()
            for f in thunks:
                f()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def conv_step_split(model, optimizer, X, batch_size):
    """{"step", "matmul", "im2col", "col2im": seconds}: one training step of `model` on a batch
    of X (model.train_step, what fit() runs per batch), and its matrix products, im2col calls
    and col2im calls (conv_step_kernels) each timed alone, in rotation (time_rounds)."""
    xb = np.ascontiguousarray(X[:batch_size])
    groups = {"step": [lambda: model.train_step(xb, None, optimizer)]}
    groups.update(conv_step_kernels(model, batch_size))
    return time_rounds(groups)


def conv_memory_budget(model, batch_size):
    """(bytes, parts): parameters + gradients + Adam's m and v, one batch's activations (the
    input; a and, after a non-identity activation, y of every layer) and as many gradients of
    them (da and dx per layer), and the im2col columns of every convolution (forward and
    backward: Conv2D keeps cols for dW and fills dcols for dx; ConvTranspose2D's one buffer
    serves its forward product and its backward im2col)."""
    from numpyae.nn import conv as C
    from numpyae.nn.layers import Dense, flatten
    B, shape, first = batch_size, (batch_size, model.input_dim), True
    params = model.n_parameters()
    acts = B * model.input_dim
    grads = cols = 0
    for layer in flatten(model.encoder) + flatten(model.decoder):
        if isinstance(layer, (C.Conv2D, C.ConvTranspose2D)):
            out = (B,) + layer.output_shape(shape[1:])
            k = layer.kernel_size[0] * layer.kernel_size[1]
            if isinstance(layer, C.Conv2D):
                cols += out[0] * out[1] * out[2] * k * shape[3] * (1 if first else 2)
            else:
                cols += shape[0] * shape[1] * shape[2] * k * out[3]
        elif isinstance(layer, Dense):
            out = (B, layer.n_out)
        else:
            shape = (B,) + tuple(np.shape(layer.forward(np.zeros(shape, np.float32))))[1:]
            continue
        size = int(np.prod(out))
        acts += size * (1 if layer.activation.name == "identity" else 2)
        grads += size + (0 if first else int(np.prod(shape)))
        shape, first = out, False
    parts = {"parameters, gradients, Adam m and v": 4 * params, "activations": acts,
             "their gradients": grads, "im2col columns": cols}
    return 4 * sum(parts.values()), {k: 4 * v for k, v in parts.items()}


def measure_conv_memory(X, batch_size, seed):
    """Peak bytes allocated by a fresh conv model + optimizer + one epoch of fit() on X."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model = numpyae_conv_model(seed)
    opt = Adam(model.parameters(), lr=LR)
    fit(model, X, opt, epochs=1, batch_size=batch_size, rng=seed, progress=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, model


def conv_part(X, args, torch, threads):
    """Part 5: prints the epoch times, the split and the memory; returns the speed targets."""
    targets = []
    print()
    print(f"convolutional autoencoder conv_autoencoder({CONV_IMAGE}, {CONV_CHANNELS}, "
          f"{CONV_CODE}) ({numpyae_conv_model(args.seed).n_parameters():,} parameters), BCE on "
          f"logits, Adam lr={LR}, {len(X)} examples, {threads} threads; "
          f"{args.epochs} interleaved epochs per library, medians")
    rows = []
    for bs in args.conv_batch_sizes:
        contenders = [NumpyaeConvAE(args.seed)]
        if torch is not None:
            contenders.append(TorchConvAE(args.seed))
        for c in contenders:   # warm-up, untimed
            c.epoch(X[:4 * bs], bs)
        times = interleaved(contenders, X, bs, args.epochs)
        t_np = median(times["numpyae"])
        t_pt = median(times["pytorch"]) if "pytorch" in times else None
        split = conv_step_split(contenders[0].model, contenders[0].opt, X, bs)
        rows.append((bs, t_np, t_pt, split))
        runs = {k: ", ".join(f"{t:.2f}" for t in v) for k, v in times.items()}
        line = f"batch {bs:4d}: numpyae {t_np:6.2f} s (runs {runs['numpyae']})"
        if t_pt is not None:
            line += (f" | pytorch {t_pt:6.2f} s (runs {runs['pytorch']}) | ratio "
                     f"{t_np / t_pt:.2f}x")
            targets.append((f"conv numpyae / PyTorch epoch, batch {bs}", f"{t_np / t_pt:.2f}x",
                            "<= 2.0x", t_np / t_pt <= 2.0))
        print(line, flush=True)
        step = split["step"]
        rest = step - split["matmul"] - split["im2col"] - split["col2im"]
        print(f"  one numpyae step (best of 9): {1e3 * step:.2f} ms; its kernels timed alone: "
              f"matrix products {1e3 * split['matmul']:.2f} ms ({split['matmul'] / step:.0%}), "
              f"im2col {1e3 * split['im2col']:.2f} ms ({split['im2col'] / step:.0%}), col2im "
              f"{1e3 * split['col2im']:.2f} ms ({split['col2im'] / step:.0%}), everything else "
              f"{1e3 * rest:.2f} ms ({rest / step:.0%}); steps of an epoch "
              f"{len(X) / bs * step:.2f} s", flush=True)
    print()
    print("| batch | numpyae (s/epoch) | PyTorch (s/epoch) | numpyae / PyTorch | numpyae step "
          "(ms) | matrix products | im2col | col2im | the rest |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bs, t_np, t_pt, split in rows:
        step = split["step"]
        rest = step - split["matmul"] - split["im2col"] - split["col2im"]
        pt = "-" if t_pt is None else f"{t_pt:.2f}"
        ratio = "-" if t_pt is None else f"{t_np / t_pt:.2f}x"
        print(f"| {bs} | {t_np:.2f} | {pt} | {ratio} | {1e3 * step:.2f} | "
              f"{split['matmul'] / step:.0%} | {split['im2col'] / step:.0%} | "
              f"{split['col2im'] / step:.0%} | {rest / step:.0%} |")
    if "conv-memory" not in args.skip:
        print()
        for bs in args.conv_batch_sizes:
            peak, model = measure_conv_memory(X, bs, args.seed)
            budget, parts = conv_memory_budget(model, bs)
            detail = ", ".join(f"{k} {v / 2**20:.1f}" for k, v in parts.items())
            print(f"peak memory of one conv fit() epoch beyond the dataset, batch {bs}: "
                  f"{peak / 2**20:.1f} MiB; budget {budget / 2**20:.1f} MiB ({detail} MiB); "
                  f"ratio {peak / budget:.2f}x")
            targets.append((f"conv training memory / budget, batch {bs}", f"{peak / budget:.2f}x",
                            "<= 1.5x", peak / budget <= 1.5))
    return targets


# ---- report -----------------------------------------------------------------------------

def blas_report():
    lines = []
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            lines.append(f"  {info.get('user_api')}: {info.get('internal_api')} "
                         f"{info.get('version')} kernel={info.get('architecture', '-')} "
                         f"threads={info.get('num_threads')} ({Path(info.get('filepath', '')).name})")
    except ImportError:
        lines.append("  (threadpoolctl not installed: BLAS kernel unknown)")
    return lines


def numpy_blas_threads():
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
                return info["num_threads"], info.get("architecture")
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                return info["num_threads"], info.get("architecture")
    except ImportError:
        pass
    return os.cpu_count(), None


def memory_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5,
                   help="timed epochs per library and batch size (the median is reported)")
    p.add_argument("--batch-sizes", default="64,256,1024", help="comma-separated batch sizes")
    p.add_argument("--examples", type=int, default=60000, help="training examples per epoch")
    p.add_argument("--skip", default="",
                   help="comma-separated parts to leave out: epochs, pytorch, sklearn, steps, "
                        "memory, conv (part 5), conv-memory (part 5's memory)")
    p.add_argument("--conv-batch-sizes", default="64,256",
                   help="comma-separated batch sizes of part 5 (the conv autoencoder)")
    p.add_argument("--sklearn-epochs", type=int, default=None,
                   help="timed scikit-learn epochs (default: --epochs; it is by far the slowest)")
    p.add_argument("--steps", type=int, default=40, help="training steps per timed run in part 3")
    p.add_argument("--step-reps", type=int, default=7, help="timed runs per model in part 3")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 6,000 examples, batch 256, 3 epochs, short step timings")
    args = p.parse_args(argv)
    if args.quick:
        args.examples, args.batch_sizes, args.epochs = 6000, "256", 3
        args.steps, args.step_reps = 10, 3
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    args.conv_batch_sizes = [int(b) for b in args.conv_batch_sizes.split(",") if b]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def main(argv=None):
    args = parse_args(argv)
    threads, kernel = numpy_blas_threads()
    torch = None
    if "pytorch" not in args.skip:
        import torch
        torch.set_num_threads(threads)
    X, source = load_data(args.examples, args.seed)

    print("numpyae training-speed benchmark")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    print(f"numpy {np.__version__}" + (f", torch {torch.__version__} ({torch.get_num_threads()} "
                                        f"threads)" if torch else "")
          + (", scikit-learn " + __import__("sklearn").__version__
             if "sklearn" not in args.skip else ""))
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        print(f"  {var}={os.environ.get(var, '(unset)')}")
    print("BLAS libraries loaded (threadpoolctl):")
    for line in blas_report():
        print(line)
    print(f"data: {len(X)} x {X.shape[1]} float32, {source}")
    print(f"network {'-'.join(map(str, SIZES))}, relu hidden, sigmoid output (identity in "
          f"scikit-learn), MSE, Adam lr={LR}; {args.epochs} interleaved epochs per library, medians")
    print()

    results = {}
    for bs in ([] if "epochs" in args.skip else args.batch_sizes):
        contenders = [NumpyaeAE(args.seed)]
        if torch is not None:
            contenders.append(TorchAE(args.seed))
        matmul = Matmul(args.seed)
        contenders.append(matmul)
        for c in contenders:   # warm-up: first-call costs (allocator, thread pools) untimed
            c.epoch(X[:4 * bs], bs)
        times = interleaved(contenders, X, bs, args.epochs)
        if "sklearn" not in args.skip:
            sk = SklearnAE(args.seed, bs)
            sk.epoch(X[:4 * bs], bs)
            reps = args.sklearn_epochs or args.epochs
            times.update(interleaved([sk], X, bs, reps))
        results[bs] = times
        rate = matmul.flops() / median(times["matmul"])
        t_np = median(times["numpyae"])
        line = f"batch {bs:5d}: numpyae {t_np:6.2f} s"
        if "pytorch" in times:
            line += f" | pytorch {median(times['pytorch']):6.2f} s"
        if "sklearn" in times:
            line += f" | sklearn {median(times['sklearn']):6.2f} s"
        line += (f" | matmul {rate / 1e9:6.1f} GFLOP/s, numpyae attains "
                 f"{epoch_flops(len(X)) / t_np / 1e9:6.1f} GFLOP/s = "
                 f"{100 * epoch_flops(len(X)) / t_np / rate:4.1f}%")
        print(line, flush=True)

    targets = []   # (what, measured, goal, met)
    for bs, times in results.items():
        if "pytorch" in times:
            r = median(times["numpyae"]) / median(times["pytorch"])
            goal = 0.67 if bs == 256 else 1.0
            targets.append((f"numpyae / PyTorch epoch, batch {bs}", f"{r:.2f}x", f"<= {goal}x",
                            r <= goal))
        if bs == 256:
            share = epoch_flops(len(X)) / median(times["numpyae"]) / (
                Matmul.flops() / median(times["matmul"]))
            targets.append(("share of the matmul rate, batch 256", f"{100 * share:.0f}%",
                            ">= 55%", share >= 0.55))

    print()
    print("| batch | numpyae (s/epoch) | PyTorch (s/epoch) | numpyae / PyTorch | scikit-learn "
          "(s/epoch) | numpyae / scikit-learn | share of matmul rate |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for bs, times in results.items():
        t_np = median(times["numpyae"])
        t_pt = median(times["pytorch"]) if "pytorch" in times else None
        t_sk = median(times["sklearn"]) if "sklearn" in times else None
        rate = Matmul.flops() / median(times["matmul"])
        share = epoch_flops(len(X)) / t_np / rate
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        ratio = lambda a, b: "-" if b is None else f"{a / b:.2f}x"  # noqa: E731
        print(f"| {bs} | {t_np:.2f} | {fmt(t_pt)} | {ratio(t_np, t_pt)} | {fmt(t_sk)} | "
              f"{ratio(t_np, t_sk)} | {100 * share:.0f}% |")

    if "steps" not in args.skip:
        print()
        print(f"one training step, batch 256 (median of {args.step_reps} runs of {args.steps} "
              f"steps):")
        step_results, missing = model_steps(X, args, torch)
        for kind, times in step_results:
            ms = {k: 1e3 * median(v) / args.steps for k, v in times.items()}
            for k, v in ms.items():
                print(f"  {kind:12s} {k:22s} {v:7.2f} ms")
            if kind == "contractive":
                if "numpyae contractive" in ms:
                    r = ms["numpyae contractive"] / ms["numpyae plain"]
                    print(f"  contractive / plain (numpyae, 784-{CONTRACTIVE_CODE} tied sigmoid, "
                          f"lam={CONTRACTIVE_LAM}): {r:.2f}x")
                    targets.append(("contractive step / plain step (numpyae)", f"{r:.2f}x",
                                    "<= 1.3x", r <= 1.3))
                if "pytorch contractive" in ms:
                    print(f"  contractive / plain (pytorch): "
                          f"{ms['pytorch contractive'] / ms['pytorch plain']:.2f}x")
                if "numpyae contractive" in ms and "pytorch contractive" in ms:
                    print(f"  numpyae / pytorch, contractive step: "
                          f"{ms['numpyae contractive'] / ms['pytorch contractive']:.2f}x")
            if kind == "vae" and "numpyae vae" in ms and "pytorch vae" in ms:
                r = ms["numpyae vae"] / ms["pytorch vae"]
                print(f"  numpyae / pytorch, VAE {'-'.join(map(str, VAE_SIZES))} step: {r:.2f}x")
                targets.append(("VAE step numpyae / PyTorch", f"{r:.2f}x", "<= 1.0x", r <= 1.0))
        for name in missing:
            print(f"  numpyae side not timed: this checkout has no {name} yet")

    if "memory" not in args.skip:
        bs = 256
        budget, n_params = memory_budget(bs)
        peak = measure_memory(X, bs, args.seed)
        print()
        print(f"peak memory of a numpyae training run beyond the dataset (fit, batch {bs}, "
              f"{n_params:,} parameters): {peak / 2**20:.1f} MiB; budget (parameters + "
              f"gradients + Adam m, v + one batch's activations and gradients) "
              f"{budget / 2**20:.1f} MiB; ratio {peak / budget:.2f}x")
        targets.append(("training memory beyond the dataset / budget", f"{peak / budget:.2f}x",
                        "<= 1.5x", peak / budget <= 1.5))

    if "conv" not in args.skip:
        targets += conv_part(X, args, torch, threads)

    if targets:
        print()
        print("speed targets (medians of this run):")
        for what, value, goal, met in targets:
            print(f"  {what:46s} {value:>7s}  goal {goal:8s} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
