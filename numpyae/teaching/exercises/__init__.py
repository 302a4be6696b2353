"""Exercises: derive a gradient, write it as a plain NumPy function, and let the checker judge it.

    from numpyae import exercises
    exercises.list_exercises()              # the catalogue
    print(exercises.describe("mse_grad"))   # the formula, the inputs, what to return

    def mse_grad(o, t):
        return 2 * (o - t) / o.size

    exercises.check("mse_grad", mse_grad)   # passed, or what is wrong and on which input

The checker compares your arrays with finite differences of the exercise's objective
(numpyae.gradcheck.numerical_gradient) on a few random inputs and then on inputs Hypothesis
draws, and names the typical mistakes: a shape mismatch, a transposed matrix, the wrong sign,
a constant factor (2, the batch size, ...), an error only at a kink, NaN from an unstable form.
An exercise may also declare its classic mistakes (``Mistake``: a name, the mistaken answer,
an explanation); an answer equal to one of them is named: a convolution's flipped kernel, a
stride left out of dx, a padding off by one, a max-pool gradient sent to the whole window.

An exercise may declare its gradient as a sum of named terms or paths (``Term``): an answer
that is a partial sum, or the sum with a term's sign flipped, is named by its terms: the
contractive gradient without its "direct" term, a tied dW without its "decoder use", softmax
cross-entropy without its "one-hot" term.

``reference(name)`` returns the model solution (for teachers; try first!).

Teachers add their own exercises (define.py): an objective of named inputs with symbolic shapes,
value ranges and kinks, the gradients to return, a statement, optional reference, terms and
mistakes; the whole diagnosis works on them.

    define("ridge_grad", "Gradient of ridge regression\nL = 1/B ||X w - y||^2 + lam ||w||^2",
           objective=lambda w, X, y, lam: np.sum((X @ w - y) ** 2) / len(y) + lam * w @ w,
           inputs={"w": Input("D"), "X": Input("B D"), "y": Input("B"),
                   "lam": Input.scalar(0.1, 1.0)}, grad=["w"])

Any numpyae layer, loss or penalty becomes "implement this backward" in one call
(from_library.py): ``from_layer(Dense(4, 3, "relu"))``, ``from_loss(MSE(), shape=("B", 4))``,
``from_penalty(Contractive(lam=0.5), layer=Dense(5, 3, "sigmoid"))``. The catalogue holds four
(library_dense_backward, library_tied_dense_backward, library_kl_sparsity_backward,
library_contractive_backward).

Assignment notebooks (release a student version, grade a folder of submissions with the same
diagnosis): ``python -m numpyae assignment --help`` (numpyae.apps.assignment).
"""
from .catalog import EXERCISES, Exercise, Mistake, Term
from .checker import CheckResult, check, expected_outputs, random_inputs
from .define import Input, define, remove
from .from_library import from_layer, from_loss, from_penalty

__all__ = ["EXERCISES", "Exercise", "Mistake", "Term", "CheckResult", "check", "describe",
           "list_exercises", "reference", "expected_outputs", "random_inputs", "Input", "define",
           "remove", "from_layer", "from_loss", "from_penalty"]


def list_exercises():
    """[(name, title)] of every exercise, in teaching order."""
    return [(name, ex.title) for name, ex in EXERCISES.items()]


def _get(name):
    if name not in EXERCISES:
        raise ValueError(f"name must be one of {sorted(EXERCISES)}, got {name!r}")
    return EXERCISES[name]


def describe(name):
    """The exercise's statement: formula, inputs and shapes, and the signature to write."""
    return _get(name).describe()


def reference(name):
    """The reference solution of an exercise, as a function with the student's signature."""
    return _get(name).reference
