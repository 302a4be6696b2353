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

``reference(name)`` returns the model solution (for teachers; try first!).
"""
from .catalog import EXERCISES, Exercise
from .checker import CheckResult, check, expected_outputs, random_inputs

__all__ = ["EXERCISES", "Exercise", "CheckResult", "check", "describe", "list_exercises",
           "reference", "expected_outputs", "random_inputs"]


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
