"""st.DiagonalNetwork: gradient and exact Hessian against central differences, the closed-form
Hessian and strict saddle at the origin, minibatches, batches equal rows, data, bad input."""

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import theory


@pytest.fixture(scope="module")
def net():
    return st.DiagonalNetwork.from_dataset(st.sparse_regression(n=60, d=5, seed=1))


def _fd(fn, w, h=1e-5):
    out = []
    for k in range(w.size):
        e = np.zeros(w.size)
        e[k] = h
        out.append((fn(w + e) - fn(w - e)) / (2 * h))
    return np.stack(out)


def test_gradient_and_hessian_match_central_differences(net):
    """h = 1e-5 on O(1) iterates: truncation O(h²)|f'''| and rounding O(ε/h) are ~1e-10
    here, so 1e-7 is safe while any wrong term (O(1)) fails."""
    rng = np.random.default_rng(0)
    for _ in range(3):
        w = rng.normal(size=net.dim)
        np.testing.assert_allclose(net.grad(w), _fd(net.loss, w), rtol=1e-7, atol=1e-7)
        H = net.hessian(w)
        np.testing.assert_allclose(H, _fd(net.grad, w), rtol=1e-7, atol=1e-7)
        np.testing.assert_array_equal(H, H.T)


def test_hessian_at_the_origin_is_the_closed_form_strict_saddle(net):
    d, c = net.d, net.X.T @ net.y / net.n
    H0 = net.hessian(np.zeros(net.dim))
    expected = np.zeros((2 * d, 2 * d))
    expected[:d, d:] = expected[d:, :d] = -np.diag(c)
    np.testing.assert_allclose(H0, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(net.grad(np.zeros(net.dim)), 0.0)
    lam = np.linalg.eigvalsh(H0)
    np.testing.assert_allclose(lam, np.sort(np.concatenate([-np.abs(c), np.abs(c)])),
                               rtol=1e-13, atol=1e-15)
    predicted = theory.network_saddle_eigenvalue(np.max(np.abs(net.X.T @ net.y)), net.n)
    np.testing.assert_allclose(lam[0], predicted, rtol=1e-13)
    np.testing.assert_allclose(net.saddle_eigenvalue, predicted, rtol=1e-13)
    assert lam[0] < 0 < lam[-1]  # strict saddle
    # symbolic side: the sympy formula equals -m/n
    assert str(theory.network_saddle_eigenvalue.expr) == "-m_xy/n"


def test_loss_is_the_mean_squared_residual_of_the_effective_regressor(net):
    w = np.random.default_rng(2).normal(size=net.dim)
    beta = w[: net.d] * w[net.d:]
    np.testing.assert_array_equal(net.effective(w), beta)
    np.testing.assert_allclose(net.loss(w), np.mean((net.X @ beta - net.y) ** 2) / 2,
                               rtol=1e-14)
    np.testing.assert_allclose(net.loss(np.zeros(net.dim)), 0.5, rtol=1e-14)  # standardized y


def test_minibatch_gradient_is_the_mean_over_its_examples(net):
    rng = np.random.default_rng(4)
    w = rng.normal(size=net.dim)
    idx = np.array([3, 17, 17, 40])
    sub = st.DiagonalNetwork(net.X[idx], net.y[idx])
    np.testing.assert_allclose(net.grad(w, idx), sub.grad(w), rtol=1e-14, atol=1e-16)


def test_batches_equal_rows_bit_for_bit(net):
    rng = np.random.default_rng(5)
    W = rng.normal(size=(6, net.dim))
    idx = rng.integers(0, net.n, size=(6, 3))
    G, Gb, L = net.grad(W), net.grad(W, idx), net.loss(W)
    for i in range(6):
        np.testing.assert_array_equal(G[i], net.grad(W[i]))
        np.testing.assert_array_equal(Gb[i], net.grad(W[i], idx[i]))
        assert L[i] == net.loss(W[i])


def test_runs_stochastically_and_escapes_with_sgd(net):
    w0 = 1e-3 * np.random.default_rng(0).normal(size=net.dim)
    tr = st.run(st.optimizer("sgd", lr=0.2), net, w0, 300, batch_size=8, seed=0)
    assert tr.loss[-1] < 0.5 * tr.loss[0]


def test_data_sets():
    ds = st.sparse_regression(n=50, d=6, support=2, seed=3)
    assert ds.n == 50 and ds.d == 6 and ds.task == "least_squares"
    assert np.count_nonzero(ds.info["beta_star"]) == 2
    again = st.sparse_regression(n=50, d=6, support=2, seed=3)
    np.testing.assert_array_equal(ds.X, again.X)
    diab = st.DiagonalNetwork.from_dataset(st.data.diabetes())
    assert diab.dim == 20 and diab.saddle_eigenvalue < 0


def test_bad_input():
    with pytest.raises(ValueError, match="support must be <= d"):
        st.sparse_regression(d=3, support=4)
    with pytest.raises(ValueError, match="X and y"):
        st.DiagonalNetwork(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match="least-squares"):
        st.DiagonalNetwork.from_dataset(st.data.synthetic_logistic(n=20, d=2, n_test=5))
    net = st.DiagonalNetwork(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        net.grad(np.zeros(3))
    with pytest.raises(ValueError, match="idx must lie"):
        net.grad(np.zeros(6), np.array([5]))
    with pytest.raises(ValueError, match="w must have shape"):
        net.hessian(np.zeros((2, 6)))


def test_fast_network_agrees_with_the_exact_one_and_batches_equal_rows(net):
    """The Gram form: the same loss and gradient up to rounding (a wrong term is O(1));
    minibatch gradients untouched; fixed-shape BLAS blocks keep a batch equal to its rows."""
    fast = st.DiagonalNetwork(net.X, net.y, fast=True)
    assert fast.fast and not net.fast and "fast=True" in repr(fast)
    rng = np.random.default_rng(6)
    W = rng.normal(size=(37, net.dim))
    np.testing.assert_allclose(fast.loss(W), net.loss(W), rtol=1e-13)
    G = net.grad(W)
    np.testing.assert_allclose(fast.grad(W), G, rtol=0, atol=1e-14 * np.abs(G).max())
    idx = rng.integers(0, net.n, size=(37, 5))
    np.testing.assert_array_equal(fast.grad(W, idx), net.grad(W, idx))
    Gf, Lf = fast.grad(W), fast.loss(W)
    for i in (0, 17, 36):
        np.testing.assert_array_equal(Gf[i], fast.grad(W[i]))
        assert Lf[i] == fast.loss(W[i])
    assert fast.loss(np.zeros(net.dim)) == pytest.approx(0.5, rel=1e-14)


# ---- the escape experiment and claim C19

def _small_escape_config(**changes):
    import dataclasses

    small = {"seeds": 3, "alphas": (1e-3, 0.3), "steps": 80, "rho_factors": (0.5, 2.0),
             "batch_sizes": (None, 4)}
    return dataclasses.replace(st.network.EscapeConfig.quick(), **{**small, **changes})


def _escape_by_run(net, lr, rho, cfg, batch_size):
    """The escape runs one (batch size, ρ) at a time with st.run: rows (α, seed), seed s
    drawing its own minibatch indices for every α."""
    seq = np.random.SeedSequence(cfg.root).spawn(2 * cfg.seeds)
    starts = st.network._starts(net, cfg.alphas, seq[: cfg.seeds])
    indices = None
    if batch_size is not None:
        per_seed = np.stack([np.random.default_rng(s).integers(0, net.n, (cfg.steps, batch_size))
                             for s in seq[cfg.seeds:]], axis=1)
        indices = np.tile(per_seed, (1, len(cfg.alphas), 1))
    out = {}
    for rule in st.RULES:
        opt = st.optimizer(rule, lr=np.full(starts.shape[0], lr), rho=rho)
        tr = st.run(opt, net, starts, cfg.steps, indices=indices)
        shape = (len(cfg.alphas), cfg.seeds)
        out[rule] = (st.network.escape_steps(tr.loss, cfg.fraction).reshape(shape),
                     tr.diverged.reshape(shape),
                     np.nan_to_num(tr.loss[-1], nan=np.inf).reshape(shape))
    return out


def test_escape_grid_is_run_row_by_row_bit_for_bit_in_the_exact_arithmetic():
    """One batched run per rule over batch sizes × ρ × α × seeds gives every row of the
    separate st.run calls, diverging rows included (SAM diverges on some rows here)."""
    net = st.network.load_network("sparse_regression")
    cfg = _small_escape_config(fast=False)
    _, b, _ = st.network.saddle_direction(net)
    lr = cfg.lr_factor / b
    grid = st.network.escape_grid(net, lr, np.asarray(cfg.rho_factors) / b, cfg,
                                  cfg.batch_sizes)
    diverged = 0
    for m, bs in enumerate(cfg.batch_sizes):
        for k, rf in enumerate(cfg.rho_factors):
            ref = _escape_by_run(net, lr, rf / b, cfg, bs)
            for rule, (steps, div, final) in ref.items():
                np.testing.assert_array_equal(grid["steps"][rule][m, k], steps)
                np.testing.assert_array_equal(grid["diverged"][rule][m, k], div)
                np.testing.assert_array_equal(grid["final_loss"][rule][m, k], final)
                diverged += int(div.sum())
            if m == 0 and k == 0:
                one = st.network.escape_times(net, lr, rf / b, cfg, bs)
                np.testing.assert_array_equal(one["steps"]["usam"], ref["usam"][0])
    assert 0 < diverged < 5 * 24  # some rows diverge, not all


def test_escape_grid_fast_gives_the_same_escape_steps():
    """The Gram arithmetic moves the numbers by rounding only: the same escape steps and
    divergences, final losses to 1e-12 (measured ≤ 1e-14), but SAM's: trapped at the saddle,
    its runs amplify rounding (1e-8 measured), so 1e-7."""
    net = st.network.load_network("diabetes")
    _, b, _ = st.network.saddle_direction(net)
    runs = {}
    for fast in (False, True):
        cfg = _small_escape_config(fast=fast)
        runs[fast] = st.network.escape_grid(net, cfg.lr_factor / b,
                                            np.asarray(cfg.rho_factors) / b, cfg,
                                            cfg.batch_sizes)
    for rule in st.RULES:
        np.testing.assert_array_equal(runs[True]["steps"][rule], runs[False]["steps"][rule])
        np.testing.assert_array_equal(runs[True]["diverged"][rule],
                                      runs[False]["diverged"][rule])
        np.testing.assert_allclose(runs[True]["final_loss"][rule],
                                   runs[False]["final_loss"][rule],
                                   rtol=1e-7 if rule == "sam" else 1e-12)
    assert any((runs[True]["steps"][r] >= 0).any() for r in st.RULES)


def test_escape_experiment_is_computed_once_when_shared(tmp_path, monkeypatch):
    """Inside a reproduce run (the share directory set) the notebook loads C19's runs."""
    from ssam_theory._shared import SHARE_ENV

    monkeypatch.setenv(SHARE_ENV, str(tmp_path))
    cfg = _small_escape_config(datasets=("sparse_regression",), steps=20)
    first = st.network.escape_experiment(cfg)
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    again = st.network.escape_experiment(cfg)
    for rule in st.RULES:
        np.testing.assert_array_equal(again["sparse_regression"]["steps"][rule],
                                      first["sparse_regression"]["steps"][rule])
    assert again["sparse_regression"]["steps"]["sgd"].shape == (2, 2, 2, 3)


def test_escape_step_needs_the_loss_below_the_fraction_and_below_f0_for_good():
    loss = np.array([[1.0, 1.0, 1.0, 1.0],
                     [0.9, 0.7, 0.9, 1.2],
                     [0.7, 1.1, 0.8, 0.5],
                     [0.6, 0.7, 0.7, 0.4]])
    # col 0: below 0.8 at step 2 and stays under 1; col 1: dips at 1, back above f(0) at 2,
    # so step 3; col 2: below 0.8 at step 2 (0.8 <= 0.8); col 3: above f(0) at 1, then 2
    np.testing.assert_array_equal(st.network.escape_steps(loss, 0.8), [2, 3, 2, 2])
    assert st.network.escape_steps(np.ones((3, 1)), 0.8).tolist() == [-1]


def test_holm_adjusts_step_down():
    from ssam_theory.claims.network import holm

    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_measured_multipliers_equal_the_predicted_ones_on_both_sides_of_one_over_b():
    """From α v_neg with α = 1e-8 the iterate stays on the invariant line (off-line 0) and
    in the linear regime: the multiplier is exact to O(a s²/b) ≈ 1e-10 (NSSAM: O(|s|/ρ))."""
    net = st.network.load_network("sparse_regression")
    cfg = st.network.EscapeConfig.quick()
    _, b, a = st.network.saddle_direction(net)
    lr = 0.2 / b
    rhos = np.array([0.9, 1.1]) / b
    m = st.network.saddle_multipliers(net, lr, rhos, cfg)
    for rule in ("sgd", "usam", "ssam", "nssam"):
        pred = [st.network.predicted_multiplier(rule, lr, r, b, a) for r in rhos]
        np.testing.assert_allclose(m[rule]["multiplier"], pred, atol=1e-4)
        assert np.all(m[rule]["off_line"] <= 1e-20)  # rounding of 1e-8-sized coordinates
    # C09's threshold: USAM grows below ρ = 1/b and shrinks above; SSAM keeps SGD's size
    assert m["usam"]["multiplier"][0] > 1 > m["usam"]["multiplier"][1]
    np.testing.assert_allclose(m["ssam"]["multiplier"], [1 + lr * b, 1 - lr * b], rtol=1e-9)
    assert np.all(m["sam"]["max_s"] <= rhos)  # SAM: trapped within |s| <= ρ (C10)


@pytest.fixture(scope="module")
def c19(quick_checks):
    # C19 from the session's quick registry run (tests/conftest.py), not a second run
    (result,) = [r for c, r in quick_checks if c.id == "C19"]
    return result


@pytest.mark.slow
def test_c19_quick_verdict_and_rows(c19):
    assert c19.verdict == "holds", (c19.measured, c19.evidence.get("counterexample"))
    assert 1 <= len(c19.rows) <= 12 and len(c19.key) <= 80
    judged = [c for c in c19.evidence["cells"] if c["judged"]]
    assert len(judged) == 4  # two data sets x (full batch, minibatch)
    for c in judged:
        ms = c["mean_steps"]
        assert ms["sgd"] < ms["ssam"] < ms["usam"] < ms["sam"]


def _usam_as_ssam(lr, rho=0.0, **options):
    """SSAM without its renormalization is USAM."""
    return st.optimizer("usam", lr=lr, rho=rho, **options)


@pytest.mark.slow
def test_c19_fails_when_ssam_loses_its_renormalization():
    from ssam_theory.claims import run_checks

    (_, result), = run_checks(["C19"], quick=True, rules={"ssam": _usam_as_ssam})
    assert result.verdict == "violated"
    assert result.evidence["counterexample"]["rule"] == "ssam"


def test_c19_fails_when_the_gap_is_not_closed():
    """Without the rate rows (a config with no rate runs), the escape comparison alone must
    catch an SSAM without renormalization: it leaves no earlier than USAM."""
    import dataclasses

    from ssam_theory.claims.network import check_c19

    cfg = dataclasses.replace(st.network.EscapeConfig.quick(), rate_rho_factors=(),
                              datasets=("sparse_regression",))
    res = check_c19(config=cfg, rules={"ssam": _usam_as_ssam})
    assert res.verdict == "violated"
    assert "ssam_closed" in res.evidence["counterexample"]


@pytest.mark.parametrize("censored, phi, p, expected", [
    ({"usam": 0.0, "ssam": 0.0}, 0.9, 1e-4, "closed"),
    ({"usam": 0.0, "ssam": 0.0}, 0.5, 1e-4, "not closed"),
    # USAM never left on some runs: its delay is longer than counted, φ = 0.5 is a lower
    # bound, which decides nothing; φ = 0.9 as a lower bound is a closing
    ({"usam": 0.4, "ssam": 0.0}, 0.5, 1e-4, "unresolved"),
    ({"usam": 0.4, "ssam": 0.0}, 0.9, 1e-4, "closed"),
    # SSAM never left on some runs: φ is an upper bound; below the threshold it fails
    ({"usam": 0.0, "ssam": 0.2}, 0.5, 1e-4, "not closed"),
    ({"usam": 0.0, "ssam": 0.2}, 0.9, 1e-4, "unresolved"),
    ({"usam": 0.3, "ssam": 0.2}, 0.9, 1e-4, "unresolved"),
])
def test_c19_closing_accounts_for_the_step_budget(censored, phi, p, expected):
    """A run that never leaves is counted at the step budget, which understates its escape
    time: C19 judges φ as a bound then, never as a measurement."""
    from ssam_theory.claims.network import closing_verdict

    cell = {"censored": censored, "ssam_closed": (phi, phi, phi), "ssam_helps_p": p}
    closing_verdict(cell)
    assert cell["closing"] == expected
