"""Landscapes: gradients and Hessians against finite differences, batches, bad input."""

import numpy as np
import pytest

import ssam_theory as st


def _data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    return X, y


def _landscapes():
    X, y = _data()
    return {
        "quadratic": st.Quadratic.from_eigenvalues([5.0, 2.0, 0.5, -1.0], seed=1,
                                                   center=[0.1, -0.2, 0.3, 0.0]),
        "diagonal": st.Quadratic(np.diag([10.0, 1.0])),
        "beale": st.Beale(),
        "least_squares": st.LeastSquares(X, y),
        "logistic": st.Logistic(X, np.sign(y), l2=0.01),
        "noisy_quadratic": st.NoisyQuadratic(np.diag([2.0, -1.0, 0.5]), n=16, sigma=0.3,
                                             seed=3),
    }


LANDSCAPES = _landscapes()


def _fd_grad(f, w, h):
    g = np.empty_like(w)
    for k in range(w.size):
        e = np.zeros_like(w)
        e[k] = h
        g[k] = (f(w + e) - f(w - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", LANDSCAPES)
def test_gradient_and_hessian_match_central_differences(name):
    """Central differences have error O(h²)·|f'''| + O(ε_mach·|f|/h); h = 1e-5 gives ~1e-9
    relative for these smooth, O(1)-scaled functions, so 1e-6 is a safe bound that any wrong
    term in a formula (error O(1)) would break."""
    land = LANDSCAPES[name]
    rng = np.random.default_rng(7)
    for _ in range(3):
        w = rng.uniform(-1, 1, size=land.dim) + (np.array([2.5, 0.5]) if name == "beale" else 0)
        g = land.grad(w)
        np.testing.assert_allclose(g, _fd_grad(land.loss, w, 1e-5), rtol=1e-6, atol=1e-6)
        H = land.hessian(w)
        H_fd = np.stack([_fd_grad(lambda x, k=k: land.grad(x)[k], w, 1e-5)
                         for k in range(land.dim)])
        np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(H, H.T)


@pytest.mark.parametrize("name", LANDSCAPES)
def test_batch_equals_rows(name):
    land = LANDSCAPES[name]
    W = np.random.default_rng(2).normal(size=(9, land.dim))
    L, G = land.loss(W), land.grad(W)
    assert L.shape == (9,) and G.shape == (9, land.dim)
    for i in range(9):
        assert land.loss(W[i]) == L[i]
        np.testing.assert_array_equal(land.grad(W[i]), G[i])


def test_beale_saddle_and_minimum():
    b = st.Beale()
    np.testing.assert_array_equal(b.grad(b.saddle), [0.0, 0.0])
    np.testing.assert_allclose(np.linalg.eigvalsh(b.hessian(b.saddle)), [-27.75, 27.75],
                               rtol=1e-15)
    assert b.loss(b.minimizer) == 0.0
    np.testing.assert_array_equal(b.grad(b.minimizer), [0.0, 0.0])


def test_quadratic_from_eigenvalues():
    lam = [10.0, 1.0, 0.1, -2.0]
    q = st.Quadratic.from_eigenvalues(lam, seed=5)
    np.testing.assert_allclose(q.eigenvalues, sorted(lam), rtol=1e-13, atol=1e-13)
    assert not np.allclose(q.H, np.diag(np.diag(q.H)))  # really rotated
    np.testing.assert_array_equal(q.H, st.Quadratic.from_eigenvalues(lam, seed=5).H)
    assert not np.array_equal(q.H, st.Quadratic.from_eigenvalues(lam, seed=6).H)


def test_quadratic_values():
    q = st.Quadratic(np.diag([2.0, -1.0]), center=[1.0, 1.0])
    assert q.loss(np.array([2.0, 3.0])) == 0.5 * (2.0 * 1.0 - 1.0 * 4.0)
    np.testing.assert_array_equal(q.grad(np.array([2.0, 3.0])), [2.0, -2.0])


@pytest.mark.parametrize("cls", [st.LeastSquares, st.Logistic])
def test_minibatch_gradient_is_mean_of_per_example_gradients(cls):
    X, y = _data(n=30, d=3)
    land = cls(X, np.sign(y)) if cls is st.Logistic else cls(X, y)
    W = np.random.default_rng(3).normal(size=(5, 3))
    idx = np.array([0, 7, 7, 29])
    per_example = np.stack([land.grad(W, np.array([i])) for i in idx])
    np.testing.assert_allclose(land.grad(W, idx), per_example.mean(axis=0), rtol=1e-14,
                               atol=1e-15)
    # a full "minibatch" is the full gradient
    np.testing.assert_allclose(land.grad(W, np.arange(30)), land.grad(W), rtol=1e-13,
                               atol=1e-15)
    # one minibatch per row
    idx_rows = np.random.default_rng(4).integers(0, 30, size=(5, 6))
    G = land.grad(W, idx_rows)
    for i in range(5):
        np.testing.assert_array_equal(G[i], land.grad(W[i], idx_rows[i]))


def test_noisy_quadratic_noise_has_variance_sigma_squared_per_coordinate():
    H = st.Quadratic.from_eigenvalues([3.0, 1.0, -0.5], seed=2).H
    land = st.NoisyQuadratic(H, n=50, sigma=0.7, seed=4)
    w = np.array([0.3, -1.2, 0.8])
    # per-example gradients ∇f_i(w) = Hw + ξ_i: their mean is Hw and their (population)
    # variance is σ² in every coordinate. Centring and scaling are exact up to rounding of a
    # 50-term sum of O(1) numbers (~1e-15 relative), hence 1e-13; an unscaled or uncentred
    # draw of 50 Gaussians misses σ² or 0 by ~10 %.
    noise = np.stack([land.grad(w, np.array([i])) for i in range(50)]) - land.grad(w)
    np.testing.assert_allclose(noise.var(axis=0), np.full(3, 0.7**2), rtol=1e-13)
    np.testing.assert_allclose(noise.mean(axis=0), np.zeros(3), atol=1e-14)
    np.testing.assert_allclose(land.xi.var(axis=0), np.full(3, 0.49), rtol=1e-13)
    # seeded: the same arguments give the same tilts, another seed other ones
    np.testing.assert_array_equal(st.NoisyQuadratic(H, 50, 0.7, seed=4).xi, land.xi)
    assert not np.array_equal(st.NoisyQuadratic(H, 50, 0.7, seed=5).xi, land.xi)
    # σ = 0 is the noiseless quadratic
    np.testing.assert_array_equal(st.NoisyQuadratic(H, 50, 0.0).grad(w, np.array([1, 2])),
                                  land.quadratic.grad(w))


def test_noisy_quadratic_full_and_minibatch_gradients():
    H = np.array([[2.0, 0.5], [0.5, -1.0]])
    land = st.NoisyQuadratic(H, n=12, sigma=1.5, seed=0)
    W = np.random.default_rng(5).normal(size=(4, 2))
    # the full gradient is Hw: exactly Quadratic(H).grad (the tilts cancel in the mean)
    np.testing.assert_array_equal(land.grad(W), st.Quadratic(H).grad(W))
    np.testing.assert_allclose(land.grad(W), W @ H, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(land.loss(W), st.Quadratic(H).loss(W))
    np.testing.assert_array_equal(land.hessian(W[0]), H)
    # a minibatch gradient is the mean of its per-example gradients Hw + ξ_i; they differ by
    # the order of the sums (Hw + mean ξ vs mean of Hw + ξ_i): rounding, ~1e-16 of O(1) terms
    idx = np.array([0, 7, 7, 11])
    per_example = np.stack([land.grad(W, np.array([i])) for i in idx])
    np.testing.assert_allclose(land.grad(W, idx), per_example.mean(axis=0), rtol=1e-14,
                               atol=1e-15)
    np.testing.assert_allclose(land.grad(W[0], np.array([3])), H @ W[0] + land.xi[3],
                               rtol=1e-15, atol=1e-15)
    # all n examples: the full gradient (the tilts are centred), to rounding
    np.testing.assert_allclose(land.grad(W, np.arange(12)), land.grad(W), rtol=1e-14,
                               atol=1e-14)
    # one minibatch per row equals the rows one by one, bit for bit
    idx_rows = np.random.default_rng(6).integers(0, 12, size=(4, 3))
    G = land.grad(W, idx_rows)
    for i in range(4):
        np.testing.assert_array_equal(G[i], land.grad(W[i], idx_rows[i]))


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    (dict(H=np.ones((2, 3))), ValueError, r"H must be square, got shape \(2, 3\)"),
    (dict(H=[[1.0, 2.0], [0.0, 1.0]]), ValueError, "H must be symmetric"),
    (dict(H=[[np.nan, 0.0], [0.0, 1.0]]), ValueError, "H must be finite"),
    (dict(n=1), ValueError, "n must be >= 2, got 1"),
    (dict(n=0), ValueError, "n must be >= 2, got 0"),
    (dict(n=2.5), TypeError, "n must be an integer, got 2.5"),
    (dict(sigma=-0.1), ValueError, r"sigma must be >= 0.0, got -0.1"),
    (dict(sigma=np.inf), ValueError, "sigma must be finite, got inf"),
    (dict(sigma="1"), TypeError, "sigma must be a real number, got '1'"),
])
def test_bad_noisy_quadratic_input(kwargs, exc, match):
    args = dict(H=np.eye(2), n=8, sigma=1.0) | kwargs
    with pytest.raises(exc, match=match):
        st.NoisyQuadratic(**args)


def test_bad_noisy_quadratic_indices():
    land = st.NoisyQuadratic(np.eye(3), n=10, sigma=1.0)
    with pytest.raises(ValueError, match=r"W must have shape \(3,\) or \(B, 3\)"):
        land.grad(np.zeros(2), np.array([0]))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 10\), got values in \[0, 10\]"):
        land.grad(np.zeros(3), np.array([0, 10]))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 10\)"):
        land.grad(np.zeros(3), np.array([-1]))
    with pytest.raises(TypeError, match="idx must be an integer array"):
        land.grad(np.zeros(3), np.array([0.5]))
    with pytest.raises(ValueError, match=r"idx must have shape \(b,\) or \(B, b\)"):
        land.grad(np.zeros(3), np.array([], dtype=int))
    with pytest.raises(ValueError, match=r"idx of shape \(2, 1\) needs W"):
        land.grad(np.zeros((3, 3)), np.zeros((2, 1), dtype=int))


def test_logistic_labels_01_are_converted():
    X, y = _data()
    a = st.Logistic(X, (y > 0).astype(float))
    b = st.Logistic(X, np.where(y > 0, 1.0, -1.0))
    np.testing.assert_array_equal(a.y, b.y)


def test_logistic_is_stable_for_large_margins():
    X = np.array([[1.0], [-1.0]])
    land = st.Logistic(X, [1.0, -1.0])
    assert land.loss(np.array([1e4])) == 0.0
    np.testing.assert_array_equal(land.grad(np.array([-1e4])), [-1.0])


@pytest.mark.parametrize(("make", "exc", "match"), [
    (lambda: st.Quadratic(np.ones((2, 3))), ValueError, r"H must be square, got shape \(2, 3\)"),
    (lambda: st.Quadratic([[1.0, 2.0], [0.0, 1.0]]), ValueError, "H must be symmetric"),
    (lambda: st.Quadratic([[1.0, np.nan], [np.nan, 1.0]]), ValueError, "H must be finite"),
    (lambda: st.Quadratic(np.ones(3)), ValueError, "H must be 2-D"),
    (lambda: st.Quadratic([["a"]]), TypeError, "H must be an array of real numbers"),
    (lambda: st.Quadratic(np.eye(2), center=[1.0]), ValueError, "center must have shape"),
    (lambda: st.Quadratic.from_eigenvalues([]), ValueError, "eigenvalues must not be empty"),
    (lambda: st.Quadratic.from_eigenvalues([1.0, np.inf]), ValueError,
     "eigenvalues must be finite"),
    (lambda: st.LeastSquares(np.ones((3, 2)), np.ones(4)), ValueError,
     r"same number of rows, got X \(3, 2\) and y \(4,\)"),
    (lambda: st.LeastSquares(np.ones((3, 2)), [1.0, np.nan, 0.0]), ValueError,
     "y must be finite"),
    (lambda: st.LeastSquares(np.full((3, 2), np.inf), np.ones(3)), ValueError,
     "X must be finite"),
    (lambda: st.Logistic(np.ones((3, 2)), [1.0, 2.0, -1.0]), ValueError,
     r"labels in \{-1, \+1\}.*\[-1.0, 1.0, 2.0\]"),
    (lambda: st.Logistic(np.ones((3, 2)), [1.0, 1.0, -1.0], l2=-1.0), ValueError,
     "l2 must be >= 0.0"),
])
def test_bad_landscape_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_iterates_and_indices():
    X, y = _data(n=10, d=3)
    land = st.LeastSquares(X, y)
    with pytest.raises(ValueError, match=r"W must have shape \(3,\) or \(B, 3\)"):
        land.grad(np.zeros(2))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 10\)"):
        land.grad(np.zeros(3), np.array([10]))
    with pytest.raises(TypeError, match="idx must be an integer array"):
        land.grad(np.zeros(3), np.array([0.5]))
    with pytest.raises(ValueError, match=r"idx of shape \(2, 1\) needs W"):
        land.grad(np.zeros((3, 3)), np.zeros((2, 1), dtype=int))
