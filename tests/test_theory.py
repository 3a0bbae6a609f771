"""Symbolic identities and limits of the formulas in ssam_theory.theory, and their twins."""

import numpy as np
import pytest
import sympy as sp

import ssam_theory as st
from ssam_theory import theory as th

eta, rho, lam, g, b = th.eta, th.rho, th.lam, th.gnorm, th.b


def test_rho_to_zero_gives_gd_threshold():
    """ρ → 0: SAM's edge (any ‖g‖) and USAM's sharpest curvature both tend to GD's 2/η,
    and USAM's largest learning rate to GD's 2/λ."""
    assert sp.limit(th.sam_edge.expr, rho, 0) == 2 / eta
    assert sp.limit(th.usam_max_curvature.expr, rho, 0) == 2 / eta
    assert sp.limit(th.usam_max_lr.expr, rho, 0) == th.gd_max_lr.expr
    # the numerically stable forms that were lambdified are the same functions
    for f in (th.sam_edge, th.usam_max_curvature):
        assert sp.simplify(f.expr - f.numeric_expr) == 0
        assert f.numeric_expr.subs(rho, 0) == 2 / eta


def test_sam_edge_solves_its_equation_and_lies_below_gd():
    edge = th.sam_edge.expr
    assert sp.simplify(eta * edge + eta * rho * edge**2 / g - 2) == 0
    roots = sp.solve(sp.Eq(eta * lam + eta * rho * lam**2 / g, 2), lam)
    positive = [r for r in roots if sp.simplify(r - edge) == 0]
    assert len(positive) == 1
    # below 2/η: with q = √(1 + 8ρ/(η‖g‖)) = 1 + p, p > 0, 2/η − edge = (2/η)·p/(2 + p) > 0
    p = sp.Symbol("p", positive=True)
    q = sp.sqrt(1 + 8 * rho / (eta * g))
    diff = (2 / eta - th.sam_edge.numeric_expr).subs(q, 1 + p)
    assert sp.simplify(diff - 2 * p / (eta * (2 + p))) == 0
    assert sp.simplify(diff).is_positive


def test_usam_max_curvature_inverts_usam_max_lr():
    lam_star = th.usam_max_curvature.expr
    assert sp.simplify(eta * (lam_star + rho * lam_star**2) - 2) == 0
    assert sp.simplify(th.usam_max_lr.expr.subs(lam, lam_star) - eta) == 0


def test_c04_cycle_is_sams_edge():
    """At C04's 2-cycle ±c v₁ the gradient norm is λ₁c, and λ₁ equals the C05 edge computed
    from that ‖g‖ (Long & Bartlett's observation, exact on a quadratic)."""
    # 0 < ηλ < 2 written as η = 2u/(λ(1 + u)), u > 0 (needed: √((4 − ηλ)²) = 4 − ηλ)
    u = sp.Symbol("u", positive=True)
    c = th.sam_cycle_amplitude.expr
    edge_at_cycle = th.sam_edge.expr.subs(g, lam * c)
    diff = sp.simplify((edge_at_cycle - lam).subs(eta, 2 * u / (lam * (1 + u))))
    diff = diff.replace(lambda x: x.is_Pow and x.exp == sp.S.Half,
                        lambda x: sp.sqrt(sp.factor(x.base)))  # √((u + 2)²) = u + 2
    assert sp.simplify(diff) == 0
    # and the cycle is a 2-cycle of the 1-D map x' = x − ηλ(x + ρ sign x)
    assert sp.simplify(c - eta * lam * (c + rho) + c) == 0
    assert sp.simplify(th.sam_loss_floor.expr - lam * c**2 / 2) == 0


def test_c04_transverse_multiplier_in_unit_interval():
    r = sp.Symbol("r", positive=True)  # λ_i / λ_max < 1
    m = th.sam_transverse_multiplier.expr.subs(th.lam_i, r * th.lam_max)
    # m + 1 = 2(1 − r²) − ηλ_max r (1 − r) ... factorises with a positive factor when ηλ_max < 2
    assert sp.factor(m + 1) == sp.factor((1 - r) * (2 + 2 * r - eta * th.lam_max * r))
    assert sp.simplify(1 - m - (eta * r * th.lam_max + r**2 * (2 - eta * th.lam_max))) == 0


def test_c09_saddle_thresholds():
    m = th.usam_saddle_multiplier.expr
    assert sp.simplify(m.subs(rho, 1 / b) - 1) == 0  # ρ = 1/b: neutral
    assert sp.simplify(m.subs(eta, th.usam_saddle_max_lr.expr) + 1) == 0  # edge: −1
    assert sp.limit(m, rho, 0) == 1 + eta * b  # GD's multiplier on −b curvature


def test_c10_trap_curvature_is_sams_edge_at_trap_gradient():
    a_star = th.sam_trap_max_curvature.expr
    ln = th.lam_neg
    assert sp.simplify(th.sam_edge.expr.subs(g, rho * ln) - a_star) == 0
    # it solves ηa²/(2 − ηa) = |λ_neg| (the x-cycle's gradient reaches ρ|λ_neg|)
    assert sp.simplify(eta * a_star**2 - ln * (2 - eta * a_star)) == 0
    assert sp.simplify(a_star.subs(eta, 1 / ln) - ln) == 0  # a* = |λ_neg| at η = 1/|λ_neg|
    assert sp.simplify(a_star - th.sam_trap_max_curvature.numeric_expr) == 0


def test_c15_constant():
    beta = th.beta
    coef = th.usam_descent_coefficient.expr
    corner = coef.subs({rho: 1 / (2 * beta), eta: 1 / (4 * beta)})
    assert sp.simplify(corner) == sp.Rational(7, 32)
    assert sp.Rational(7, 32) >= sp.Rational(218, 1000)
    # decreasing in η and ρ on the positive orthant, so the corner is the minimum
    assert sp.simplify(-sp.diff(coef, eta)).is_positive
    assert sp.simplify(-sp.diff(coef, rho)).is_positive


def test_c17_rate_from_balance():
    """Balance ηλ_max²r = 2 substituted into the limit multiplier 1 − ηλ_i²r."""
    r = sp.Symbol("r", positive=True)
    li, lm = th.lam_i, th.lam_max
    r_star = sp.solve(sp.Eq(eta * lm**2 * r, 2), r)[0]
    assert sp.simplify((1 - eta * li**2 * r).subs(r, r_star) - th.nssam_contraction.expr) == 0
    assert sp.simplify(th.nssam_rate_lr_range.expr - 2 * th.lam_min / lm**2) == 0


def test_c17_exact_rate_is_self_consistent_and_reduces_to_stated():
    """The top multiplier −q_s and the slowest rate q_s = 1 − ηλ_min²r agree at
    ηr = 2/(λ_max² + λ_min²); to first order in (λ_min/λ_max)² the exact rate is the
    stated 1 − 2(λ_i/λ_max)²."""
    li, lm, ln = th.lam_i, th.lam_max, th.lam_min
    x = sp.Symbol("x", positive=True)  # x = ηr
    x_star = sp.solve(sp.Eq(eta * 0 + x * lm**2 - 1, 1 - x * ln**2), x)[0]
    assert sp.simplify(x_star - 2 / (lm**2 + ln**2)) == 0
    assert sp.simplify((1 - li**2 * x_star) - th.nssam_rate.expr) == 0
    eps = sp.Symbol("epsilon", positive=True)  # λ_min = ε λ_max
    series = sp.series(th.nssam_rate.expr.subs(ln, eps * lm), eps, 0, 2).removeO()
    assert sp.simplify(series - th.nssam_contraction.expr) == 0


def _leading_gap_series(usam_msd):
    """SGD's minus USAM's MSD at fixed t = kη: the leading order in η, then its series in
    t to O(t²), as (coefficient of t, coefficient of t²)."""
    t, k = th.t, th.k_steps
    gap = (th.sgd_saddle_msd.expr - usam_msd.expr).subs(k, t / eta)
    lead = sp.limit(gap / eta, eta, 0) * eta  # η s [(e^{2|λ|t} − 1)/(2|λ|) − …]
    series = sp.series(lead, t, 0, 3).removeO()
    return sp.expand(series.coeff(t, 1)), sp.expand(series.coeff(t, 2))


@pytest.mark.slow  # over ~2 s on two cores
def test_c12_kim_model_gap_is_kims_formula():
    """Kim's noise model (SAM's noise = SGD's, only the drift changes): the O(t) terms
    cancel and the leading gap ηsρλ²t² equals Kim et al.'s 2ηt²|λ|³ρ/B exactly when the
    per-step noise variance is s = 2|λ|/B (covariance ∝ |H|/B)."""
    c1, c2 = _leading_gap_series(th.usam_saddle_msd_kim)
    s, t = th.noise, th.t
    assert c1 == 0
    assert sp.simplify(c2 - eta * s * rho * lam**2) == 0
    kim = th.kim_msd_gap.expr
    assert sp.simplify((c2 * t**2).subs(s, 2 * lam / th.batch) - kim) == 0
    # any other noise level gives another coefficient: the identification is not vacuous
    assert sp.simplify((c2 * t**2).subs(s, lam / th.batch) - kim) != 0


def test_c12_same_minibatch_gap_is_order_t():
    """Both gradients on the same minibatch: the gap's leading term is O(t) with
    coefficient ηsρ|λ|(2 − ρ|λ|), i.e. 2ρ|λ|ηs to first order in ρ."""
    c1, _ = _leading_gap_series(th.usam_saddle_msd)
    s = th.noise
    assert sp.simplify(c1 - eta * s * rho * lam * (2 - rho * lam)) == 0
    assert sp.series(c1, rho, 0, 2).removeO() == 2 * rho * lam * eta * s


@pytest.mark.slow  # over ~2 s on two cores
def test_c12_msd_formulas_are_the_recursions():
    """E y_k² = η²c²s Σ_{j<k} m^{2j} for y_{k+1} = m y_k − ηcξ_k (Var ξ = s), summed
    term by term for k = 0..5 (m, c of SGD, same-minibatch USAM, Kim-model USAM)."""
    s = th.noise
    m_usam = 1 + eta * lam * (1 - rho * lam)
    for f, m, c in ((th.sgd_saddle_msd, 1 + eta * lam, 1),
                    (th.usam_saddle_msd, m_usam, 1 - rho * lam),
                    (th.usam_saddle_msd_kim, m_usam, 1)):
        ey2 = sp.Integer(0)
        for k in range(6):
            assert sp.simplify(f.expr.subs(th.k_steps, k) - ey2) == 0, (f.name, k)
            ey2 = m**2 * ey2 + eta**2 * c**2 * s


@pytest.mark.parametrize("name", sorted(th.FORMULAS))
def test_twin_agrees_with_expression(name):
    """The lambdified twin equals the sympy expression evaluated at random positive points
    (relative 1e-12: both are float64 evaluations of the same function, stable forms differ
    from the stated ones by a few ulps)."""
    f = th.FORMULAS[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        vals = rng.uniform(0.05, 0.45, size=len(f.params))
        got = f(*vals)
        want = float(f.expr.subs(dict(zip(f.symbols, vals))).evalf(30))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-300)


def test_twins_broadcast_and_check_input():
    out = th.sam_edge(0.1, np.array([0.01, 0.1]), np.array([[1.0], [2.0]]))
    assert out.shape == (2, 2) and out.dtype == np.float64
    assert isinstance(th.gd_max_lr(4.0), float) and th.gd_max_lr(4.0) == 0.5
    assert th.sam_edge(lr=0.1, rho=0.0, grad_norm=1.0) == 20.0
    with pytest.raises(ValueError, match="lr"):
        th.sam_edge(-0.1, 0.05, 1.0)
    with pytest.raises(ValueError, match="grad_norm"):
        th.sam_edge(0.1, 0.05, np.nan)
    with pytest.raises(TypeError, match="missing"):
        th.sam_edge(0.1, 0.05)
    with pytest.raises(TypeError, match="unexpected"):
        th.gd_max_lr(lam=1.0, rho=2.0)
    with pytest.raises(TypeError, match="lam"):
        th.gd_max_lr("a")


def test_exported():
    assert st.theory.hardt_bound(0.1, 2.0, 3) == pytest.approx(1.2, rel=1e-15)
