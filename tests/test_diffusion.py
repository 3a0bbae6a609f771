"""The noise settings of C12: StepOracle's call order, the recursions, saddle_msd."""

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import theory as th

LAM = 1.5


def _land(n=32, sigma=1.0, seed=3):
    return st.NoisyQuadratic(np.diag([0.7, -LAM]), n=n, sigma=sigma, seed=seed)


def test_oracle_serves_calls_in_order():
    f = _land()
    idx = np.array([[1, 4], [0, 2]])
    W = np.array([[0.3, -0.2], [1.0, 0.5]])
    oracle = st.StepOracle(f, idx, noisy=(False, True))
    np.testing.assert_array_equal(oracle(W), f.grad(W))  # 1st call: full gradient
    np.testing.assert_array_equal(oracle(W), f.grad(W, idx))  # 2nd: minibatch gradient
    assert oracle.calls == 2
    with pytest.raises(RuntimeError, match="call 3"):
        oracle(W)
    reverse = st.StepOracle(f, idx, noisy=[True, False])
    np.testing.assert_array_equal(reverse(W), f.grad(W, idx))
    np.testing.assert_array_equal(reverse(W), f.grad(W))


def test_usam_step_with_kim_oracle_is_the_kim_recursion():
    """Optimizer.step calls g = ∇f(w) first (full, in Kim's setting) and g̃ = ∇f(w + ρg)
    second (minibatch): w' = w − η(H(w + ρHw) + ξ̄), so along −|λ|
    y' = (1 + η|λ|(1 − ρ|λ|))y − ηξ̄_y. The reverse order would give a different step."""
    f = _land()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 2))
    idx = rng.integers(0, f.n, (5, 3))
    lr, rho = 0.05, 0.3
    opt = st.optimizer("usam", lr=lr, rho=rho)
    pattern = st.noise_pattern(opt, "kim")
    assert pattern == (False, True)
    oracle = st.StepOracle(f, idx, pattern)
    W1, _ = opt.step(W, None, oracle)
    assert oracle.calls == 2
    xi = f.xi[idx].mean(axis=1)
    H = f.H
    want = W - lr * ((W + rho * W @ H) @ H + xi)
    np.testing.assert_allclose(W1, want, rtol=1e-14, atol=1e-15)
    m = 1 + lr * LAM * (1 - rho * LAM)
    np.testing.assert_allclose(W1[:, 1], m * W[:, 1] - lr * xi[:, 1], rtol=1e-14, atol=1e-15)
    # same minibatch in both calls: the noise is scaled by (1 − ρ|λ|)
    W2, _ = opt.step(W, None, st.StepOracle(f, idx, st.noise_pattern(opt, "same_minibatch")))
    np.testing.assert_allclose(W2[:, 1], m * W[:, 1] - lr * (1 - rho * LAM) * xi[:, 1],
                               rtol=1e-14, atol=1e-15)
    # reversed order (noisy perturbation, full descent gradient) is another step
    W3, _ = opt.step(W, None, st.StepOracle(f, idx, (True, False)))
    assert not np.allclose(W3, W1)


def test_noise_pattern():
    assert st.noise_pattern(st.optimizer("sgd"), "kim") == (True,)
    assert st.noise_pattern(st.optimizer("sgd"), "same_minibatch") == (True,)
    for name in ("sam", "usam", "ssam", "nssam"):
        assert st.noise_pattern(st.optimizer(name), "same_minibatch") == (True, True)
        assert st.noise_pattern(st.optimizer(name), "kim") == (False, True)
    with pytest.raises(ValueError, match="setting"):
        st.noise_pattern(st.optimizer("usam"), "kim2023")
    with pytest.raises(TypeError, match="opt"):
        st.noise_pattern("usam", "kim")


def test_same_minibatch_setting_is_run_bit_for_bit():
    f = _land()
    R, K = 6, 15
    idx = st.minibatch_indices(f.n, 3, K, seed=5, rows=R)
    lr = np.linspace(0.01, 0.1, R)
    sgd, usam = st.optimizer("sgd", lr=lr), st.optimizer("usam", lr=lr, rho=np.full(R, 0.2))
    res = st.saddle_msd(sgd, usam, f, idx, setting="same_minibatch")
    for opt, final in ((sgd, res.final_sgd), (usam, res.final_sam)):
        tr = st.run(opt, f, np.zeros((R, 2)), K, indices=idx)
        np.testing.assert_array_equal(final, tr.final)
    np.testing.assert_array_equal(res.msd_sam[-1], np.mean(res.final_sam[:, 1] ** 2))
    d2 = res.final_sgd[:, 1] ** 2 - res.final_sam[:, 1] ** 2
    assert res.gap[-1] == d2.mean() and res.gap_se[-1] == d2.std(ddof=1) / np.sqrt(R)
    assert res.gap[0] == 0 and res.msd_sgd.shape == (K + 1,) and res.seeds == R
    # SGD sees the same noise in both settings; USAM does not
    kim = st.saddle_msd(sgd, usam, f, idx, setting="kim")
    np.testing.assert_array_equal(kim.final_sgd, res.final_sgd)
    assert not np.allclose(kim.final_sam, res.final_sam)


@pytest.mark.parametrize("setting", ["kim", "same_minibatch"])
def test_saddle_msd_matches_exact_expectations(setting):
    """Both MSDs and their gap against the exact E y_k² (theory) within 4 standard errors
    (4000 seeds, 20 steps, t = 0.4: a statistical test whose false-alarm rate per quantity
    is ~6e-5 for Gaussian errors)."""
    lam, lr, rho, B, R, K = LAM, 0.02, 0.2, 4, 4000, 20
    f = st.NoisyQuadratic(np.diag([0.7, -lam]), n=128, sigma=np.sqrt(2 * lam), seed=8)
    idx = st.minibatch_indices(f.n, B, K, seed=9, rows=R)
    res = st.saddle_msd(st.optimizer("sgd", lr), st.optimizer("usam", lr, rho), f, idx,
                        setting=setting)
    s = 2 * lam / B
    usam = th.usam_saddle_msd_kim if setting == "kim" else th.usam_saddle_msd
    exact_gap = th.sgd_saddle_msd(lr, lam, s, K) - usam(lr, rho, lam, s, K)
    assert abs(res.gap[-1] - exact_gap) <= 4 * res.gap_se[-1]
    y_sgd, y_sam = res.final_sgd[:, 1], res.final_sam[:, 1]
    for y, want in ((y_sgd, th.sgd_saddle_msd(lr, lam, s, K)),
                    (y_sam, usam(lr, rho, lam, s, K))):
        se = (y**2).std(ddof=1) / np.sqrt(R)
        assert abs((y**2).mean() - want) <= 4 * se
    # the settings are distinguishable here: the other setting's gap is far outside
    other = th.usam_saddle_msd if setting == "kim" else th.usam_saddle_msd_kim
    other_gap = th.sgd_saddle_msd(lr, lam, s, K) - other(lr, rho, lam, s, K)
    assert abs(res.gap[-1] - other_gap) > 10 * res.gap_se[-1]


def test_saddle_msd_checks_input():
    f = _land()
    idx = st.minibatch_indices(f.n, 2, 3, seed=0, rows=4)
    sgd, usam = st.optimizer("sgd", 0.1), st.optimizer("usam", 0.1, 0.1)
    with pytest.raises(TypeError, match="NoisyQuadratic"):
        st.saddle_msd(sgd, usam, st.Quadratic(np.diag([1.0, -1.0])), idx)
    with pytest.raises(TypeError, match="sam"):
        st.saddle_msd(sgd, "usam", f, idx)
    with pytest.raises(ValueError, match="setting"):
        st.saddle_msd(sgd, usam, f, idx, setting="kim et al")
    with pytest.raises(ValueError, match="indices"):
        st.saddle_msd(sgd, usam, f, idx[:, 0])
    with pytest.raises(ValueError, match="indices"):
        st.saddle_msd(sgd, usam, f, idx + f.n)
    with pytest.raises(TypeError, match="indices"):
        st.saddle_msd(sgd, usam, f, idx.astype(float))
    with pytest.raises(ValueError, match="direction"):
        st.saddle_msd(sgd, usam, f, idx, direction=[1.0, 1.0])
    with pytest.raises(TypeError, match="landscape"):
        st.StepOracle(st.Quadratic(np.eye(2)), None, (True,))
    with pytest.raises(ValueError, match="noisy"):
        st.StepOracle(f, idx[0], ())
    with pytest.raises(ValueError, match="noisy"):
        st.StepOracle(f, idx[0], (1, 0))
    with pytest.raises(TypeError, match="noisy"):
        st.StepOracle(f, idx[0], "TT")
    # an explicit direction: along x (curvature +0.7) nothing escapes
    res = st.saddle_msd(sgd, usam, f, idx, direction=[1.0, 0.0])
    np.testing.assert_array_equal(res.msd_sgd[-1], np.mean(res.final_sgd[:, 0] ** 2))


def test_saddle_msd_settings_equal_one_setting_at_a_time():
    """One lockstep pass over both settings (SGD once, one noise mean per step) gives each
    setting's SaddleMSD bit for bit; a reference rule other than SGD, whose pattern depends
    on the setting, runs once per pattern."""
    from ssam_theory.diffusion import saddle_msd_settings

    f = _land()
    R, K = 5, 12
    idx = st.minibatch_indices(f.n, 3, K, seed=6, rows=R)
    for ref in (st.optimizer("sgd", lr=0.05), st.optimizer("sam", lr=0.05, rho=0.1)):
        usam = st.optimizer("usam", lr=0.05, rho=0.3)
        both = saddle_msd_settings(ref, usam, f, idx)
        assert tuple(both) == st.NOISE_SETTINGS
        for setting, res in both.items():
            one = st.saddle_msd(ref, usam, f, idx, setting=setting)
            assert res.setting == one.setting == setting and res.seeds == one.seeds
            for a, b in zip(res[:6], one[:6]):
                np.testing.assert_array_equal(a, b)
    for bad in ((), ("kim", "kim"), ("kim", "other")):
        with pytest.raises(ValueError, match="settings"):
            saddle_msd_settings(ref, usam, f, idx, settings=bad)
    with pytest.raises(TypeError, match="settings"):
        saddle_msd_settings(ref, usam, f, idx, settings="kim")
