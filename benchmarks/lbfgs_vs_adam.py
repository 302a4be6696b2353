"""L-BFGS against Adam on the UFLDL sparse-autoencoder exercise.

    python benchmarks/lbfgs_vs_adam.py             # the full comparison (about a minute or two)
    python benchmarks/lbfgs_vs_adam.py --quick     # 40 iterations / epochs, a smoke run

The setting (UFLDL's exercise): a 64-25-64 sigmoid SparseAutoencoder(rho=0.01, beta=3,
weight_decay=1e-4) on 10,000 8x8 patches from numpyae.load_patches(10000, 8, rng=0), all runs
from the same initial weights (rng=0). The objective is UFLDL's J (the model minimizes 2 J,
SparseAutoencoder.ufldl_objective), always measured the same way at the end of a run: in
float64, on all 10,000 patches in one batch (the KL term depends on the mean activation over
the batch, so J of minibatches would be another number), with its gradient's max-norm.

Contenders:
1. minimize(model, X, method="lbfgs", max_iter=400), the model in float64 (as UFLDL's minFunc)
   and in float32 (numpyae's default dtype).
2. Adam, full batch: 400 epochs of batch 10,000 (400 steps, as many gradients as L-BFGS's 400
   iterations roughly uses), at several learning rates (the best is the fair comparison).
3. Adam, minibatches of 100 at lr 3e-3 for about as much wall time as the float64 L-BFGS run.
4. The command line's recipe before L-BFGS: 300 epochs of batch 100 at lr 3e-3, then 100 epochs
   of batch 1000 at lr 1e-3 (`--skip-recipe` leaves it out).

The table: iterations or epochs, gradient evaluations in full-batch units (steps x batch / n),
the final J and its parts, max |dJ/dtheta|, wall time and CPU time, and when each L-BFGS run
first reaches the best Adam run's J. Timings are single runs. On a machine shared with other
work, run it as OPENBLAS_NUM_THREADS=1 python benchmarks/lbfgs_vs_adam.py: a multithreaded BLAS
whose threads get descheduled makes every full-batch product (10,000 rows) up to 100x slower,
while minibatch products (100 rows) stay single-threaded and unaffected, which would distort
the comparison. (Threaded and single-threaded BLAS also round differently, so the L-BFGS
trajectories, and their last digits, differ slightly between the two.)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from numpyae import Adam, Callback, SparseAutoencoder, fit, load_patches
from numpyae.training.lbfgs import minimize

SETTING = {"rho": 0.01, "beta": 3.0, "weight_decay": 1e-4}


def fresh_model(dtype=np.float32):
    """The exercise's model, always the same initial weights."""
    model = SparseAutoencoder([64, 25], rng=0, **SETTING)
    return model if dtype == np.float32 else model.astype(dtype)


def measure(model, X64):
    """J and its parts on all of X in float64 (one batch), and max |dJ/dtheta|."""
    m64 = model.astype(np.float64)
    terms = m64.loss_and_grad(X64)
    grad = max(float(np.abs(p.grad).max()) for p in m64.parameters()) / 2
    return {"J": SparseAutoencoder.ufldl_objective(terms),
            "recon": terms["reconstruction"] / 2, "kl": terms["kl_sparsity"] / 2,
            "wd": terms["weight_decay"] / 2, "grad": grad}


class Clock(Callback):
    """The wall-clock seconds since the start at the end of every iteration."""

    def on_train_begin(self, model, history):
        self.start, self.times = time.perf_counter(), []

    def on_epoch_end(self, epoch, logs, model, history):
        self.times.append(time.perf_counter() - self.start)


def run_lbfgs(dtype, X, iterations):
    """minimize(method="lbfgs") on the exercise's model in dtype."""
    model, clock = fresh_model(dtype), Clock()
    start, cpu = time.perf_counter(), time.process_time()
    h = minimize(model, X.astype(dtype), max_iter=iterations, callbacks=[clock])
    seconds = time.perf_counter() - start
    return model, seconds, {"cpu": time.process_time() - cpu, "steps": f"{h.iterations} it",
                            "evals": h["evaluations"][-1] if h.epochs else 1, "note": h.status,
                            "J_curve": [v / 2 for v in h["loss"]], "times": clock.times}


def run_adam(X, phases):
    """phases: [(epochs, batch_size, lr)], run one after another with one Adam per phase."""
    model = fresh_model()
    evals, epochs = 0.0, 0
    start, cpu = time.perf_counter(), time.process_time()
    for n_epochs, batch, lr in phases:
        fit(model, X, Adam(model.parameters(), lr=lr), epochs=n_epochs, batch_size=batch, rng=0,
            progress=False)
        evals += n_epochs * -(-len(X) // batch) * min(batch, len(X)) / len(X)
        epochs += n_epochs
    return model, time.perf_counter() - start, {"steps": f"{epochs} ep", "evals": evals,
                                                "cpu": time.process_time() - cpu}


def main(argv=None):
    """Run the contenders and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 iterations/epochs: a smoke run")
    parser.add_argument("--skip-recipe", action="store_true",
                        help="leave out the command line's 400-epoch minibatch recipe")
    args = parser.parse_args(argv)
    iters = 40 if args.quick else 400
    X = load_patches(10000, 8, rng=0)
    X64 = X.astype(np.float64)

    rows = []

    def add(name, run):
        model, seconds, info = run
        rows.append((name, info, measure(model, X64), seconds))
        print(f"  done: {name} ({seconds:.1f} s)", flush=True)

    add(f"L-BFGS float64, max_iter={iters}", run_lbfgs(np.float64, X, iters))
    add(f"L-BFGS float32, max_iter={iters}", run_lbfgs(np.float32, X, iters))
    lbfgs_seconds = rows[0][3]
    for lr in (1e-3, 1e-2, 3e-2, 1e-1):
        add(f"Adam full batch, lr={lr:g}", run_adam(X, [(iters, len(X), lr)]))
    # minibatches of 100 for about the float64 L-BFGS run's wall time
    start = time.perf_counter()
    probe = fresh_model()
    fit(probe, X, Adam(probe.parameters()), epochs=1, batch_size=100, progress=False)
    per_epoch = time.perf_counter() - start
    epochs = max(1, int(round(lbfgs_seconds / per_epoch)))
    add(f"Adam batch 100, lr=3e-3, same time", run_adam(X, [(epochs, 100, 3e-3)]))
    if not args.skip_recipe:
        scale = iters / 400
        add("Adam CLI recipe (b100 lr3e-3, b1000 lr1e-3)",
            run_adam(X, [(max(1, int(300 * scale)), 100, 3e-3), (max(1, int(100 * scale)), 1000, 1e-3)]))

    init = measure(fresh_model(), X64)
    print(f"\nUFLDL sparse autoencoder, 64-25-64 sigmoid, rho={SETTING['rho']}, beta={SETTING['beta']}, "
          f"lambda={SETTING['weight_decay']}, {len(X)} patches of 8x8 (load_patches(10000, 8, rng=0))")
    print(f"J at the initial weights: {init['J']:.4f} (max |dJ/dtheta| {init['grad']:.2g})\n")
    head = (f"{'run':46s} {'length':>9s} {'grads':>7s} {'J':>8s} {'recon':>8s} {'KL':>8s} "
            f"{'decay':>8s} {'max|g|':>8s} {'wall s':>7s} {'cpu s':>7s}  end")
    print(head)
    print("-" * len(head))
    for name, info, r, seconds in rows:
        print(f"{name:46s} {info['steps']:>9s} {info['evals']:>7.0f} {r['J']:8.4f} {r['recon']:8.4f} "
              f"{r['kl']:8.4f} {r['wd']:8.4f} {r['grad']:8.1e} {seconds:7.1f} {info['cpu']:7.1f}  "
              f"{info.get('note', '')}")
    best_adam = min((r["J"], name) for name, info, r, _ in rows if name.startswith("Adam"))
    print(f"\nL-BFGS against the best Adam run ({best_adam[1]}, J = {best_adam[0]:.4f}):")
    for name, info, r, seconds in rows:
        if "J_curve" in info:
            hit = next((i for i, J in enumerate(info["J_curve"]) if J <= best_adam[0]), None)
            print(f"  {name}: " + ("never reaches it" if hit is None else
                  f"reaches it at iteration {hit + 1}, after {info['times'][hit]:.1f} s "
                  f"(of {seconds:.1f} s)"))
    print("\ngrads: gradient evaluations in full-batch units (an L-BFGS evaluation = one; an "
          "Adam epoch = one). J, its parts and max|g| measured in float64 on all patches.\n"
          "wall s / cpu s: wall-clock and process CPU seconds of the run (BLAS threads add CPU "
          "time; other load on the machine adds wall time).")


if __name__ == "__main__":
    main()
