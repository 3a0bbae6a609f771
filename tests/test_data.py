"""Data sets: preprocessing, constants (β, L), neighbouring sets, determinism."""

import numpy as np
import pytest

from ssam_theory import data as D
from ssam_theory.landscapes import LeastSquares, Logistic


@pytest.fixture(scope="module", params=D.DATASETS)
def dataset(request):
    return D.load(request.param, seed=0)


def test_shapes_and_standardization(dataset):
    ds = dataset
    n, d = ds.X.shape
    assert ds.y.shape == (n,) and ds.X_test.shape[1] == d and ds.X_pool.shape[1] == d
    feats = ds.X[:, :-1] if ds.task == "logistic" else ds.X
    # standardized with the training rows' own statistics: mean 0, std 1 to rounding
    np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(feats.std(axis=0), 1.0, atol=1e-12)
    if ds.task == "logistic":
        assert np.all(ds.X[:, -1] == 1.0)  # intercept column
        assert set(np.unique(ds.y).tolist()) == {-1.0, 1.0}
        assert isinstance(ds.landscape(), Logistic)
    else:
        # targets standardized too, so f_S(0) = mean(y²)/2 = 1/2
        assert ds.landscape().loss(np.zeros(d)) == pytest.approx(0.5, abs=1e-12)
        assert isinstance(ds.landscape(), LeastSquares)


def test_constants(dataset):
    ds = dataset
    s = ds.summary()
    assert s["n"] == ds.n and s["d"] == ds.d
    # β is the top eigenvalue of the training loss's Hessian at w = 0 (its supremum)
    H0 = ds.landscape().hessian(np.zeros(ds.d))
    assert ds.beta == pytest.approx(np.linalg.eigvalsh(H0)[-1], rel=1e-10)
    rows = np.vstack([ds.X, ds.X_pool])
    sq = np.max(np.sum(rows**2, axis=1))
    if ds.task == "logistic":
        assert ds.beta_example == pytest.approx(sq / 4, rel=1e-12)
        assert ds.lipschitz == pytest.approx(np.sqrt(sq), rel=1e-12)
    else:
        assert ds.beta_example == pytest.approx(sq, rel=1e-12)
        assert ds.lipschitz is None
    # a per-example bound dominates the average curvature
    assert ds.beta <= ds.beta_example


def test_logistic_lipschitz_is_a_bound():
    ds = D.load("breast_cancer")
    rng = np.random.default_rng(1)
    land = ds.landscape()
    for _ in range(5):
        w = rng.standard_normal(ds.d) * 3
        g = np.array([land.grad(w, np.array([i])) for i in range(ds.n)])
        assert np.max(np.linalg.norm(g, axis=1)) <= ds.lipschitz


def test_neighbour_differs_in_exactly_one_example(dataset):
    ds = dataset
    for i, k in [(0, 0), (ds.n - 1, 3), (ds.n // 2, ds.X_pool.shape[0] - 1)]:
        nb = D.neighbour(ds, i, k)
        differ = np.flatnonzero(np.any(nb.X != ds.X, axis=1) | (nb.y != ds.y))
        assert differ.tolist() == [i]
        np.testing.assert_array_equal(nb.X[i], ds.X_pool[k])
        assert nb.y[i] == ds.y_pool[k]
        assert nb.replaced == (i, k) and nb.n == ds.n
        np.testing.assert_array_equal(nb.X_test, ds.X_test)


def test_pool_is_disjoint_from_train_and_test():
    ds = D.load("diabetes")
    train = {tuple(r) for r in ds.X}
    test = {tuple(r) for r in ds.X_test}
    pool = {tuple(r) for r in ds.X_pool}
    assert not pool & train and not pool & test and not train & test
    assert len(train) + len(test) + len(pool) == 442


def test_deterministic_and_seeded():
    a, b = D.synthetic_logistic(seed=3), D.synthetic_logistic(seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    c = D.synthetic_logistic(seed=4)
    assert not np.array_equal(a.X, c.X)
    r1, r2 = D.breast_cancer(seed=1), D.breast_cancer(seed=2)
    assert not np.array_equal(r1.X, r2.X)


def test_margin_before_label_noise():
    ds = D.synthetic_logistic(n=300, margin=0.5, label_flip=0.0, seed=2)
    info = ds.info
    u, mu, sd = (np.array(info[k]) for k in ("u", "feature_mean", "feature_std"))
    # undo the standardization: raw x = z·sd + mu, so uᵀx = (u⊙sd)ᵀz + uᵀmu
    for X, y in ((ds.X, ds.y), (ds.X_test, ds.y_test), (ds.X_pool, ds.y_pool)):
        s = X[:, :-1] @ (u * sd) + u @ mu
        assert np.all(y * s >= 0.5 - 1e-9)  # margin 0.5 up to rounding of the round trip
    noisy = D.synthetic_logistic(n=2000, margin=0.5, label_flip=0.1, seed=2)
    u, mu, sd = (np.array(noisy.info[k]) for k in ("u", "feature_mean", "feature_std"))
    s = noisy.X[:, :-1] @ (u * sd) + u @ mu
    flipped = np.mean(noisy.y * s < 0)
    assert 0.08 < flipped < 0.12  # 10% flips; binomial sd ≈ 0.7% at n = 2000


@pytest.mark.parametrize("kwargs, match", [
    ({"index": -1, "replacement": 0}, "index"),
    ({"index": 10_000, "replacement": 0}, "index"),
    ({"index": 0, "replacement": 99}, "replacement"),
    ({"index": 0.5, "replacement": 0}, "index"),
])
def test_neighbour_rejects_bad_input(kwargs, match):
    ds = D.load("diabetes")
    with pytest.raises((ValueError, TypeError), match=match):
        D.neighbour(ds, **kwargs)


def test_neighbour_of_neighbour_and_bad_names():
    ds = D.load("diabetes")
    with pytest.raises(ValueError, match="already a neighbour"):
        D.neighbour(D.neighbour(ds, 0, 0), 1, 1)
    with pytest.raises(ValueError, match="name"):
        D.load("mnist")
    with pytest.raises(ValueError, match="test_fraction"):
        D.diabetes(test_fraction=1.5)
    with pytest.raises(ValueError, match="label_flip"):
        D.synthetic_logistic(label_flip=0.9)
