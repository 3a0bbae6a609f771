"""Trajectories: records, divergence handling, stochastic mode, bad input."""

import numpy as np
import pytest

import ssam_theory as st

F = st.Quadratic(np.diag([10.0, 1.0]))


def test_records_match_manual_steps():
    opt = st.optimizer("ssam", lr=0.15, rho=0.3)
    w0 = np.array([1.0, -2.0])
    tr = st.run(opt, F, w0, 20, record_iterates=True)
    w, state = w0, opt.init(w0)
    for t in range(20):
        assert tr.loss[t] == F.loss(w)
        w, state, info = opt.step_with_info(w, state, F.grad)
        assert tr.grad_norm[t] == info.grad_norm
        assert tr.perturbed_grad_norm[t] == info.perturbed_grad_norm
        assert tr.gamma[t] == info.gamma
        np.testing.assert_array_equal(tr.iterates[t + 1], w)
    np.testing.assert_array_equal(tr.final, w)
    assert tr.loss.shape == (21,) and tr.grad_norm.shape == (20,)
    assert not tr.diverged and tr.diverged_at == -1


def test_zero_steps():
    tr = st.run(st.optimizer("sam"), F, np.ones(2), 0, record_iterates=True)
    assert tr.loss.shape == (1,) and tr.grad_norm.shape == (0,) and tr.iterates.shape == (1, 2)


def test_divergence_is_an_outcome_not_a_crash():
    """USAM at η = 0.5, ρ = 1 on diag(10, 1): |1 − η(λ + ρλ²)| = 54 for λ = 10 (diverges);
    the other rows (η(λ + ρλ²) < 2 for both λ) converge, as they would alone, bit for bit.
    filterwarnings = error makes any overflow warning a failure."""
    lr = np.array([0.5, 0.01, 0.015, 0.5])
    rho = np.array([1.0, 1.0, 0.2, 0.0])  # last row: GD at η = 0.5 > 2/10, diverges too
    tr = st.run(st.optimizer("usam", lr=lr, rho=rho), F, np.ones(2), 3000)
    np.testing.assert_array_equal(tr.diverged, [True, False, False, True])
    assert 0 < tr.diverged_at[0] < 20 and tr.diverged_at[1] == -1
    assert np.all(np.isfinite(tr.final))
    assert np.all(np.isnan(tr.loss[tr.diverged_at[0] + 1:, 0]))  # not computed once frozen
    for i in (1, 2):
        alone = st.run(st.optimizer("usam", lr=lr[i], rho=rho[i]), F, np.ones(2), 3000)
        np.testing.assert_array_equal(tr.loss[:, i], alone.loss)
        np.testing.assert_array_equal(tr.final[i], alone.final)
        assert alone.loss[-1] < 1e-12


def test_divergence_with_momentum_keeps_buffers_aligned():
    lr = np.array([0.5, 0.02, 0.03])
    opt = st.optimizer("ssam", lr=lr, rho=0.1, momentum=0.9)
    tr = st.run(opt, F, np.ones(2), 500)
    assert tr.diverged.tolist() == [True, False, False]
    for i in (1, 2):
        alone = st.run(st.optimizer("ssam", lr=lr[i], rho=0.1, momentum=0.9), F, np.ones(2), 500)
        np.testing.assert_array_equal(tr.final[i], alone.final)


def _data(n=50, d=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    return X, X @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=n)


class _Recording(st.LeastSquares):
    """A real least-squares landscape that also remembers the minibatches it was asked for."""

    def __init__(self, X, y):
        super().__init__(X, y)
        self.seen = []

    def grad(self, W, idx=None):
        self.seen.append(None if idx is None else np.array(idx))
        return super().grad(W, idx)


def test_stochastic_both_gradients_share_the_minibatch_and_seed_reproduces():
    X, y = _data()
    land = _Recording(X, y)
    opt = st.optimizer("ssam", lr=0.05, rho=0.1)
    tr = st.run(opt, land, np.zeros(3), 30, batch_size=4, seed=11)
    assert len(land.seen) == 60
    expected = st.minibatch_indices(50, 4, 30, seed=11)
    for t in range(30):
        np.testing.assert_array_equal(land.seen[2 * t], expected[t])
        np.testing.assert_array_equal(land.seen[2 * t + 1], expected[t])
    again = st.run(opt, st.LeastSquares(X, y), np.zeros(3), 30, batch_size=4, seed=11)
    np.testing.assert_array_equal(tr.loss, again.loss)
    explicit = st.run(opt, st.LeastSquares(X, y), np.zeros(3), 30, indices=expected)
    np.testing.assert_array_equal(tr.loss, explicit.loss)
    other = st.run(opt, st.LeastSquares(X, y), np.zeros(3), 30, batch_size=4, seed=12)
    assert not np.array_equal(tr.loss, other.loss)


def test_stochastic_batch_with_per_row_indices():
    X, y = _data()
    land = st.LeastSquares(X, y)
    lr = np.array([0.01, 0.05, 0.1])
    idx = st.minibatch_indices(50, 2, 25, seed=3, rows=3)
    tr = st.run(st.optimizer("nssam", lr=lr, rho=0.05), land, np.zeros(3), 25, indices=idx)
    for i in range(3):
        alone = st.run(st.optimizer("nssam", lr=lr[i], rho=0.05), land, np.zeros(3), 25,
                       indices=idx[:, i])
        np.testing.assert_array_equal(tr.final[i], alone.final)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"steps": -1}, ValueError, "steps must be >= 0, got -1"),
    ({"steps": 2.5}, TypeError, "steps must be an integer"),
    ({"w0": np.zeros(3)}, ValueError, r"w0 must have shape \(2,\) or \(B, 2\)"),
    ({"w0": np.array([1.0, np.nan])}, ValueError, "w0 must be finite"),
    ({"landscape": "quadratic"}, TypeError, "landscape must be a Landscape"),
    ({"opt": "ssam"}, TypeError, "opt must be an Optimizer"),
    ({"seed": 1}, ValueError, "seed only applies to stochastic runs"),
    ({"batch_size": 2}, ValueError, "stochastic runs need a data landscape"),
    ({"opt": st.optimizer("sgd", lr=np.ones(3)), "w0": np.ones((2, 2))}, ValueError,
     "w0 has 2 rows but lr/rho hold 3 values"),
])
def test_bad_run_input(kwargs, exc, match):
    args = {"opt": st.optimizer("sgd", lr=0.1), "landscape": F, "w0": np.ones(2), "steps": 5}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        st.run(**args)


def test_bad_stochastic_input():
    X, y = _data()
    land = st.LeastSquares(X, y)
    opt = st.optimizer("sgd", lr=0.1)
    with pytest.raises(ValueError, match="need a seed"):
        st.run(opt, land, np.zeros(3), 5, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        st.run(opt, land, np.zeros(3), 5, batch_size=0, seed=0)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 50\)"):
        st.run(opt, land, np.zeros(3), 5, indices=np.full((5, 2), 50))
    with pytest.raises(ValueError, match=r"indices must have shape \(5, b\)"):
        st.run(opt, land, np.zeros(3), 5, indices=np.zeros((4, 2), dtype=int))


def test_record_loss_false_skips_only_the_loss():
    """Without the loss record a run takes the same steps: every other record is the same bits."""
    f = st.LeastSquares(*_data_for_loss_switch())
    opt = st.optimizer("ssam", lr=np.array([0.01, 0.05, 50.0]), rho=0.1)
    idx = st.minibatch_indices(f.n, 4, 30, seed=3, rows=3)
    full = st.run(opt, f, np.zeros(f.dim), 30, indices=idx, record_iterates=True)
    lean = st.run(opt, f, np.zeros(f.dim), 30, indices=idx, record_iterates=True,
                  record_loss=False)
    assert lean.loss is None and np.isfinite(full.loss[:, 0]).all()
    assert full.diverged.tolist() == [False, False, True]  # the third row blows up
    for name in ("grad_norm", "perturbed_grad_norm", "gamma", "iterates", "final",
                 "diverged_at"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), err_msg=name)
    single = st.run(st.optimizer("sgd", lr=0.01), f, np.zeros(f.dim), 5, record_loss=False)
    assert single.loss is None and single.final.shape == (f.dim,)


def _data_for_loss_switch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    return X, X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(40)


def test_a_subclass_with_its_own_step_is_run_as_written():
    """Injected rules may subclass Optimizer and override step_with_info: run and sweep take
    that step, not the package's."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Halved(st.Optimizer):
        def step_with_info(self, w, state, grad):
            w_new, state, info = super().step_with_info(w, state, grad)
            return w + 0.5 * (w_new - w), state, info

    plain = st.optimizer("ssam", lr=np.array([0.05, 0.1]), rho=0.1)
    halved = Halved(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(plain)})
    w0 = np.array([1.0, -2.0])
    a = st.run(plain, F, w0, 3, record_iterates=True)
    b = st.run(halved, F, w0, 3, record_iterates=True)
    w, state = np.tile(w0, (2, 1)), None
    for _ in range(3):
        w, state, _ = halved.step_with_info(w, state, F.grad)
    np.testing.assert_array_equal(b.final, w)
    assert not np.array_equal(a.final, b.final)
    swept = st.sweep(F, "ssam", lr=[0.05], rho=[0.1], steps=3, seeds=1, w0=w0, grad_tol=None,
                     make_optimizer=lambda lr, rho: Halved(**{
                         f.name: getattr(st.optimizer("ssam", lr=lr, rho=rho), f.name)
                         for f in dataclasses.fields(plain)}), progress=False)
    np.testing.assert_array_equal(swept.final_w[0, 0, 0], w[0])
