"""Linear models: coupled training, the Hardt bound (C13) and the plain η sweep ``lr_regime``."""

import functools
import json
from dataclasses import replace

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import data as D
from ssam_theory import linear as lin
from ssam_theory import theory
from ssam_theory.claims.linear import check_c13


@pytest.fixture(scope="module")
def cancer():
    return D.load("breast_cancer")


@pytest.fixture(scope="module")
def diabetes():
    return D.load("diabetes")


# ------------------------------------------------------------------------- coupling machinery

@pytest.mark.parametrize("name", ["diabetes", "breast_cancer"])
def test_minibatch_gradient_is_mean_of_per_example_gradients(name):
    ds = D.load(name)
    land = ds.landscape()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, ds.d))
    idx = rng.integers(0, ds.n, size=7)
    per = np.stack([land.grad(W, idx[k:k + 1]) for k in range(idx.size)])
    # summation order differs (one einsum over 7 terms vs a mean of 7 results): rounding only
    np.testing.assert_allclose(land.grad(W, idx), per.mean(axis=0), rtol=1e-13, atol=1e-15)
    rows = rng.integers(0, ds.n, size=(3, 5))
    per_row = np.stack([np.mean([land.grad(W[r], rows[r, k:k + 1]) for k in range(5)], axis=0)
                        for r in range(3)])
    np.testing.assert_allclose(land.grad(W, rows), per_row, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("rule", st.RULES)
def test_augmented_coupling_equals_separate_runs_bit_for_bit(diabetes, rule):
    """The S′ rows of a coupled batch are exactly a run on neighbour(S, i*, k)."""
    ds, pair, steps, b = diabetes, (5, 2), 60, 4
    tr, shape, base = lin.coupled_run(ds, rule, functools.partial(st.optimizer, rule),
                                       [0.05, 0.2], [0.1, 0.1], (3,), [pair], steps, b,
                                       record=True)
    its = tr.iterates.reshape(steps + 1, *shape, ds.d)
    nb = D.neighbour(ds, *pair)
    for c, lr in enumerate((0.05, 0.2)):
        opt = st.optimizer(rule, lr=lr, rho=0.1)
        on_s = st.run(opt, ds.landscape(), np.zeros(ds.d), steps, indices=base[0],
                      record_iterates=True)
        on_sp = st.run(opt, nb.landscape(), np.zeros(ds.d), steps, indices=base[0],
                       record_iterates=True)
        np.testing.assert_array_equal(its[:, c, 0, 0, 0], on_s.iterates)
        np.testing.assert_array_equal(its[:, c, 0, 0, 1], on_sp.iterates)


@pytest.mark.parametrize("rule", ("sgd", "usam", "nssam"))
def test_compact_rows_equal_pair_rows_bit_for_bit(diabetes, rule):
    """compact=True runs S once per seed; every row equals its row in the (C, S, K, 2) layout."""
    pairs, lrs = lin.default_replacements(diabetes, 3), [0.02, 2.0]  # 2.0: diverges
    args = (diabetes, rule, functools.partial(st.optimizer, rule), lrs, [0.1, 0.1], (0, 4),
            pairs, 50, 2)
    full, shape, _ = lin.coupled_run(*args, record=True, record_loss=False)
    comp, cshape, _ = lin.coupled_run(*args, record=True, record_loss=False, compact=True)
    assert shape == (2, 2, 3, 2) and cshape == (2, 2, 4)
    its = full.iterates.reshape(51, *shape, diabetes.d)
    cits = comp.iterates.reshape(51, *cshape, diabetes.d)
    at, cat = full.diverged_at.reshape(shape), comp.diverged_at.reshape(cshape)
    assert (at >= 0).any()
    for k in range(3):
        np.testing.assert_array_equal(its[..., k, 0, :], cits[..., 0, :])
        np.testing.assert_array_equal(its[..., k, 1, :], cits[..., 1 + k, :])
        np.testing.assert_array_equal(at[..., k, 0], cat[..., 0])
        np.testing.assert_array_equal(at[..., k, 1], cat[..., 1 + k])


def test_max_finite_ratio_skips_diverged_runs_without_warnings(diabetes):
    res = lin.coupled_stability(diabetes, ("sgd",), [0.01, 1.0], steps=200, seeds=(0, 1),
                                replace=lin.default_replacements(diabetes, 2))
    assert res.diverged[0, 1].all()  # every run at η = 1 diverged: no finite ratio
    worst = res.max_finite_ratio()  # the test suite turns warnings into errors
    ratio = res.ratio()[0, 0]
    assert worst.shape == (1, 2) and np.isnan(worst[0, 1])
    assert worst[0, 0] == np.max(ratio[np.isfinite(ratio)])


def test_c13_experiment_key_is_the_same_for_claim_and_notebook():
    """check_c13 passes (config, rules=None), notebook 04 (config): one shared result."""
    from ssam_theory._shared import share_key

    f = lin.stability_experiment.__wrapped__
    assert share_key(f, (lin.StabilityConfig.full(),), {}) == share_key(
        f, (lin.StabilityConfig.full(), None), {}) is not None


@pytest.mark.parametrize("rule", st.RULES)
def test_identical_data_gives_zero_distance_exactly(cancer, rule):
    """A 'replacement' equal to the replaced example: δ_t = 0 exactly, at every t."""
    seqs = [st.minibatch_indices(cancer.n, 2, 300, s) for s in (0, 1)]
    i = int(np.intersect1d(seqs[0], seqs[1])[0])  # drawn by both seeds
    twin = replace(cancer, X_pool=cancer.X[i:i + 1].copy(), y_pool=cancer.y[i:i + 1].copy())
    res = lin.coupled_stability(twin, (rule,), [0.01, 0.5], rho=0.05, steps=300, seeds=(0, 1),
                                batch_size=2, replace=[(i, 0)])
    assert res.count[..., -1].min() > 0  # i* was drawn, so the twin example was used
    assert np.all(res.delta == 0.0)


def test_distance_is_zero_until_the_replaced_example_is_drawn(diabetes):
    res = lin.coupled_stability(diabetes, st.RULES, [0.01, 0.04], rho=0.02, steps=400,
                                seeds=(0, 1), batch_size=1,
                                replace=lin.default_replacements(diabetes, 2))
    before = res.count[None, None] == 0  # (1, 1, S, K, T+1)
    assert np.all(res.delta[np.broadcast_to(before, res.delta.shape)] == 0.0)
    assert np.any(res.delta[..., -1] > 0)


def test_coupled_stability_is_deterministic(cancer):
    kw = dict(rules=("sgd", "ssam"), lrs=[0.01], rho=0.05, steps=50, seeds=(4,), batch_size=3)
    a, b = lin.coupled_stability(cancer, **kw), lin.coupled_stability(cancer, **kw)
    np.testing.assert_array_equal(a.delta, b.delta)
    np.testing.assert_array_equal(a.bound, b.bound)


def test_count_and_bound_use_theory_formula(diabetes):
    res = lin.coupled_stability(diabetes, ("sgd",), [0.01], steps=300, seeds=(1,),
                                batch_size=3, replace=[(4, 0)])
    idx = st.minibatch_indices(diabetes.n, 3, 300, 1)
    # Σ_t m_t / b with m_t the multiplicity of i* in batch t
    assert res.count[0, 0, -1] == pytest.approx(np.sum(idx == 4) / 3, abs=0)
    np.testing.assert_array_equal(res.bound[0, 0, 0, 0],
                                  theory.hardt_bound(0.01, res.L[0, 0, 0, 0], res.count[0, 0]))


def test_least_squares_L_is_the_largest_gradient_norm_visited(diabetes):
    """L (least squares) = max over t, both runs of the pair and z ∈ S ∪ S′ of ‖∇ℓ_z(w)‖,
    recomputed here by brute force with the landscapes' own per-example gradients."""
    pair, steps, lr = (11, 1), 40, 0.03
    res = lin.coupled_stability(diabetes, ("usam",), [lr], rho=0.05, steps=steps, seeds=(2,),
                                replace=[pair])
    idx = st.minibatch_indices(diabetes.n, 1, steps, 2)
    nb = D.neighbour(diabetes, *pair)
    opt = st.optimizer("usam", lr=lr, rho=0.05)
    union = D.Dataset("u", "least_squares", np.vstack([diabetes.X, nb.X[pair[0]][None]]),
                      np.append(diabetes.y, nb.y[pair[0]]), diabetes.X_test, diabetes.y_test,
                      diabetes.X_pool, diabetes.y_pool).landscape()
    every = np.arange(union.n)[:, None]
    best = 0.0
    for ds in (diabetes, nb):
        its = st.run(opt, ds.landscape(), np.zeros(ds.d), steps, indices=idx,
                     record_iterates=True).iterates
        for w in its:
            g = union.grad(np.broadcast_to(w, (union.n, ds.d)), every)
            best = max(best, np.max(np.linalg.norm(g, axis=1)))
    assert res.L[0, 0, 0, 0] == pytest.approx(best, rel=1e-12)


# ------------------------------------------------------------------------------- C13 (Hardt)

@pytest.mark.parametrize("name", ["breast_cancer", "synthetic_logistic"])
def test_sgd_respects_hardt_bound_on_logistic_every_seed(name):
    """Hardt et al. Thm 3.7: η ≤ 2/β (per-example β), L exact: the bound at every t, every seed."""
    ds = D.load(name)
    hardt = theory.gd_max_lr(ds.beta_example)
    res = lin.coupled_stability(ds, ("sgd",), [0.25 * hardt, hardt], steps=600,
                                seeds=(0, 1, 2, 3, 4), batch_size=1,
                                replace=lin.default_replacements(ds, 3))
    assert res.count[..., -1].max() > 0
    assert res.respects_bound().all()
    assert np.all(res.L == ds.lipschitz)


def test_sgd_nonexpansive_below_and_expansive_above_threshold():
    """The mechanism of the bound: without i* in the batch, an SGD step with η ≤ 2/β never
    increases δ (one-step map is 1-Lipschitz); at η = 1.5·2/β it does on least squares, where
    the step on the largest-norm example multiplies its direction by 1 − η‖x‖² = −2."""
    ds = D.load("synthetic_least_squares")
    hardt = theory.gd_max_lr(ds.beta_example)
    res = lin.coupled_stability(ds, ("sgd",), [hardt, 1.5 * hardt], steps=3000, seeds=(0,),
                                batch_size=1, replace=[(3, 0)])
    growth = np.diff(res.delta[0, :, 0, 0], axis=-1)
    no_hit = np.diff(res.count[0, 0]) == 0
    # below: never grows (1e-12 relative: rounding in δ's norm)
    assert np.all(growth[0][no_hit] <= 1e-12 * res.delta[0, 0, 0, 0, 1:][no_hit])
    assert np.any(growth[1][no_hit] > 1e-6)


def test_ssam_equals_sgd_with_single_examples(cancer, diabetes):
    """b = 1 on linear/logistic models: ∇ℓ_i(w) ∥ x_i and ∇ℓ_i(w + e) = c·∇ℓ_i(w) with c > 0
    (convexity), so γ∇ℓ_i(w + e) = ∇ℓ_i(w): ssam and nssam retrace sgd up to rounding.
    With b = 4 the minibatch gradient is no longer rank one and they differ."""
    for ds in (cancer, diabetes):
        lr = 0.5 * theory.gd_max_lr(ds.beta_example)
        one = lin.coupled_stability(ds, ("sgd", "ssam", "nssam"), [lr], rho=0.05, steps=300,
                                    seeds=(0,), batch_size=1)
        # 1e-10 absolute on δ of order 1e-2: rounding accumulated over 300 steps
        np.testing.assert_allclose(one.delta[1], one.delta[0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(one.delta[2], one.delta[0], rtol=0, atol=1e-10)
        four = lin.coupled_stability(ds, ("sgd", "ssam"), [lr], rho=0.05, steps=300,
                                     seeds=(0,), batch_size=4)
        assert np.max(np.abs(four.delta[1] - four.delta[0])) > 1e-6


@pytest.mark.slow  # over ~2 s on two cores
def test_c13_check_quick(quick_checks):
    # C13 from the session's quick registry run (tests/conftest.py), not a second run
    (out,) = [r for c, r in quick_checks if c.id == "C13"]
    assert out.verdict == "holds"  # [peer] theorem: a violation would be a bug
    for name in D.DATASETS:
        assert name in out.measured
        ev = out.evidence["datasets"][name]
        assert ev["sgd_respects_all_within"] and ev["n"] > 0 and ev["beta_example"] > 0
    json.dumps(out.evidence, allow_nan=False)


# ------------------------------------------------------------------------- lr_regime (η sweep)

def test_usam_and_ssam_edges_on_diabetes(diabetes):
    """Just below / just above the thresholds on least squares (ρβ = 2). Below at 0.6× and
    above at 1.5× the prediction: minibatch noise (b = 32) puts even SGD's edge at 0.8–1.0 of
    2/β, and 1.5× leaves room for that shift."""
    beta, rho = diabetes.beta, 2.0 / diabetes.beta
    pu, pg = theory.usam_max_lr(beta, rho), theory.gd_max_lr(beta)
    lrs = [0.6 * pu, 1.5 * pu, 0.6 * pg, 1.5 * pg]
    res = lin.lr_regime(diabetes, ("sgd", "usam", "ssam"), lrs, [rho], steps=300,
                        seeds=(0, 1), batch_size=32)
    stable = res.stable()[:, 0]
    assert stable[1].tolist() == [True, False, False, False]  # usam
    assert stable[2].tolist() == [True, True, True, False]  # ssam
    assert stable[0].tolist() == [True, True, True, False]  # sgd
    assert res.usam_max_lr[0] == pytest.approx(pu) and res.gd_max_lr == pytest.approx(pg)
    # least squares: the Hessian is XᵀX/n everywhere, so sharpness at w_T is β exactly
    ok = ~res.diverged
    np.testing.assert_allclose(res.sharpness[ok], beta, rtol=1e-10)


def test_regime_divergence_is_an_outcome(diabetes):
    res = lin.lr_regime(diabetes, ("sgd", "usam"), [0.01, 50.0], [0.5], steps=100, seeds=(0,))
    assert res.diverged[:, 0, 1].all() and not res.diverged[:, 0, 0].any()
    assert np.isinf(res.test_loss[:, 0, 1]).all() and np.isinf(res.delta[:, 0, 1]).all()
    assert res.stable()[:, 0].tolist() == [[True, False], [True, False]]


@pytest.mark.slow  # over ~2 s on two cores
def test_checks_can_fail_with_injected_rules(diabetes):
    """C13 measures the rules it is given: SGD run at 4× the stated η breaks the bound."""
    from ssam_theory import optimizer

    def fast_sgd(lr, rho, **options):
        return optimizer("sgd", lr=4 * lr, rho=rho, **options)

    cfg = replace(lin.StabilityConfig.quick(), datasets=("synthetic_least_squares",))
    out = check_c13(config=cfg, rules={"sgd": fast_sgd})
    assert out.verdict == "violated" and out.evidence["counterexample"] is not None

    with pytest.raises(TypeError, match=r"rules\['sgd'\]"):
        lin.lr_regime(diabetes, {"sgd": lambda lr, rho: None}, [0.1], [0.1], steps=2)


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, match", [
    ({"rules": ("adam",)}, "rules"),
    ({"lrs": [-0.1]}, "lrs"),
    ({"lrs": [np.inf]}, "lrs"),
    ({"steps": 0}, "steps"),
    ({"seeds": ()}, "seeds"),
    ({"batch_size": 0}, "batch_size"),
    ({"replace": [(10_000, 0)]}, "replace"),
    ({"rho": -1.0}, "rho"),
])
def test_coupled_stability_rejects_bad_input(diabetes, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lin.coupled_stability(diabetes, **kwargs)


def test_rejects_neighbour_as_base(diabetes):
    with pytest.raises(TypeError, match="dataset"):
        lin.coupled_stability(D.neighbour(diabetes, 0, 0))
    with pytest.raises(TypeError, match="dataset"):
        lin.lr_regime("diabetes")
    with pytest.raises(ValueError, match="rhos"):
        lin.lr_regime(diabetes, rhos=[-0.1])


def test_seeds_mean_what_they_mean_in_sweep(diabetes):
    """A count n means seeds 0 … n-1 here too (as in st.sweep), a sequence the seeds
    themselves: seeds=2 and seeds=(0, 1) are the same experiment, bit for bit."""
    a = lin.coupled_stability(diabetes, ("sgd",), [0.01], steps=5, seeds=2)
    b = lin.coupled_stability(diabetes, ("sgd",), [0.01], steps=5, seeds=(0, 1))
    assert a.seeds == (0, 1) == b.seeds
    assert a.delta.tobytes() == b.delta.tobytes()
