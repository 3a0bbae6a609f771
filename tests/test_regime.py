"""The learning-rate regime (C14a, C14b) and batch size 1 (C18) on linear models."""

import functools
from dataclasses import replace

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import data as D
from ssam_theory import regime, theory
from ssam_theory.claims.regime import check_c14a, check_c14b, check_c18, holm
from ssam_theory.single_example import single_example_gap


@pytest.fixture(scope="module")
def tight():
    return D.load(D.TIGHT, n=50)


def scaled(name, factor):
    """Rule ``name`` run at ``factor``·η: for SSAM, the same as γ multiplied by ``factor``."""
    def factory(lr, rho, **options):
        return st.optimizer(name, lr=factor * lr, rho=rho, **options)
    return factory


# ----------------------------------------------------------------------------- formulas

def test_usam_bound_reduces_to_hardt_and_scales_by_one_plus_rho_beta():
    assert theory.usam_stability_bound(0.1, 2.0, 0.0, 5.0, 3.0) == theory.hardt_bound(0.1, 2.0, 3)
    # 2·0.1·2·(1 + 0.2·5)·3 = 2.4 (by hand)
    assert theory.usam_stability_bound(0.1, 2.0, 0.2, 5.0, 3.0) == pytest.approx(2.4, rel=1e-15)
    assert theory.usam_example_lr(0.1, 0.5, 4.0) == pytest.approx(0.3, rel=1e-15)


def test_batch_smoothness_is_the_minibatch_hessian_top_eigenvalue(tight):
    ds = D.load("diabetes")
    idx = np.array([[3, 7, 7, 100], [0, 1, 2, 3]])
    for row, b in zip(idx, regime.batch_smoothness(ds, idx)):
        H = ds.X[row].T @ ds.X[row] / 4  # least-squares minibatch Hessian
        assert b == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-12)  # rounding only
    cancer = D.load("breast_cancer")
    row = np.array([5, 9])
    H = cancer.X[row].T @ cancer.X[row] / (4 * 2)  # σ'(·) ≤ 1/4
    assert regime.batch_smoothness(cancer, row) == pytest.approx(np.linalg.eigvalsh(H)[-1],
                                                                 rel=1e-12)
    # one example of norm² d: β_B = d exactly (up to rounding of the normalization)
    np.testing.assert_allclose(regime.batch_smoothness(tight, np.arange(50)[:, None]), 20.0,
                               rtol=1e-13)


def test_min_train_loss():
    ls = D.load("diabetes")
    w = np.linalg.solve(ls.X.T @ ls.X, ls.X.T @ ls.y)
    assert regime.min_train_loss(ls) == pytest.approx(float(ls.landscape().loss(w)), rel=1e-10)
    assert regime.min_train_loss(D.load("breast_cancer")) == 0.0  # separable training split
    syn = D.load("synthetic_logistic")  # label noise: finite minimizer
    m = regime.min_train_loss(syn)
    assert 0 < m < syn.landscape().loss(np.zeros(syn.d))


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 → 3·0.01, 2·0.02, 1·0.04 (then monotone)
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])


# ---------------------------------------------------------------- the tight set, both sides

def test_tight_set_edges_are_exact_on_both_sides(tight):
    """Equal norms, b = 1: USAM's map along x_i is 1 − ηβ(1+ρβ), SGD's 1 − ηβ, so USAM
    diverges (growth exponent > 0) just above 2/(β(1+ρβ)) = (2/β)/3 and not just below, SGD
    and SSAM (= SGD at b = 1) at 2/β. ±5%: the exponent is then ±0.003–0.006 per step,
    against a seed-to-seed spread far smaller over 200 steps (every seed agrees)."""
    f = (0.95 / 3, 1.05 / 3, 0.95, 1.05)
    r = regime.regime_runs(tight, ("sgd", "usam", "ssam"), f, 2.0, steps=200, seeds=16,
                           batch_size=1)
    assert r.beta == pytest.approx(20.0, rel=1e-12)
    div = r.diverged.mean(axis=-1)
    assert div[1].tolist() == [0.0, 1.0, 1.0, 1.0]  # usam
    assert div[0].tolist() == div[2].tolist() == [0.0, 0.0, 0.0, 1.0]  # sgd, ssam
    # below their conditions the Hardt-type bound holds at every t on every seed
    ok = r.respects_bound()
    assert ok[0, :3].all() and ok[1, 0].all()
    assert not ok[1, 1:].all()  # and USAM breaks it above its condition


def test_delta_is_zero_until_the_replaced_example_is_drawn(tight):
    r = regime.regime_runs(tight, ("sgd", "usam"), (0.2,), 2.0, steps=100, seeds=4,
                           batch_size=1)
    before = np.broadcast_to(r.count[None, None] == 0, r.delta.shape)
    assert np.all(r.delta[before] == 0.0)


# ------------------------------------------------------------------------------------ C18

def test_single_usam_step_by_hand():
    """x = (1, 2), y = 1, w = (1, 0): r = xᵀw − y = 0 − ... = 1·1 + 0 − 1 = 0 is trivial, so
    take w = (1, 1): r = 2, g = r x = (2, 4); USAM: e = ρg, r̃ = xᵀ(w + ρg) − y = 2 + 10ρ;
    ρ = 0.1: g̃ = 3·(1, 2) = (1 + ρ‖x‖²)·g; SSAM: γ = ‖g‖/‖g̃‖ = 2/3 → γg̃ = g."""
    land = st.LeastSquares(np.array([[1.0, 2.0]]), np.array([1.0]))
    w = np.array([1.0, 1.0])
    grad = functools.partial(land.grad, idx=np.array([0]))
    w_usam, _ = st.optimizer("usam", lr=0.1, rho=0.1).step(w, None, grad)
    np.testing.assert_allclose(w_usam, w - 0.1 * np.array([3.0, 6.0]), rtol=1e-15)
    w_ssam, _ = st.optimizer("ssam", lr=0.1, rho=0.1).step(w, None, grad)
    np.testing.assert_allclose(w_ssam, w - 0.1 * np.array([2.0, 4.0]), rtol=1e-15)


def test_c18_holds_and_a_wrong_gamma_flips_it():
    out = check_c18(quick=True)
    assert out.verdict == "holds" and len(out.rows) == 10 and all(r.passes for r in out.rows)
    # γ multiplied by 1 + 1e-6: a real difference of ~1e-7, far above the 1e-12 tolerance
    wrong = check_c18(quick=True, rules={"ssam": scaled("ssam", 1 + 1e-6)}, steps=50)
    assert wrong.verdict == "violated"
    assert wrong.evidence["counterexample"]["rule"] == "ssam"


def test_c18_usam_identity_fails_with_a_wrong_perturbation():
    """USAM with 1.1ρ is not SGD at η(1 + ρ‖x‖²): the predicted twin no longer matches."""
    gap = single_example_gap(D.load("diabetes"), {"usam": lambda lr, rho, **o:
                                                  st.optimizer("usam", lr=lr, rho=1.1 * rho)},
                             steps=50)
    assert gap["usam"].max() > 1e-6 and gap["ssam"].max() < 1e-12


def test_c18_runs_are_shared_with_the_notebook_call(tmp_path, monkeypatch):
    """Inside one reproduce run, notebook 06's call loads what claim C18 computed."""
    import ssam_theory.single_example as se
    from ssam_theory._shared import SHARE_ENV

    monkeypatch.setenv(SHARE_ENV, str(tmp_path))
    assert check_c18(quick=True).verdict == "holds"

    def no_second_run(*args, **kwargs):
        raise AssertionError("computed again")

    monkeypatch.setattr(se, "_lean_coupled", no_second_run)
    gap = single_example_gap(D.load("diabetes"), steps=200)  # as notebook 06 calls it
    assert set(gap) == {"ssam", "nssam", "usam", "moved"}


def test_c14_experiment_key_is_the_same_for_claims_and_notebook():
    from ssam_theory._shared import share_key

    f = regime.regime_experiment.__wrapped__
    assert share_key(f, (regime.RegimeConfig.full(),), {}) == share_key(
        f, (regime.RegimeConfig.full(), None), {}) is not None


def test_single_example_gap_compare_runs_only_the_named_rules():
    ds = D.load("diabetes")
    every = single_example_gap(ds, steps=30)
    only = single_example_gap(ds, steps=30, compare=("ssam",))
    assert set(every) == {"ssam", "nssam", "usam", "moved"} and set(only) == {"ssam", "moved"}
    np.testing.assert_array_equal(only["ssam"], every["ssam"])
    assert only["moved"] == every["moved"]


# ----------------------------------------------------------------------------------- C14a

SMALL = replace(regime.RegimeConfig.quick(), datasets=("diabetes", D.TIGHT))


@pytest.mark.slow
def test_c14a_holds_and_flips_with_wrong_rules():
    own = check_c14a(config=SMALL)
    assert own.verdict == "holds"
    t = own.evidence["datasets"][D.TIGHT]
    # USAM departs below its exact divergence edge 1/3 (δ accumulates as |1 − ηβ(1+ρβ)| → 1)
    # and diverges between the grid points around it; SSAM = SGD departs at 2/β
    assert t["unstable_over_unit"]["usam"] == [0.31, 0.35]
    assert t["departure_over_unit"]["ssam"] == [0.97, 1.03]
    assert all(r.passes for r in own.rows)
    # SSAM without its renormalization (USAM): departs where USAM does
    faked = check_c14a(config=SMALL, rules={"ssam": functools.partial(st.optimizer, "usam")})
    assert faked.verdict == "violated"
    assert faked.evidence["counterexample"]["part"] == "departure"
    # USAM at 1.5·η: the bound claimed below 2/(β(1+ρβ)) breaks
    fast = check_c14a(config=replace(SMALL, datasets=(D.TIGHT,)),
                      rules={"usam": scaled("usam", 1.5)})
    assert fast.verdict == "violated"
    assert fast.evidence["counterexample"]["part"] == "bound below the condition"


def test_c14a_inconclusive_without_departure():
    """On logistic data nothing departs in the η range: premise absent."""
    cfg = replace(regime.RegimeConfig.quick(), datasets=("breast_cancer",), seeds=4,
                  steps=60, lr_factors=(0.2, 1.0))
    assert check_c14a(config=cfg).verdict == "inconclusive"


# ----------------------------------------------------------------------------------- C14b

@pytest.mark.slow
def test_c14b_every_verdict_is_reachable():
    own = check_c14b(config=replace(regime.RegimeConfig.quick(), datasets=("breast_cancer",)))
    # USAM beats SGD over the whole η range, SSAM (close to SGD at b = 4) nowhere
    assert own.verdict == "violated"
    top = own.evidence["datasets"]["breast_cancer"]["top_win_over_unit"]
    assert top["usam"] > 0 and top["ssam"] == 0
    # the lead is split into its parts (test = optimization error + gap, to rounding) at a
    # cell where USAM wins; here USAM wins by optimizing faster within the budget
    lead = own.evidence["datasets"]["breast_cancer"]["lead"]
    assert lead["lr_over_unit"] <= top["usam"] and lead["usam"]["test"] < 0
    for part in (lead["usam"], lead["ssam"]):
        assert part["test"] == pytest.approx(part["opt_error"] + part["gen_gap"], abs=1e-12)
    assert lead["usam"]["opt_error"] < lead["usam"]["gen_gap"]
    assert own.key.startswith("breast_cancer: USAM/SSAM beat SGD up to")
    cfg = replace(regime.RegimeConfig.quick(), datasets=("synthetic_logistic",))
    # an "SSAM" that is USAM at η/2 wins up to twice as high: holds
    half = check_c14b(config=cfg, rules={"ssam": scaled("usam", 0.5)})
    assert half.verdict == "holds"
    # USAM and SSAM replaced by SGD: nobody beats SGD, premise absent
    sgd = functools.partial(st.optimizer, "sgd")
    none = check_c14b(config=cfg, rules={"usam": sgd, "ssam": sgd})
    assert none.verdict == "inconclusive" and "premise" in none.evidence["reason"]


def test_c14b_longer_budget_rows():
    """The data sets where USAM or SSAM wins run again with budget_factor times the steps
    (SGD, USAM, SSAM): their rows join the verdict and the key."""
    cfg = replace(regime.RegimeConfig.quick(), datasets=("breast_cancer",), steps=100,
                  lr_factors=(0.1, 0.5))
    res = check_c14b(config=cfg, budget_factor=2)
    long = res.evidence["long"]
    assert long["steps"] == 200 and long["budget_factor"] == 2
    assert set(long["datasets"]) == {n for n, i in res.evidence["datasets"].items()
                                     if i["usam_or_ssam_wins"]}
    assert [r.setting.endswith(", T = 200") for r in res.rows] == [False, True]
    assert all(set(i["top_win_over_unit"]) == {"usam", "ssam"}
               for i in long["datasets"].values())
    assert "(×2 steps: " in res.key and res.verdict == "violated"
    # without the longer budget: one row per data set, nothing else changes
    short = check_c14b(config=cfg, budget_factor=1)
    assert "long" not in short.evidence and len(short.rows) == 1
    assert short.rows[0].measured == res.rows[0].measured
    with pytest.raises(ValueError, match="budget_factor"):
        check_c14b(config=cfg, budget_factor=0)


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, match", [
    ({"lr_factors": [-0.1]}, "lr_factors"),
    ({"rules": ("usam",)}, "sgd"),
    ({"rho_beta": -1.0}, "rho_beta"),
    ({"seeds": 0}, "seeds"),
    ({"batch_size": 0}, "batch_size"),
    ({"steps": 1}, "steps"),
])
def test_regime_runs_rejects_bad_input(tight, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        regime.regime_runs(tight, **kwargs)


def test_other_bad_input(tight):
    with pytest.raises(TypeError, match="dataset"):
        regime.regime_runs(D.neighbour(tight, 0, 0))
    with pytest.raises(ValueError, match="indices"):
        regime.batch_smoothness(tight, np.array([[10_000]]))
    with pytest.raises(TypeError, match="dataset"):
        single_example_gap("diabetes")
    with pytest.raises(ValueError, match="lr_factor"):
        single_example_gap(tight, lr_factor=0.0)
    with pytest.raises(ValueError, match="compare"):
        single_example_gap(tight, compare=("sam",))
    with pytest.raises(ValueError, match="rho_beta"):
        regime.departure_factor(-1.0)
