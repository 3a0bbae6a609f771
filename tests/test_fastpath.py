"""The fast paths keep the determinism guarantees and the rules' exactness.

* exact arithmetic (default): unchanged bits — the elementwise small-d product equals
  ``einsum`` bit for bit, and a coordinate-major batch steps to the same bits as row-major;
* fast arithmetic (``fast=True``): a batch equals its rows bit for bit whatever the batch
  size, sweeps are identical on repeat and across chunk sizes, and it agrees with the exact
  arithmetic to rounding;
* every rule and option still matches the plain reference transcription in both.
"""

import itertools

import numpy as np
import pytest
from reference import reference_step

import ssam_theory as st
from ssam_theory import _products

BLOCK = _products.BLOCK


def _sym(d, seed):
    A = np.random.default_rng(seed).standard_normal((d, d))
    return (A + A.T) / 2


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_sequential_product_is_einsum_bit_for_bit(k):
    rng = np.random.default_rng(k)
    X = rng.standard_normal((300, k))
    X[0] = -0.0  # einsum's sum starts at +0: -0 products give +0
    X[1, 0] = np.inf
    M = rng.standard_normal((k, 4))
    M[0, 0] = -0.0
    with np.errstate(invalid="ignore"):  # inf * 0 in the planted row, in both kernels
        want = np.einsum("...i,ij->...j", X, M)
        for Y in (X, np.asfortranarray(X)):
            got = _products.sequential_times(Y, M)
            assert np.ascontiguousarray(got).tobytes() == want.tobytes()  # NaNs, signed zeros
        assert _products.sequential_times(X[3], M).tobytes() == want[3].tobytes()


@pytest.mark.parametrize("d", [3, 16, 64])
def test_blocked_product_rows_do_not_depend_on_the_batch(d):
    rng = np.random.default_rng(d)
    H = _sym(d, d)
    R = _products.block_rows(d, d)
    X = rng.standard_normal((3 * R + 7, d))
    full = _products.blocked_matmul(X, H)
    for m in (1, 2, R - 1, R, R + 1, 2 * R + 3):
        assert full[:m].tobytes() == _products.blocked_matmul(X[:m], H).tobytes(), m
    for k in (0, 5, R, len(X) - 1):  # a row alone, anywhere in the batch
        assert full[k].tobytes() == _products.blocked_matmul(X[k], H).tobytes()
    assert full.tobytes() == _products.blocked_matmul(np.asfortranarray(X), H).tobytes()
    # rounding only: |fast - exact| <= d · eps · (|X| |H|) row by row (a sum of d products)
    exact = np.einsum("...i,ij->...j", X, H)
    assert np.all(np.abs(full - exact) <= d * np.finfo(float).eps * (np.abs(X) @ np.abs(H)))


def _data_landscapes(fast):
    ls = st.data.synthetic_least_squares(seed=0)
    lg = st.data.synthetic_logistic(seed=1)
    return [st.LeastSquares(ls.X, ls.y, fast=fast), st.Logistic(lg.X, lg.y, l2=0.01, fast=fast)]


@pytest.mark.parametrize("fast", [False, True])
def test_data_landscape_batches_equal_rows(fast):
    rng = np.random.default_rng(0)
    for f in _data_landscapes(fast):
        W = rng.standard_normal((BLOCK + 5, f.dim)) * 0.3
        idx_shared = rng.integers(0, f.n, 8)
        idx_rows = rng.integers(0, f.n, (W.shape[0], 4))
        L, G = f.loss(W), f.grad(W)
        Gs, Gr = f.grad(W, idx_shared), f.grad(W, idx_rows)
        for k in (0, 7, BLOCK, BLOCK + 4):
            assert f.loss(W[k]).tobytes() == L[k].tobytes()
            assert f.grad(W[k]).tobytes() == G[k].tobytes()
            assert f.grad(W[k], idx_shared).tobytes() == Gs[k].tobytes()
            assert f.grad(W[k:k + 1], idx_rows[k:k + 1])[0].tobytes() == Gr[k].tobytes()


@pytest.mark.parametrize("fast", [False, True])
def test_grouped_minibatches_equal_rows(fast):
    """Rows sharing a minibatch are evaluated group by group: same bits as row by row."""
    rng = np.random.default_rng(3)
    for f in _data_landscapes(fast):
        for b in (1, 8, 32):  # grouped from b = 8 on
            seqs = rng.integers(0, f.n, (3, b))
            idx = seqs[np.arange(96) % 3]  # 3 minibatches, interleaved as a sweep's seeds
            W = rng.standard_normal((96, f.dim)) * 0.3
            G = f.grad(W, idx)
            for k in range(0, 96, 5):
                assert f.grad(W[k:k + 1], idx[k:k + 1])[0].tobytes() == G[k].tobytes()
                assert f.grad(W[k], idx[k]).tobytes() == G[k].tobytes()


def test_fast_and_exact_data_landscapes_agree_to_rounding():
    rng = np.random.default_rng(1)
    for f, g in zip(_data_landscapes(False), _data_landscapes(True)):
        W = rng.standard_normal((40, f.dim)) * 0.3
        # relative 1e-12: sums of n = 200 products, each rounded once (~n·eps ≈ 4e-14 of
        # the largest term), with a margin for cancellation in the sums
        np.testing.assert_allclose(g.loss(W), f.loss(W), rtol=1e-12)
        np.testing.assert_allclose(g.grad(W), f.grad(W), rtol=1e-12, atol=1e-14)


def test_reused_index_buffer_is_not_served_stale():
    f = _data_landscapes(False)[0]
    W = np.zeros((3, f.dim))
    idx = np.array([[0, 1], [2, 3], [4, 5]])
    a = f.grad(W, idx)
    idx[:] = [[6, 7], [8, 9], [10, 11]]  # same buffer, new minibatch
    b = f.grad(W, idx)
    assert b.tobytes() == f.grad(W, idx.copy()).tobytes()
    assert not np.array_equal(a, b)


OPTIONS = [{}, {"truncate": True}, {"adaptive": True}, {"momentum": 0.9, "weight_decay": 0.01},
           {"eps": 1e-12}]


@pytest.mark.parametrize("name, opts", [(n, o) for n, o in itertools.product(st.RULES, OPTIONS)
                                        if not (o.get("truncate") and n not in ("ssam", "nssam"))
                                        and not (o.get("adaptive") and n == "sgd")])
def test_coordinate_major_batches_step_to_the_same_bits(name, opts):
    """Fortran-ordered 2-D batches take the coordinate-major step: the same bits as the
    C-ordered batch, for every rule and option."""
    rng = np.random.default_rng(2)
    f = st.Quadratic(_sym(2, 3))
    B = 9
    W = rng.standard_normal((B, 2))
    opt = st.optimizer(name, lr=rng.uniform(0.01, 0.2, B), rho=rng.uniform(0.0, 0.5, B), **opts)
    Wc, Wf = W.copy(), np.asfortranarray(W)
    sc = sf = None
    for _ in range(3):  # several steps: the momentum buffer travels in both layouts
        Wf, sf, i_f = opt.step_with_info(Wf, sf, f.grad)
        Wc, sc, ic = opt.step_with_info(Wc, sc, f.grad)
        assert Wf.flags.f_contiguous
        assert np.ascontiguousarray(Wf).tobytes() == Wc.tobytes()
        for a, b in zip(ic, i_f):
            assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name, opts", [(n, o) for n, o in itertools.product(st.RULES, OPTIONS)
                                        if not (o.get("truncate") and n not in ("ssam", "nssam"))
                                        and not (o.get("adaptive") and n == "sgd")])
def test_fast_steps_match_reference(name, opts):
    d = 16
    H = _sym(d, 7)
    f = st.Quadratic(H, fast=True)
    w = np.random.default_rng(2).standard_normal(d)
    opt = st.optimizer(name, lr=0.05, rho=0.1, **opts)
    state, buf, ref = opt.init(w), None, w.tolist()

    def grad(x):
        return (H @ np.asarray(x)).tolist()

    for _ in range(3):
        w, state = opt.step(w, state, f.grad)
        ref, buf, _ = reference_step(name, ref, buf, grad, 0.05, 0.1, **opts)
        # 1e-13 relative: the reference sums in another order (and without fused
        # multiply-adds); a few steps of d = 16 products stay within ~100 ulps
        np.testing.assert_allclose(w, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fast", [False, True])
def test_sweep_is_identical_on_repeat_and_across_chunk_sizes(fast):
    f = st.Quadratic.from_eigenvalues(np.linspace(1.0, 10.0, 16), seed=0, fast=fast)
    kw = dict(lr=np.linspace(0.01, 0.25, 6), rho=np.linspace(0.0, 0.5, 4), steps=40, seeds=2,
              progress=False)
    a = st.sweep(f, "ssam", **kw)
    assert a.identical(st.sweep(f, "ssam", **kw))
    for cs in (1, 13, BLOCK + 1):
        assert a.identical(st.sweep(f, "ssam", chunk_size=cs, **kw)), cs


def test_stochastic_sweep_is_identical_across_chunk_sizes():
    for f in _data_landscapes(True):
        kw = dict(lr=np.linspace(0.01, 0.1, 8), rho=np.linspace(0.0, 0.2, 4), steps=20,
                  seeds=2, batch_size=8, progress=False, grad_tol=1e-3)
        a = st.sweep(f, "ssam", **kw)
        for cs in (3, 7):  # 64 rows in one chunk share 2 minibatch sequences (grouped)
            assert a.identical(st.sweep(f, "ssam", chunk_size=cs, **kw)), cs


def test_fast_sweep_rows_equal_runs():
    f = st.Quadratic.from_eigenvalues(np.linspace(1.0, 10.0, 16), seed=0, fast=True)
    lr, rho = np.array([0.05, 0.15]), np.array([0.1, 0.4])
    res = st.sweep(f, "ssam", lr=lr, rho=rho, steps=40, seeds=1, grad_tol=None,
                   progress=False)
    for i, j in itertools.product(range(2), range(2)):
        tr = st.run(st.optimizer("ssam", lr=lr[i], rho=rho[j]), f, res.w0[0], 40)
        assert tr.final.tobytes() == res.final_w[i, j, 0].tobytes()


def test_dense_two_dimensional_quadratic_keeps_einsum_bits():
    H = np.array([[3.0, -1.25], [-1.25, 0.5]])
    f = st.Quadratic(H)
    W = np.random.default_rng(4).standard_normal((50, 2))
    assert f.grad(W).tobytes() == np.einsum("...i,ij->...j", W, H).tobytes()


def test_fast_must_be_bool():
    with pytest.raises(TypeError, match="fast"):
        st.Quadratic(np.eye(2), fast="yes")
    with pytest.raises(TypeError, match="fast"):
        st.LeastSquares(np.eye(3), np.ones(3), fast=1.5)


@pytest.mark.parametrize("fast", [False, True])
def test_stochastic_early_stopping_bound_changes_no_outcome(fast, monkeypatch):
    """The gradient-norm lower bound only skips full gradients that cannot pass the check:
    outcomes, event steps and finals equal those of evaluating it at every step."""
    from ssam_theory.sweep import kernel

    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 6))
    y = X @ rng.standard_normal(6)  # interpolation: minibatch SGD-type runs converge
    f = st.LeastSquares(X, y, fast=fast)
    q = st.NoisyQuadratic(np.diag([3.0, 1.0, 0.5]), n=10, sigma=0.2, seed=1)
    for land, tol in ((f, 1e-6), (q, 1e-3)):
        kw = dict(lr=np.linspace(0.02, 0.3, 6), rho=np.array([0.0, 0.05, 0.3]), steps=150,
                  seeds=2, batch_size=4, grad_tol=tol, patience=3, progress=False)
        with_bound = st.sweep(land, "ssam", **kw)
        with monkeypatch.context() as m:
            m.setattr(kernel, "_gradient_lipschitz", lambda f: None)
            every_step = st.sweep(land, "ssam", **kw)
        assert with_bound.identical(every_step)
        codes = set(np.unique(with_bound.outcome).tolist())
        assert int(st.Outcome.CONVERGED) in codes or land is q  # the check did fire
    assert with_bound.stats["row_steps"] == every_step.stats["row_steps"]


def test_gradient_lipschitz_bounds_the_gradient_change():
    rng = np.random.default_rng(6)
    for f in [*_data_landscapes(False), st.NoisyQuadratic(_sym(4, 1), n=5, sigma=1.0)]:
        beta = f.gradient_lipschitz()
        W, V = rng.standard_normal((2, 200, f.dim))
        change = np.linalg.norm(f.grad(W) - f.grad(V), axis=1)
        assert np.all(change <= beta * np.linalg.norm(W - V, axis=1) * (1 + 1e-12))
