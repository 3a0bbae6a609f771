"""One-step expansiveness: hand-checkable linear cases, the Jacobian variant, batches, bad input."""

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import theory

LAM = np.array([4.0, 1.5, 0.5, 0.2])


def _quadratic():
    f = st.Quadratic.from_eigenvalues(LAM, seed=3)
    evals, Q = np.linalg.eigh(f.H)  # ascending: evals ≈ sorted(LAM)
    return f, evals, Q


def test_gd_ratio_along_an_eigenvector_is_one_minus_eta_lambda():
    """GD on ½wᵀHw is the linear map I − ηH: for v = w + δq_k the ratio is |1 − ηλ_k|.

    The ratio is computed from G(w) − G(v), a difference of O(‖w‖) vectors equal to
    δ(I − ηH)q_k; with δ = 0.5 and ‖w‖ ≈ 2 the cancellation and the rounding of the rotated
    H (eigh of a Haar-rotated diagonal: ~1e-15) cost a few ulps relative to |1 − ηλ_k| ≥ 0.3
    (η chosen so), so 1e-12 relative is tight enough that any O(η²) or sign error fails."""
    f, evals, Q = _quadratic()
    rng = np.random.default_rng(0)
    for lr in (0.05, 0.12):
        for k in range(LAM.size):
            W = rng.standard_normal((3, LAM.size))
            V = W + 0.5 * Q[:, k]
            ratio = st.expansiveness(st.optimizer("sgd", lr=lr), f, W, V)
            expected = theory.gd_expansiveness(lr, evals[k])  # |1 − ηλ_k|
            assert expected >= 0.3
            np.testing.assert_allclose(ratio, np.full(3, expected), rtol=1e-12)


def test_usam_ratio_along_an_eigenvector():
    # USAM on a quadratic is the linear map I − η(H + ρH²); same tolerance reasoning as above
    f, evals, Q = _quadratic()
    W = np.random.default_rng(1).standard_normal((LAM.size, LAM.size))
    V = W + 0.5 * Q.T  # row k moves along q_k
    lr, rho = 0.05, 0.1
    ratio = st.expansiveness(st.optimizer("usam", lr=lr, rho=rho), f, W, V)
    np.testing.assert_allclose(ratio, theory.usam_expansiveness(lr, rho, evals), rtol=1e-12)


def test_jacobian_expansiveness_of_linear_steps_is_the_largest_multiplier():
    """Central differences of a linear map are exact up to rounding ε‖G(w)‖/h ≈ 1e-16/1e-6,
    so the spectral norm matches max|1 − ηλ| (GD) and max|1 − η(λ + ρλ²)| (USAM) to ~1e-10;
    1e-8 leaves room, and an error in either formula is O(1)."""
    f, _, _ = _quadratic()
    W = np.random.default_rng(2).standard_normal((20, LAM.size))
    lrs = np.linspace(0.05, 0.4, 20)  # one η per row
    gd = st.jacobian_expansiveness(st.optimizer("sgd", lr=lrs), f, W)
    np.testing.assert_allclose(gd, np.max(theory.gd_expansiveness(lrs[:, None], LAM), axis=1),
                               rtol=1e-8)
    usam = st.jacobian_expansiveness(st.optimizer("usam", lr=lrs, rho=0.2), f, W)
    np.testing.assert_allclose(
        usam, np.max(theory.usam_expansiveness(lrs[:, None], 0.2, LAM), axis=1), rtol=1e-8)
    # a single point gives a scalar
    one = st.jacobian_expansiveness(st.optimizer("sgd", lr=0.4), f, W[0])
    assert np.shape(one) == () and abs(one / gd[-1] - 1) <= 1e-8


def test_sam_expansion_grows_like_one_over_distance_to_the_minimizer():
    # SAM's step is w − η∇f(w + ρ g/‖g‖): the perturbation flips with w, so for the pair ±εu
    # the ratio is ~ηρ‖H²u‖/(ε‖Hu‖) → ∞ as ε → 0 (claim C08); 10x closer gives ≈ 10x the ratio
    f, _, _ = _quadratic()
    u = np.array([1.0, 2.0, -1.0, 0.5]) / np.sqrt(6.25)
    eps = np.array([1e-3, 1e-4])
    ratio = st.expansiveness(st.optimizer("sam", lr=0.05, rho=0.1), f, eps[:, None] * u,
                             -eps[:, None] * u)
    assert 9.5 < ratio[1] / ratio[0] < 10.5, ratio


def test_batch_equals_rows_and_minibatch_pairs():
    X = np.random.default_rng(4).standard_normal((30, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    f = st.LeastSquares(X, y)
    rng = np.random.default_rng(5)
    W, V = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    lrs, rhos = np.linspace(0.01, 0.3, 6), np.linspace(0.0, 0.5, 6)
    idx = rng.integers(0, 30, size=(6, 4))
    for name in st.RULES:
        opt = st.optimizer(name, lr=lrs, rho=rhos)
        batch = st.expansiveness(opt, f, W, V, idx=idx)
        jac = st.jacobian_expansiveness(opt, f, W, idx=idx)
        for i in range(6):
            one = st.optimizer(name, lr=lrs[i], rho=rhos[i])
            assert batch[i] == st.expansiveness(one, f, W[i], V[i], idx=idx[i])
            assert jac[i] == st.jacobian_expansiveness(one, f, W[i][None], idx=idx[i])[0]
    # GD on a minibatch of least squares is linear: the ratio along a direction u is
    # ‖(I − η X_bᵀX_b/b) u‖/‖u‖, here with one example: ‖u − η x (x·u)‖
    x = X[7]
    u = np.array([0.3, -0.1, 0.2])
    r = st.expansiveness(st.optimizer("sgd", lr=0.2), f, np.zeros(3), u, idx=np.array([7]))
    np.testing.assert_allclose(r, np.linalg.norm(u - 0.2 * x * (x @ u)) / np.linalg.norm(u),
                               rtol=1e-13)


def test_diverging_pairs_give_non_finite_ratios_without_warnings():
    # pytest runs with filterwarnings=error: an overflow warning would fail this test
    f = st.Quadratic(np.diag([1.0, -1.0]))
    W = np.array([[1e150, 1e150], [0.5, 0.5]])
    V = np.array([[-1e150, 1e150], [0.5, 0.6]])
    opt = st.optimizer("usam", lr=np.array([1.0, 0.1]), rho=np.array([1e200, 0.1]))
    r = st.expansiveness(opt, f, W, V)  # row 0: e = ρg ≈ 1e350 overflows
    assert not np.isfinite(r[0]) and np.isfinite(r[1])
    J = st.jacobian_expansiveness(opt, f, W)
    assert np.isnan(J[0]) and np.isfinite(J[1])


def _bad(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda f, o: st.expansiveness("sgd", f, np.ones(2), np.zeros(2)), TypeError,
     "opt must be an Optimizer"),
    (lambda f, o: st.expansiveness(o, "f", np.ones(2), np.zeros(2)), TypeError,
     "landscape must be a Landscape"),
    (lambda f, o: st.expansiveness(o, f, np.ones(3), np.zeros(3)), ValueError,
     r"W must have shape \(2,\) or \(B, 2\) with B >= 1, got shape \(3,\)"),
    (lambda f, o: st.expansiveness(o, f, np.ones((2, 2)), np.zeros(2)), ValueError,
     r"V must have the shape of W \(2, 2\), got shape \(2,\)"),
    (lambda f, o: st.expansiveness(o, f, np.ones((3, 2)), np.ones((3, 2)) * [[0], [1], [0]]),
     ValueError, r"W and V must differ in every row; equal in row\(s\) \[1\]"),
    (lambda f, o: st.expansiveness(o, f, [np.nan, 1.0], np.zeros(2)), ValueError,
     "W must be finite"),
    (lambda f, o: st.expansiveness(o, f, np.ones(2), [np.inf, 0.0]), ValueError,
     "V must be finite"),
    (lambda f, o: st.expansiveness(st.optimizer("sgd", lr=np.ones(3)), f, np.ones((2, 2)),
                                   np.zeros((2, 2))), ValueError,
     r"opt holds 3 values of lr/rho .* W has shape \(2, 2\)"),
    (lambda f, o: st.expansiveness(o, f, np.ones(2), np.zeros(2), idx=np.array([0])),
     ValueError, "idx needs a data landscape"),
    (lambda f, o: st.jacobian_expansiveness(o, f, np.ones(2), rel_h=0.0), ValueError,
     r"rel_h must be > 0.0, got 0.0"),
    (lambda f, o: st.jacobian_expansiveness(o, f, np.ones(2), rel_h=np.nan), ValueError,
     "rel_h must be finite"),
    (lambda f, o: st.jacobian_expansiveness(o, f, np.array([[1.0, 0.0], [0.0, 0.0]])),
     ValueError, r"W must have nonzero rows .* row\(s\) \[1\]"),
    (lambda f, o: st.jacobian_expansiveness(o, f, np.ones((2, 4))), ValueError,
     r"W must have shape \(2,\) or \(B, 2\)"),
])
def test_bad_input(call, exc, match):
    _bad(lambda: call(st.Quadratic(np.diag([1.0, 2.0])), st.optimizer("sgd", lr=0.1)), exc,
         match)


def test_bad_minibatch_input():
    f = st.LeastSquares(np.eye(3), np.ones(3))
    opt = st.optimizer("sam", lr=0.1, rho=0.1)
    _bad(lambda: st.expansiveness(opt, f, np.ones(3), np.zeros(3), idx=np.array([3])),
         ValueError, r"idx must lie in \[0, 3\)")
    _bad(lambda: st.jacobian_expansiveness(opt, f, np.ones((2, 3)),
                                           idx=np.zeros((3, 1), dtype=int)),
         ValueError, r"idx of shape \(3, 1\) needs W of shape \(3, 3\), got \(2, 3\)")
