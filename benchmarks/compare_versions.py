"""Training speed of two checkouts of numpyae, measured in one interleaved run.

    python benchmarks/compare_versions.py --before /tmp/before --after /work/main
    python benchmarks/compare_versions.py --before /tmp/before --after . --batch-sizes 256 --reps 9
    python benchmarks/compare_versions.py --before /tmp/before --after . --quick   # smoke run

Each checkout runs in its own long-lived worker process (its root first on sys.path, so that
`import numpyae` picks that version; the worker checks it did). The parent talks to the workers
over stdin/stdout, one line per command:

    warmup B  -> fresh model and optimizer, one untimed epoch from seed 0; prints its loss
    epoch B   -> one more epoch of that model (next shuffling seed); prints seconds and loss
    quit

The model is the project's benchmark model: mlp_autoencoder([784, 256, 64], relu hidden and code
layers, sigmoid output, MSE, rng=0), Adam(lr=1e-3), float32, on n x 784 float32 uniform random
data (np.random.default_rng(0)). For every batch size both versions first do their warm-up epoch,
whose losses (history["loss"][-1]) are compared bit for bit; then each repetition runs one epoch in
each version, the version that goes first alternating between repetitions, so that load from
elsewhere on the machine falls on both alike. Before each timed epoch the script waits --settle
seconds (0.5): right after an epoch the finished worker's OpenBLAS threads keep spinning for a
while, and on a 2-CPU machine that made whichever version ran next up to 60% slower. The table
gives the median, min and max epoch time of each version and the after/before ratio of the
medians. The shuffling seed keyword of fit() is found with inspect.signature (`seed=` in older
versions, possibly `rng=` in newer ones).

A worker that fails has its stderr printed, and the script exits with status 1.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [784, 256, 64]
LR = 1e-3
DATA_SEED = 0
MODEL_SEED = 0
FIT_SEED = 0
QUICK = {"examples": 6000, "reps": 2, "batch_sizes": [256]}
DEFAULTS = {"examples": 60000, "reps": 5, "batch_sizes": [64, 256, 1024]}


# ---- the worker: one numpyae version, driven over stdin/stdout --------------------------

def worker_main(root: str, examples: int) -> int:
    # Protocol lines go to a private copy of stdout; anything the library prints goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    root_path = Path(root).resolve()
    sys.path.insert(0, str(root_path))
    import inspect

    import numpy as np
    import numpyae
    from numpyae import Adam, fit, mlp_autoencoder

    where = Path(numpyae.__file__).resolve()
    if root_path not in where.parents:
        raise RuntimeError(f"imported numpyae from {where}, not from {root_path}")
    params = inspect.signature(fit).parameters
    seed_kw = next((kw for kw in ("seed", "rng") if kw in params), None)
    if seed_kw is None:
        raise RuntimeError(f"fit() takes neither seed= nor rng=: {list(params)}")

    X = np.random.default_rng(DATA_SEED).random((examples, SIZES[0]), dtype=np.float32)
    state = {}

    def run_epoch(batch_size, seed):
        t0 = time.perf_counter()
        history = fit(state["model"], X, state["opt"], epochs=1, batch_size=batch_size,
                      progress=False, **{seed_kw: seed})
        seconds = time.perf_counter() - t0
        return seconds, float(history["loss"][-1])

    proto.write(f"ready {seed_kw} {np.__version__} {where.parent}\n")
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "quit":
            break
        batch_size = int(args[0])
        if cmd == "warmup":
            model = mlp_autoencoder(SIZES, activation="relu", code_activation="relu", loss="mse",
                                    output_activation="sigmoid", rng=MODEL_SEED)
            dtype = model.parameters()[0].value.dtype
            if dtype != np.float32:
                raise RuntimeError(f"the model is {dtype}, not float32")
            state.update(model=model, opt=Adam(model.parameters(), lr=LR), seed=FIT_SEED)
        elif cmd == "epoch":
            state["seed"] += 1
        else:
            raise ValueError(f"unknown command {line!r}")
        seconds, loss = run_epoch(batch_size, state["seed"])
        proto.write(f"ok {seconds!r} {loss.hex()}\n")
    return 0


# ---- the parent -------------------------------------------------------------------------

class WorkerError(RuntimeError):
    pass


class Worker:
    """One worker process; stderr goes to a temporary file, shown if the worker fails."""

    def __init__(self, name: str, root: Path, examples: int):
        self.name, self.root = name, root
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(root),
             "--examples", str(examples)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            bufsize=1, cwd=root)
        ready = self._reply()
        if ready[0] != "ready":
            self._fail(f"unexpected greeting {' '.join(ready)!r}")
        self.seed_kw, self.numpy_version, self.package = ready[1], ready[2], " ".join(ready[3:])

    def _reply(self) -> list[str]:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._fail(f"exited with status {self.proc.returncode}")
        return line.split()

    def _fail(self, what: str):
        self.stderr.flush()
        self.stderr.seek(0)
        err = self.stderr.read().rstrip() or "(nothing on stderr)"
        raise WorkerError(f"worker '{self.name}' ({self.root}) {what}; its stderr:\n{err}")

    def ask(self, command: str) -> tuple[float, float]:
        """Send `command`; (seconds, loss) of the epoch it ran."""
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.proc.wait()
            self._fail(f"exited with status {self.proc.returncode}")
        reply = self._reply()
        if reply[0] != "ok" or len(reply) != 3:
            self._fail(f"answered {' '.join(reply)!r} to {command!r}")
        return float(reply[1]), float.fromhex(reply[2])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def checkout(path: str) -> Path:
    root = Path(path).resolve()
    if not (root / "numpyae" / "__init__.py").is_file():
        raise SystemExit(f"{path}: no numpyae/__init__.py there (give a checkout's root)")
    return root


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", help="root of the checkout to compare against")
    p.add_argument("--after", help="root of the checkout under test")
    p.add_argument("--batch-sizes", type=lambda s: [int(b) for b in s.split(",")],
                   help=f"comma-separated (default {','.join(map(str, DEFAULTS['batch_sizes']))})")
    p.add_argument("--reps", type=int, help=f"timed epochs per version and batch size "
                                            f"(default {DEFAULTS['reps']})")
    p.add_argument("--examples", type=int, help=f"rows of X (default {DEFAULTS['examples']})")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds of idleness before each timed epoch, so that the other "
                        "worker's BLAS threads stop spinning (default 0.5)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 6000 examples, 2 reps, batch size 256 (unless given)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is None and (args.before is None or args.after is None):
        p.error("--before and --after are required")
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.reps < 1 or args.examples < 1 or any(b < 1 for b in args.batch_sizes):
        p.error("--reps, --examples and the batch sizes must be positive")
    return args


def fmt_loss(loss: float) -> str:
    return f"{loss:.9g} ({loss.hex()})"


def compare(args) -> None:
    roots = {"before": checkout(args.before), "after": checkout(args.after)}
    names = list(roots)
    workers = {}
    try:
        for name in names:
            workers[name] = Worker(name, roots[name], args.examples)
        print(f"# numpyae: before vs after, {args.examples} examples, {args.reps} reps\n")
        threads = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS") if k in os.environ]
        print(f"python {platform.python_version()} on {platform.machine()}, "
              f"{os.cpu_count()} CPUs" + "".join(f", {t}" for t in threads))
        for name in names:
            w = workers[name]
            print(f"{name:6}  {w.package}  (numpy {w.numpy_version}, fit(..., {w.seed_kw}=))")
        print()

        rows = []
        for batch_size in args.batch_sizes:
            losses = {name: workers[name].ask(f"warmup {batch_size}")[1] for name in names}
            same = losses["before"].hex() == losses["after"].hex()
            print(f"batch {batch_size}: loss after one epoch from seed {FIT_SEED}: "
                  f"before {fmt_loss(losses['before'])}, after {fmt_loss(losses['after'])}: "
                  f"{'bit-identical' if same else 'DIFFERENT'}")
            times = {name: [] for name in names}
            n_same = 0
            for rep in range(args.reps):
                order = names if rep % 2 == 0 else names[::-1]
                rep_loss = {}
                for name in order:
                    time.sleep(args.settle)
                    seconds, rep_loss[name] = workers[name].ask(f"epoch {batch_size}")
                    times[name].append(seconds)
                n_same += rep_loss["before"].hex() == rep_loss["after"].hex()
                print(f"  batch {batch_size} rep {rep + 1}/{args.reps}: "
                      + ", ".join(f"{n} {times[n][-1]:.3f} s" for n in order), file=sys.stderr)
            print(f"  the {args.reps} timed epochs that followed: losses bit-identical in "
                  f"{n_same} of {args.reps}")
            rows.append((batch_size, times))

        print("\n| batch size | before (s/epoch, median) | after (s/epoch, median) "
              "| after/before | before min / max | after min / max |")
        print("|---:|---:|---:|---:|---:|---:|")
        for batch_size, times in rows:
            med = {n: statistics.median(t) for n, t in times.items()}
            spread = {n: f"{min(t):.3f} / {max(t):.3f}" for n, t in times.items()}
            ratio = med["after"] / med["before"]
            print(f"| {batch_size} | {med['before']:.3f} | {med['after']:.3f} | {ratio:.3f} "
                  f"| {spread['before']} | {spread['after']} |")
    finally:
        for w in workers.values():
            w.close()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker, args.examples)
    try:
        compare(args)
    except WorkerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
