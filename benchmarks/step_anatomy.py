"""Where one numpyae training step spends its time, and what a second core can buy it.

    python benchmarks/step_anatomy.py                  # batch 256, the size the speed goal is set for
    python benchmarks/step_anatomy.py --batch-size 1024

Needs the `bench` extra (torch==2.13.0 CPU, threadpoolctl). The network is train_speed.py's:
784-256-64-256-784, relu hidden layers, sigmoid output, MSE, Adam 1e-3, float32. Every number
is a median over repetitions of `--steps` consecutive steps. It prints:

1. The step split in two: the matrix products (the step's eleven products, with the same shapes
   and BLAS threads, timed alone into preallocated outputs) and everything else (activations,
   loss, bias sums, the Adam update, the finiteness guards, batch gathering, Python).
2. The floor this puts under an epoch: the epoch time if everything but the products took no
   time, against PyTorch's epoch timed here and the speed goal for the batch size (0.67 x
   PyTorch's epoch at batch 256, 1.0 x at 64 and 1024).
3. What two Python threads buy for the parts that are not products (NumPy's ufuncs release the
   GIL, so two threads can run them at once):
   a. the Adam update with the parameters split in two halves, each half on its own thread;
   b. data parallelism: two half batches, each through its own replica of the model (sharing
      the parameter values, with its own caches and gradients) on its own thread, BLAS set to
      one thread so the two do not fight over the cores, against one full batch on one thread
      with two-thread BLAS; and a whole training step done that way (the two gradients
      averaged, then the guarded Adam update), as an epoch time against PyTorch's.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))          # train_speed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # this checkout's numpyae

from numpyae import Adam, mlp_autoencoder  # noqa: E402
from numpyae.models.base import check_finite_step, guarded_update  # noqa: E402
from train_speed import LR, SIZES, TorchAE, load_data, numpy_blas_threads  # noqa: E402


#: the speed goals, numpyae epoch / PyTorch epoch, by batch size (1.0 elsewhere)
GOALS = {256: 0.67}


def timed(fn, steps, reps):
    """Median over reps of the mean seconds per call of fn(i), i = 0..steps-1."""
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for i in range(steps):
            fn(i)
        runs.append((time.perf_counter() - t0) / steps)
    return statistics.median(runs)


def new_model(seed):
    model = mlp_autoencoder(list(SIZES[:3]), activation="relu", code_activation="relu",
                            loss="mse", output_activation="sigmoid", rng=seed)
    return model, Adam(model.parameters(), lr=LR)


def batches(X, batch_size, seed):
    order = np.random.default_rng(seed).permutation(len(X))
    n = len(X) // batch_size
    return lambda i: X[order[(i % n) * batch_size:(i % n + 1) * batch_size]]


# ---- 1. products alone ------------------------------------------------------------------

def products(batch_size, seed):
    """A function doing the step's matrix products: forward x W and dW = x^T da for every layer,
    dx = da W^T for every layer but the first (numpyae skips the input's gradient)."""
    rng = np.random.default_rng(seed)
    dims = list(zip(SIZES[:-1], SIZES[1:]))
    xs = [rng.random((batch_size, a), dtype=np.float32) for a, _ in dims]
    ws = [rng.random((a, b), dtype=np.float32) for a, b in dims]
    das = [rng.random((batch_size, b), dtype=np.float32) for _, b in dims]
    outs = [(np.empty((batch_size, b), np.float32), np.empty((a, b), np.float32),
             np.empty((batch_size, a), np.float32)) for a, b in dims]

    def run(i):
        for x, w, (y, _, _) in zip(xs, ws, outs):
            np.matmul(x, w, out=y)
        for k in reversed(range(len(dims))):
            x, w, da, (_, dw, dx) = xs[k], ws[k], das[k], outs[k]
            np.matmul(x.T, da, out=dw)
            if k:
                np.matmul(da, w.T, out=dx)
    return run


# ---- 3a. the Adam update on two threads -------------------------------------------------

class TwoLanes:
    """A second thread that runs lane(1) whenever run() is called, while the caller runs
    lane(0); run() returns when both are done."""

    def __init__(self, lane):
        self.lane = lane
        self.start, self.done = threading.Barrier(2), threading.Barrier(2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            self.start.wait()
            if self.stop:
                return
            self.lane(1)
            self.done.wait()

    def run(self):
        self.start.wait()
        self.lane(0)
        self.done.wait()

    def close(self):
        self.stop = True
        self.start.wait()
        self.thread.join()


def split_by_size(params):
    """Two groups of parameters of about equal total size (largest first, to the lighter)."""
    groups, load = ([], []), [0, 0]
    for p in sorted(params, key=lambda p: -p.value.size):
        k = 0 if load[0] <= load[1] else 1
        groups[k].append(p)
        load[k] += p.value.size
    return groups


def adam_lanes(model):
    """Adam over each half of the parameters: the same update as one Adam over all of them
    (Adam treats every entry on its own; both halves count the same steps)."""
    halves = split_by_size(model.parameters())
    for p in model.parameters():
        p.grad[...] = np.random.default_rng(0).standard_normal(p.grad.shape) * 1e-3
    opts = [Adam(h, lr=LR) for h in halves]
    return lambda k: opts[k].step()


# ---- 3b. data parallelism over two threads ----------------------------------------------

def replica(model):
    """A copy of model with its own layer caches and gradients, sharing the parameter values."""
    twin = copy.deepcopy(model)
    for p, q in zip(model.parameters(), twin.parameters()):
        q.value = p.value
    return twin


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=100, help="steps per timed repetition")
    p.add_argument("--reps", type=int, default=5, help="repetitions (the median is printed)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    import torch

    threads, kernel = numpy_blas_threads()
    torch.set_num_threads(threads)
    B, steps, reps = args.batch_size, args.steps, args.reps
    X, source = load_data(60000, args.seed)
    steps_per_epoch = -(-len(X) // B)
    batch = batches(X, B, args.seed)
    print(f"step anatomy, batch {B}: {SIZES}, {source}; NumPy BLAS {kernel} with {threads} "
          f"threads, PyTorch with {threads}; medians of {reps} x {steps} steps")

    # 1. the step, and its products alone
    model, opt = new_model(args.seed)
    t_step = timed(lambda i: model.train_step(batch(i), None, opt), steps, reps)
    t_prod = timed(products(B, args.seed), steps, reps)
    print(f"\n1. numpyae step {t_step * 1e3:.2f} ms = matrix products {t_prod * 1e3:.2f} ms "
          f"({t_prod / t_step:.0%}) + everything else {(t_step - t_prod) * 1e3:.2f} ms")

    # 2. the floor under an epoch
    torch_ae = TorchAE(args.seed)
    torch_epoch = statistics.median(
        _time_once(lambda: torch_ae.epoch(X, B)) for _ in range(3))
    ratio = GOALS.get(B, 1.0)
    goal = ratio * torch_epoch
    floor = t_prod * steps_per_epoch
    print(f"\n2. PyTorch epoch {torch_epoch:.2f} s; goal {ratio}x = {goal:.2f} s "
          f"= {goal / steps_per_epoch * 1e3:.2f} ms per step")
    print(f"   numpyae epoch {t_step * steps_per_epoch:.2f} s ({t_step * steps_per_epoch / torch_epoch:.2f}x); "
          f"the products alone {floor:.2f} s ({floor / torch_epoch:.2f}x), "
          f"leaving {(goal / steps_per_epoch - t_prod) * 1e3:.2f} ms per step for everything else "
          f"(now {(t_step - t_prod) * 1e3:.2f} ms)")

    # 3a. Adam on two threads
    update = adam_lanes(model)
    t_adam1 = timed(lambda i: (update(0), update(1)), steps, reps)
    lanes = TwoLanes(update)
    t_adam2 = timed(lambda i: lanes.run(), steps, reps)
    lanes.close()
    t_half = timed(lambda i: update(0), steps, reps)
    print(f"\n3a. Adam update of {model.n_parameters():,} parameters: one thread "
          f"{t_adam1 * 1e3:.2f} ms; two threads, half each {t_adam2 * 1e3:.2f} ms "
          f"(one half alone takes {t_half * 1e3:.2f} ms)")

    # 3b. data parallelism
    half = B // 2
    t_serial = timed(lambda i: model.loss_and_grad(batch(i)), steps, reps)
    twin = replica(model)
    halves = {}

    def lane(k):
        (model, twin)[k].loss_and_grad(halves[k])

    def parallel_step(i):
        xb = batch(i)
        halves[0], halves[1] = xb[:half], xb[half:]
        lanes.run()

    def data_parallel_train_step(i):
        """What Model.train_step does, with the gradient as the mean of the two halves'."""
        parallel_step(i)
        for p, q in zip(model.parameters(), twin.parameters()):
            p.grad += q.grad
            p.grad *= 0.5
        named = model.named_parameters_unique()
        check_finite_step({}, named)
        guarded_update(opt, named)

    lanes = TwoLanes(lane)
    with threadpool_limits(1, user_api="blas"):
        t_alone = timed(lambda i: model.loss_and_grad(batch(i)[:half]), steps, reps)
        t_par = timed(parallel_step, steps, reps)
        t_dp = timed(data_parallel_train_step, steps, reps)
    lanes.close()
    print(f"3b. forward + backward of batch {B}: one thread with {threads}-thread BLAS "
          f"{t_serial * 1e3:.2f} ms; two half batches on two threads with 1-thread BLAS "
          f"{t_par * 1e3:.2f} ms ({t_par / t_serial:.2f}x; one half alone takes "
          f"{t_alone * 1e3:.2f} ms)")
    print(f"    a whole data-parallel training step (the halves' gradients averaged, then the "
          f"guarded Adam update) {t_dp * 1e3:.2f} ms: an epoch of {t_dp * steps_per_epoch:.2f} s, "
          f"{t_dp * steps_per_epoch / torch_epoch:.2f}x PyTorch's (goal {ratio}x)")


def _time_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
