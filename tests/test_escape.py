"""ssam_theory.escape: the quartic-walls saddle, paired starts, predicted outcomes, statistics."""

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import theory
from ssam_theory.claims._stats import holm, median_ci, paired_test
from ssam_theory.escape import (
    QuarticSaddle,
    _minibatch_mean,
    attraction_diagram,
    escape_steps,
    escape_steps_grid,
    predicted_outcome,
    start_seeds,
)

OUT = st.Outcome


def test_quartic_saddle_formula_gradient_hessian():
    f = QuarticSaddle(a=[1.0, 0.5], b=2.0, c=0.5)
    w = np.array([0.3, -0.2, 0.7])
    x1, x2, y = w
    assert f.loss(w) == pytest.approx(0.5 * (x1**2 + 0.5 * x2**2) - y**2 + 0.125 * y**4,
                                      rel=1e-15)
    # central differences: error O(h²) ≈ 1e-10 relative at h = 1e-5
    h = 1e-5
    num = [(f.loss(w + h * e) - f.loss(w - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(f.grad(w), num, rtol=1e-8)
    np.testing.assert_allclose(f.hessian(w), np.diag([1.0, 0.5, -2.0 + 1.5 * y**2]))
    assert f.basin == pytest.approx(np.sqrt(2.0 / 1.5))
    assert f.loss(f.saddle) == 0.0


def test_quartic_saddle_noise_and_bad_input():
    f = QuarticSaddle(a=1.0, b=1.0, c=1.0, n=64, sigma=0.3, seed=0)
    np.testing.assert_allclose(f.xi.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(f.xi.std(axis=0), 0.3, rtol=1e-12)
    W = np.zeros((2, 2))
    g = f.grad(W, np.array([[0, 1], [2, 3]]))
    np.testing.assert_allclose(g[0], f.xi[[0, 1]].mean(axis=0), rtol=1e-15)
    for kwargs, name in [({"a": [1.0, -1.0]}, "a"), ({"b": 0.0}, "b"), ({"c": -1.0}, "c"),
                         ({"sigma": 0.1}, "sigma"), ({"n": 1, "sigma": 0.1}, "n")]:
        with pytest.raises(ValueError, match=name):
            QuarticSaddle(**kwargs)
    with pytest.raises(ValueError, match="noisy"):
        QuarticSaddle().grad(np.zeros(2), np.array([0]))


def test_start_seeds_are_spawned_and_distinct():
    s = start_seeds(7, 50)
    assert s.size == 50 and np.unique(s).size == 50 and np.all(s >= 0)
    np.testing.assert_array_equal(s, start_seeds(7, 50))
    assert not np.array_equal(s, start_seeds(8, 50))


def test_ssam_saddle_multiplier_hand_step():
    # one SSAM step on the y-axis of ½(ax² − by²): y' = (1 − ηb·sign(ρb − 1))y, to rounding
    f = st.Quadratic(np.diag([0.7, -2.0]))
    W = np.array([[0.0, 0.3], [0.0, -0.4]])
    for rho in (0.2, 0.9):
        W1, _ = st.optimizer("ssam", lr=0.3, rho=rho).step(W, None, f.grad)
        m = theory.ssam_saddle_multiplier(0.3, rho, 2.0)
        np.testing.assert_allclose(W1[:, 1], m * W[:, 1], rtol=1e-15)
        assert np.all(W1[:, 0] == 0.0)


def test_predicted_outcomes_both_sides_of_each_threshold():
    """½(0.1x² − y²): SSAM held iff ρb > 1 and ηb < 2 (±2% around each edge), while USAM's
    held set ends at ηb(ρb − 1) = 2; the sweep agrees on both sides (3000 steps: the slowest
    multiplier here, 0.95, contracts 0.1 to 1e-3 in ~90 steps; near ηb = 2 the x-multiplier
    1 − ηa ≈ 0.8 and |1 − ηb| ≈ 0.96 need ~230)."""
    a, b = 0.1, 1.0
    f = st.Quadratic(np.diag([a, -b]))
    cases = [("ssam", 0.05, 1.02, OUT.TRAPPED), ("ssam", 0.05, 0.98, OUT.ESCAPED),
             # at ηb = 0.5, ρb = 0.98 γ = 50 drags x: |1 − ηa(1 + ρa)/|ρb − 1|| = 1.7
             ("ssam", 0.5, 0.98, OUT.DIVERGED),
             ("ssam", 1.96, 3.0, OUT.TRAPPED), ("ssam", 2.04, 3.0, OUT.ESCAPED),
             ("usam", 0.98, 3.0, OUT.TRAPPED), ("usam", 1.02, 3.0, OUT.ESCAPED)]
    for name, lr, rho, expected in cases:
        assert predicted_outcome(name, lr, rho, a, b) == expected
        # near an edge the multiplier is within 4% of ±1: 3000 steps contract 0.1 to 1e-3
        res = st.sweep(f, name, lr=lr, rho=rho, steps=3000, seeds=4, saddle=np.zeros(2))
        assert np.all(res.outcome == expected), (name, lr, rho)
    with pytest.raises(ValueError, match="name"):
        predicted_outcome("sam", 0.1, 0.1, a, b)


def test_ssam_escape_drags_x_when_rho_b_near_one():
    """SSAM with ρb = 0.8 escapes along y with γ = 1/|ρb − 1| = 5, which multiplies its
    x-step: x stable iff ηa(1 + ρa) < 2|ρb − 1| (theory.ssam_escape_x_multiplier). Just below
    (η = 0.9 × edge) the run escapes, just above (1.1 ×) x blows up with it: diverged."""
    a, b, rho = 1.0, 1.0, 0.8
    edge = 2 * abs(rho * b - 1) / (a * (1 + rho * a))
    f = st.Quadratic(np.diag([a, -b]))
    res = st.sweep(f, "ssam", lr=[0.9 * edge, 1.1 * edge], rho=rho, steps=3000, seeds=6,
                   saddle=np.zeros(2))
    assert np.all(res.outcome[0] == OUT.ESCAPED) and np.all(res.outcome[1] == OUT.DIVERGED)
    assert abs(theory.ssam_escape_x_multiplier(1.1 * edge, rho, a, b)) > 1


def test_paired_escape_steps_share_starts_and_noise():
    f = QuarticSaddle(a=[1.0], b=1.0, c=1.0, n=64, sigma=0.1, seed=3)
    seeds = start_seeds(0, 6)
    es = escape_steps(f, f.saddle, 0.1, 0.5, 300, seeds, escape_radius=f.basin, batch_size=4)
    again = escape_steps(f, f.saddle, 0.1, 0.5, 300, seeds, escape_radius=f.basin,
                         batch_size=4, names=("ssam",))
    np.testing.assert_array_equal(es.steps["ssam"], again.steps["ssam"])
    assert set(es.steps) == set(st.RULES) and es.starts.shape == (6, 2)
    # ρb = 0.5 < 1: SGD, USAM and SSAM escape from every start, SSAM before USAM
    for name in ("sgd", "usam", "ssam"):
        assert np.all(np.isfinite(es.steps[name]))
    assert np.all(es.steps["ssam"] < es.steps["usam"])


def test_attraction_diagram_fractions_sum_to_one():
    f = st.Quadratic(np.diag([1.0, -1.0]))
    d = attraction_diagram(f, np.zeros(2), [0.1, 1.0], [0.5, 2.0], 300, start_seeds(1, 3),
                           names=("sgd", "usam"))
    for name in ("sgd", "usam"):
        total = sum(d.fractions[name].values())
        np.testing.assert_allclose(total, 1.0)
        assert d.fractions[name]["escaped"].shape == (2, 2)
    # USAM η = 1, ρ = 2 on ½(x² − y²): diverged, never escaped
    assert d.fractions["usam"]["diverged"][1, 1] == 1.0


def test_statistics_helpers():
    # Holm on (0.01, 0.04, 0.03) with m = 3: 0.03, 0.06, 0.06 (step-down, monotone)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    med, lo, hi = median_ci(np.arange(1.0, 21.0))
    assert med == 10.5 and lo < med < hi
    # a is faster on every pair: one-sided p small, ratio < 1
    t = paired_test(np.arange(10, 30), np.arange(20, 40), budget=100)
    assert t["p_faster"] < 1e-4 and t["p_slower"] > 0.99 and t["ratio"] < 1
    # censored pairs (both not escaped) tie and are dropped
    t = paired_test(np.full(10, np.inf), np.full(10, np.inf), budget=100)
    assert t["p_faster"] == t["p_slower"] == 1.0 and t["nonzero"] == 0


def test_escape_steps_grid_equals_one_radius_at_a_time():
    """One sweep per rule over the ρ grid gives every radius's escape steps bit for bit (rows
    are row-local), with and without noise; SGD (ρ ignored) runs once."""
    seeds = start_seeds(4, 5)
    rhos = [0.5, 1.5, 3.0]
    for f, batch in ((QuarticSaddle(a=[1.0]), None),
                     (QuarticSaddle(a=[1.0, 0.5], n=32, sigma=0.3, seed=2), 4)):
        grid = escape_steps_grid(f, f.saddle, 0.1, rhos, 200, seeds, escape_radius=f.basin,
                                 batch_size=batch)
        assert len(grid) == len(rhos)
        for rho, es in zip(rhos, grid):
            one = escape_steps(f, f.saddle, 0.1, rho, 200, seeds, escape_radius=f.basin,
                               batch_size=batch)
            for name in st.RULES:
                np.testing.assert_array_equal(es.steps[name], one.steps[name])
                np.testing.assert_array_equal(es.outcome[name], one.outcome[name])
            np.testing.assert_array_equal(es.starts, one.starts)
    for bad in ([], [0.5, -1.0], [[0.5]]):
        with pytest.raises(ValueError, match="rho"):
            escape_steps_grid(f, f.saddle, 0.1, bad, 10, seeds)


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_minibatch_mean_is_numpys_mean(dim):
    """The quartic saddle's minibatch tilt: the bits of ``xi[idx].mean(axis=-2)`` for every
    batch size (a sum in index order, then one division), one or per-row minibatches."""
    f = QuarticSaddle(a=np.linspace(0.5, 1.0, dim - 1), n=50, sigma=0.7, seed=dim)
    rng = np.random.default_rng(dim)
    W = rng.standard_normal((7, dim))
    for b in (1, 2, 4, 9, 17):
        for idx in (rng.integers(0, f.n, (7, b)), rng.integers(0, f.n, b)):
            np.testing.assert_array_equal(_minibatch_mean(f.xi, idx), f.xi[idx].mean(axis=-2))
            np.testing.assert_array_equal(f.grad(W, idx), f.grad(W) + f.xi[idx].mean(axis=-2))


def test_quartic_saddle_powers_by_multiplication():
    """The cube of the gradient and the fourth power of the loss are products (the same bits
    on every CPU), within an ulp or two of the exact powers."""
    f = QuarticSaddle(a=[1.0], b=1.0, c=1.0)
    y = np.random.default_rng(0).standard_normal(1000)
    W = np.stack([np.zeros_like(y), y], axis=1)
    np.testing.assert_array_equal(f.grad(W)[:, 1], -y + y * y * y)
    np.testing.assert_allclose(f.grad(W)[:, 1], -y + y**3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(f.loss(W), -0.5 * y**2 + 0.25 * y**4, rtol=1e-12, atol=1e-15)
