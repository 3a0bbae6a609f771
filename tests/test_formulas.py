"""The shared formulas: one root behind λ*, λ_edge and a*; SAM's multiplier; SSAM's rate."""

import numpy as np
import sympy as sp

import ssam_theory as st
from ssam_theory import theory as th

eta, rho, c, g, lam, lam_neg = th.eta, th.rho, th.coef, th.gnorm, th.lam, th.lam_neg


def test_stability_root_solves_its_equation_and_tends_to_gd():
    r = th.stability_root.expr
    assert sp.simplify(eta * r + eta * c * r**2 - 2) == 0
    assert sp.limit(r, c, 0) == 2 / eta
    assert sp.simplify(r - th.stability_root.numeric_expr) == 0


def test_lambda_star_edge_and_trap_are_the_same_root():
    root = th.stability_root.expr
    assert sp.simplify(th.usam_max_curvature.expr - root.subs(c, rho)) == 0
    assert sp.simplify(th.sam_edge.expr - root.subs(c, rho / g)) == 0
    assert sp.simplify(th.sam_trap_max_curvature.expr - root.subs(c, 1 / lam_neg)) == 0
    # the NumPy twins agree too (to rounding: 1e-15 relative)
    x = np.geomspace(1e-3, 10, 5)
    assert np.allclose(th.usam_max_curvature(x, x), th.stability_root(x, x), rtol=1e-15)


def test_sam_multiplier_is_minus_one_at_the_edge():
    m = th.sam_multiplier.expr.subs(lam, th.sam_edge.expr)
    assert sp.simplify(m + 1) == 0
    # just below the edge |m| < 1, just above |m| > 1 (η = 0.1, ρ = 0.05, ‖g‖ = 1)
    edge = th.sam_edge(0.1, 0.05, 1.0)
    assert abs(th.sam_multiplier(0.1, 0.05, 0.99 * edge, 1.0)) < 1
    assert abs(th.sam_multiplier(0.1, 0.05, 1.01 * edge, 1.0)) > 1


def test_ssam_contraction_matches_one_hand_checked_step():
    """H = diag(10, 1), w = (1, 1e-8): SSAM's γ is ‖Hw‖/‖(H + ρH²)w‖ ≈ 1/(1 + 10ρ), so the
    small component is multiplied by 1 − η·1·(1 + ρ)/(1 + 10ρ) (to O(1e-16) from the
    small component's share of the norms)."""
    f = st.Quadratic(np.diag([10.0, 1.0]))
    lr, r = 0.15, 0.3
    w = np.array([1.0, 1e-8])
    w1, _ = st.optimizer("ssam", lr=lr, rho=r).step(w, None, f.grad)
    assert abs(w1[1] / w[1] - (1 - lr * 1.0 * (1 + r) / (1 + 10 * r))) < 1e-12
    assert abs(th.ssam_contraction(lr, r, 1.0, 10.0) - abs(1 - lr * (1 + r) / (1 + 10 * r))) \
        < 1e-15
    # the top direction contracts like GD's: SSAM's threshold is 2/λ_max
    assert th.ssam_contraction(lr, r, 10.0, 10.0) == th.gd_expansiveness(lr, 10.0)
