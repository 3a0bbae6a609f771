"""The update rules against their equations: hand-computed steps, every option, batched."""

import itertools
import math

import numpy as np
import pytest
from reference import reference_step

import ssam_theory as st

# Relative tolerance of one step against the plain-Python reference: both evaluate the same
# equations in float64 with a different order of a few operations (einsum vs sequential sums,
# the quadratic's gradient through einsum), so they differ by a few ulps (~1e-16); 1e-13 leaves
# room for the cancellation in w - η d, and is far below any formula error (>= 1e-3 here).
RTOL = 1e-13

H5 = st.Quadratic.from_eigenvalues([7.0, 3.0, 1.0, -0.5, -2.0], seed=3)  # indefinite, dense
BEALE = st.Beale()


def _grad_list(land):
    return lambda w: land.grad(np.array(w)).tolist()


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(1.0, float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) <= rtol * scale


# --------------------------------------------------------------------------- by hand


def test_ssam_step_by_hand():
    """SSAM on f = ½(10x² + y²) from w = (1, 1), η = 0.1, ρ = 0.05, worked out on paper."""
    f = st.Quadratic(np.diag([10.0, 1.0]))
    opt = st.optimizer("ssam", lr=0.1, rho=0.05)
    w = np.array([1.0, 1.0])
    # g = (10, 1); e = ρg = (0.5, 0.05); w + e = (1.5, 1.05); g̃ = (15, 1.05)
    # γ = ‖g‖/‖g̃‖ = √101 / √226.1025
    gamma = math.sqrt(101.0) / math.sqrt(226.1025)
    expected = [1.0 - 0.1 * gamma * 15.0, 1.0 - 0.1 * gamma * 1.05]
    w1, state = opt.step(w, opt.init(w), f.grad)
    assert _close(w1, expected)
    assert state.count == 1
    # the renormalized direction has exactly the norm of g
    d = (w - w1) / 0.1
    assert abs(np.linalg.norm(d) - math.sqrt(101.0)) <= 1e-13 * math.sqrt(101.0)


def test_sam_step_by_hand():
    """SAM: e = ρ g/‖g‖ = 0.05 (10, 1)/√101; g̃ = H (w + e)."""
    f = st.Quadratic(np.diag([10.0, 1.0]))
    opt = st.optimizer("sam", lr=0.1, rho=0.05)
    w = np.array([1.0, 1.0])
    n = math.sqrt(101.0)
    wp = [1.0 + 0.05 * 10.0 / n, 1.0 + 0.05 / n]
    expected = [1.0 - 0.1 * 10.0 * wp[0], 1.0 - 0.1 * wp[1]]
    w1, _ = opt.step(w, opt.init(w), f.grad)
    assert _close(w1, expected)


def test_usam_is_linear_map_on_quadratic():
    """C02's form: USAM on ½wᵀHw is w ← (I − η(H + ρH²)) w exactly (up to rounding)."""
    H = H5.H
    w = np.linspace(-1.0, 1.0, 5)
    eta, rho = 0.07, 0.3
    opt = st.optimizer("usam", lr=eta, rho=rho)
    w1, _ = opt.step(w, opt.init(w), H5.grad)
    assert _close(w1, (np.eye(5) - eta * (H + rho * H @ H)) @ w)


def test_nssam_with_momentum_and_weight_decay_two_steps_by_hand():
    """NSSAM with PyTorch SGD base: buf = d first, then μ buf + d; d includes λ_wd w."""
    f = st.Quadratic(np.diag([2.0, 1.0]))
    opt = st.optimizer("nssam", lr=0.1, rho=0.2, momentum=0.9, weight_decay=0.01)
    w0 = np.array([3.0, 4.0])
    # step 1: g = (6, 4), ‖g‖ = √52; e = 0.2 g/√52; g̃ = H(w + e); d = γ g̃ + 0.01 w
    g = np.array([6.0, 4.0])
    e = 0.2 * g / math.sqrt(52.0)
    gt = np.array([2.0, 1.0]) * (w0 + e)
    d1 = math.sqrt(52.0) / math.hypot(*gt) * gt + 0.01 * w0
    w1_expected = w0 - 0.1 * d1
    w1, state = opt.step(w0, opt.init(w0), f.grad)
    assert _close(w1, w1_expected)
    np.testing.assert_allclose(state.momentum_buffer, d1, rtol=RTOL)
    # step 2
    g = np.array([2.0, 1.0]) * w1
    e = 0.2 * g / np.linalg.norm(g)
    gt = np.array([2.0, 1.0]) * (w1 + e)
    d2 = np.linalg.norm(g) / np.linalg.norm(gt) * gt + 0.01 * w1
    w2, state = opt.step(w1, state, f.grad)
    assert _close(w2, w1 - 0.1 * (0.9 * d1 + d2))


# --------------------------------------------------------------- every option vs reference

OPTION_SETS = [
    {},
    {"adaptive": True},
    {"truncate": True},
    {"adaptive": True, "truncate": True},
    {"momentum": 0.9, "weight_decay": 5e-3},
    {"adaptive": True, "momentum": 0.5, "weight_decay": 1e-2},
    {"truncate": True, "momentum": 0.9, "weight_decay": 5e-3},
]


def _defined(name, opts):
    """Options a rule accepts: truncate needs γ (ssam, nssam), adaptive a perturbation."""
    if name == "sgd" and (opts.get("adaptive") or opts.get("truncate")):
        return False
    return not (name in ("sam", "usam") and opts.get("truncate"))


CASES = [(n, o, e) for n, o, e in itertools.product(st.RULES, OPTION_SETS, [0.0, 1e-12])
         if _defined(n, o)]
RULE_OPTIONS = [(n, o) for n, o in itertools.product(st.RULES, OPTION_SETS) if _defined(n, o)]


@pytest.mark.parametrize(("name", "opts", "eps"), CASES,
                         ids=[f"{n}-{'+'.join(o) or 'plain'}-eps{e:g}" for n, o, e in CASES])
@pytest.mark.parametrize("land", [H5, BEALE], ids=["quadratic5", "beale"])
def test_steps_match_reference(name, opts, eps, land):
    """Three steps (so momentum buffers matter) of single and batched iterates."""
    rng = np.random.default_rng(0)
    B = 4
    if land is BEALE:  # near the minimizer (3, 0.5), where gradients stay moderate
        W = BEALE.minimizer + rng.uniform(-0.3, 0.3, size=(B, 2))
        rho = rng.uniform(0.001, 0.02, size=B)
    else:
        W = rng.uniform(-1.5, 1.5, size=(B, land.dim))
        rho = rng.uniform(0.01, 0.3, size=B)
    lr = rng.uniform(0.001, 0.02, size=B)
    batch = st.optimizer(name, lr=lr, rho=rho, eps=eps, **opts)
    state = batch.init(W)
    ref = [(W[i].tolist(), None) for i in range(B)]
    for _ in range(3):
        W, state, info = batch.step_with_info(W, state, land.grad)
        for i in range(B):
            w_i, buf_i = ref[i]
            w_i, buf_i, gamma_i = reference_step(name, w_i, buf_i, _grad_list(land), lr[i],
                                                 rho[i], eps=eps, **opts)
            ref[i] = (w_i, buf_i)
            assert _close(W[i], w_i), (i, W[i], w_i)
            assert abs(info.gamma[i] - gamma_i) <= RTOL * max(1.0, gamma_i)
    assert state.count == 3


@pytest.mark.parametrize(("name", "opts"), RULE_OPTIONS,
                         ids=[f"{n}-{'+'.join(o) or 'plain'}" for n, o in RULE_OPTIONS])
def test_batch_equals_rows_bit_for_bit(name, opts):
    rng = np.random.default_rng(1)
    B = 37
    lr = rng.uniform(0.0, 0.3, size=B)
    rho = rng.uniform(0.0, 0.5, size=B)
    for land in (H5, BEALE, st.Quadratic(np.diag([10.0, 1.0, -3.0]))):
        small = 0.05 if land is BEALE else 1.0  # Beale's gradients are large away from (3, ½)
        W = rng.normal(size=(B, land.dim)) * small + (BEALE.minimizer if land is BEALE else 0)
        batch = st.optimizer(name, lr=lr * small, rho=rho * small, **opts)
        state = batch.init(W)
        Wb = W
        for _ in range(4):
            Wb, state = batch.step(Wb, state, land.grad)
        for i in range(B):
            one = st.optimizer(name, lr=lr[i] * small, rho=rho[i] * small, **opts)
            w = W[i]
            s = one.init(w)
            for _ in range(4):
                w, s = one.step(w, s, land.grad)
            assert np.all(np.isfinite(w))
            assert np.array_equal(w, Wb[i]), (land, i)


def test_sgd_ignores_rho_and_matches_gd():
    f = st.Quadratic(np.diag([10.0, 1.0]))
    w = np.array([1.0, -2.0])
    for rho in (0.0, 0.7):
        w1, _ = st.optimizer("sgd", lr=0.05, rho=rho).step(w, None, f.grad)
        np.testing.assert_array_equal(w1, w - 0.05 * np.array([10.0, -2.0]))


# ------------------------------------------------------------------------ zero gradient


@pytest.mark.parametrize(("name", "opts", "eps"), CASES,
                         ids=[f"{n}-{'+'.join(o) or 'plain'}-eps{e:g}" for n, o, e in CASES])
def test_zero_gradient_is_defined(name, opts, eps):
    """At the minimizer and at Beale's saddle g = 0: the step stays put, no NaN, no warning.

    filterwarnings = error turns any division or invalid-value warning into a failure.
    """
    opts = {k: v for k, v in opts.items() if k != "weight_decay"}  # wd moves w ≠ 0 by design
    for land, w in ((st.Quadratic(np.diag([10.0, 1.0]), center=[0.5, -1.0]),
                     np.array([0.5, -1.0])),
                    (BEALE, BEALE.saddle.copy()),
                    (st.Quadratic(np.diag([1.0, -1.0])), np.zeros(2))):
        opt = st.optimizer(name, lr=0.1, rho=0.5, eps=eps, **opts)
        w1, _, info = opt.step_with_info(w, opt.init(w), land.grad)
        np.testing.assert_array_equal(w1, w)
        assert np.isfinite(info.gamma)
        if eps == 0.0:
            assert info.gamma == 1.0  # γ = 1 where the norm vanishes


def test_renormalization_factor():
    assert st.renormalization_factor(3.0, 4.0) == 0.75
    assert st.renormalization_factor(3.0, 0.0) == 1.0
    assert st.renormalization_factor(0.0, 0.0) == 1.0
    assert st.renormalization_factor(0.0, 0.0, eps=1e-12) == 0.0
    assert st.renormalization_factor(3.0, 4.0, eps=1.0) == 0.6
    assert st.renormalization_factor(5.0, 4.0, truncate=True) == 1.0
    np.testing.assert_array_equal(st.renormalization_factor(np.array([1.0, 2.0]), 2.0),
                                  [0.5, 1.0])


# -------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"name": "adam"}, ValueError, "name must be one of.*'adam'"),
    ({"name": 3}, TypeError, "name must be a str"),
    ({"lr": -0.1}, ValueError, r"lr must be >= 0.*-0.1"),
    ({"lr": float("nan")}, ValueError, "lr must be finite.*nan"),
    ({"lr": float("inf")}, ValueError, "lr must be finite.*inf"),
    ({"lr": "0.1"}, TypeError, "lr must be a real number"),
    ({"rho": -1.0}, ValueError, r"rho must be >= 0.*-1.0"),
    ({"rho": float("nan")}, ValueError, "rho must be finite"),
    ({"rho": np.array([0.1, np.inf])}, ValueError, "rho must be finite"),
    ({"rho": np.zeros((2, 2))}, ValueError, "rho must be a scalar or a non-empty 1-D"),
    ({"lr": np.ones(3), "rho": np.ones(4)}, ValueError, "same shape"),
    ({"momentum": 1.0}, ValueError, r"momentum must be < 1.0, got 1.0"),
    ({"momentum": -0.1}, ValueError, r"momentum must be >= 0.0, got -0.1"),
    ({"weight_decay": -1e-4}, ValueError, "weight_decay must be >= 0.0"),
    ({"eps": -1e-12}, ValueError, "eps must be >= 0.0"),
    ({"eps": float("nan")}, ValueError, "eps must be finite"),
    ({"truncate": 1}, TypeError, "truncate must be a bool"),
    ({"name": "sam", "truncate": True}, ValueError, "truncate=True applies to ssam and nssam"),
    ({"name": "sgd", "adaptive": True}, ValueError, "adaptive=True needs a perturbation"),
])
def test_bad_options(kwargs, exc, match):
    kwargs = {"name": "ssam", **kwargs}
    with pytest.raises(exc, match=match):
        st.optimizer(**kwargs)


def test_bad_iterates():
    f = st.Quadratic(np.diag([1.0, 2.0]))
    opt = st.optimizer("ssam", lr=np.array([0.1, 0.2, 0.3]), rho=0.1)
    with pytest.raises(ValueError, match=r"lr/rho hold 3 values.*shape \(2, 2\)"):
        opt.init(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"lr/rho hold 3 values.*shape \(2,\)"):
        opt.step(np.zeros(2), None, f.grad)
    with pytest.raises(ValueError, match=r"w must have shape \(d,\) or \(B, d\)"):
        st.optimizer("sgd").init(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="w must be a float64 array, got dtype int64"):
        st.optimizer("sgd").init(np.zeros(2, dtype=np.int64))


def test_diverging_rows_are_isolated_in_one_step():
    """A row that overflows becomes inf/NaN silently; its neighbours are untouched."""
    f = st.Quadratic(np.diag([10.0, 1.0]))
    opt = st.optimizer("ssam", lr=np.array([0.5, 0.05]), rho=1.0)
    W = np.array([[1e200, 1e200], [1.0, 1.0]])  # ‖g‖² overflows: γ = inf/inf
    W1, _ = opt.step(W, opt.init(W), f.grad)
    assert not np.all(np.isfinite(W1[0]))
    w_alone, _ = st.optimizer("ssam", lr=0.05, rho=1.0).step(W[1], None, f.grad)
    np.testing.assert_array_equal(W1[1], w_alone)
