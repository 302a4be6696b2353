import numpy as np
import pytest

from numpyae import load_digits, train_validation_split


def test_bundled_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    images, _ = load_digits(as_images=True)
    assert images.shape == (1797, 8, 8)


def test_split_is_seeded_and_disjoint():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    a = train_validation_split(X, y, fraction=0.3, seed=1)
    b = train_validation_split(X, y, fraction=0.3, seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    X_tr, X_va, y_tr, y_va = a
    assert len(X_va) == 3 and len(X_tr) == 7
    assert set(y_tr).isdisjoint(y_va) and set(y_tr) | set(y_va) == set(range(10))
    assert np.array_equal(X_tr[:, 0] // 2, y_tr)


@pytest.mark.parametrize("kwargs, text", [({"fraction": 0}, "fraction"), ({"fraction": 1.0}, "fraction"),
                                          ({"y": np.arange(3)}, "y must have one entry")])
def test_split_errors(kwargs, text):
    with pytest.raises(ValueError, match=text):
        train_validation_split(np.zeros((10, 2)), **kwargs)
