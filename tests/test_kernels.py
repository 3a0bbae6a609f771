"""The compiled kernels of the fast data-landscape arithmetic (ssam_theory._kernels).

* hand-computed gradients and one SSAM step in exactly representable numbers;
* the documented order of operations, transcribed in plain Python, bit for bit;
* a batch equals its rows on every path (full data, one minibatch, per-row minibatches,
  rows sharing minibatches), and the shared path equals the gathered one;
* the same bits on repeat, in another process and on a process-pool sweep;
* the kernels' exp, sigmoid and softplus within 1, 3 and 3 ulps of NumPy/SciPy;
* bad minibatch indices are refused; a kernel still compiles where nothing can be cached.
"""

import concurrent.futures as cf
import math
import subprocess
import sys

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory import _kernels, _numba


def _landscapes():
    ls = st.data.synthetic_least_squares(seed=0)
    lg = st.data.synthetic_logistic(seed=1)
    return [st.LeastSquares(ls.X, ls.y, fast=True),
            st.Logistic(lg.X, lg.y, l2=0.01, fast=True)]


X3 = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]])
Y3 = np.array([1.0, 0.0, 2.0])


def test_hand_computed_least_squares_gradient_and_ssam_step():
    f = st.LeastSquares(X3, Y3, fast=True)
    w = np.array([0.5, -1.0])
    # residuals x·w - y: -1.5 - 1 = -2.5 and 2.5 - 0 = 2.5; g = (-2.5 x_0 + 2.5 x_1) / 2
    g = f.grad(w, [0, 1])
    assert g.tolist() == [2.5, -3.75]
    # SSAM, lr = 1/4, rho = 1/2: e = rho g, w + e = (1.75, -2.875); residuals -5 and 8.125
    gt = f.grad(w + 0.5 * g, [0, 1])
    assert gt.tolist() == [9.6875, -9.0625]
    opt = st.optimizer("ssam", lr=0.25, rho=0.5)
    w1, _ = opt.step(w, None, lambda x: f.grad(x, [0, 1]))
    gamma = math.sqrt(2.5**2 + 3.75**2) / math.sqrt(9.6875**2 + 9.0625**2)
    assert w1.tolist() == (w - 0.25 * (np.array([9.6875, -9.0625]) * gamma)).tolist()
    # the full loss: residuals -2.5, 2.5, -3 at w; (6.25 + 6.25 + 9) / (2 * 3)
    assert f.loss(w) == 21.5 / 6
    assert f.grad(w).tolist() == ((-2.5 * X3[0] + 2.5 * X3[1] - 3.0 * X3[2]) / 3).tolist()


def test_hand_computed_logistic_gradient_at_zero():
    f = st.Logistic(X3, np.array([1.0, -1.0, 1.0]), l2=0.5, fast=True)
    w = np.zeros(2)
    # σ(0) = 1/2 exactly: g = -(1/2)(y_0 x_0 + y_1 x_1) / 2 + l2 w
    assert f.grad(w, [0, 1]).tolist() == [0.5, -0.75]
    assert f.grad(np.array([1.0, 0.0]), [2]).tolist() == [0.5, -0.5]  # margin 0 again
    assert abs(f.loss(w) - math.log(2.0)) <= 2 * math.ulp(math.log(2.0))


def _sequential(f, W, idx, sigmoid):
    """The kernels' order of operations, one row and one example at a time."""
    out = np.empty(W.shape)
    for i, w in enumerate(W):
        coef = []
        for j in idx[i]:
            m = 0.0
            for c in range(w.size):
                m += f.X[j, c] * w[c]
            yk = f.y[j]
            coef.append(m - yk if f.task == "least_squares" else -yk * sigmoid(-(yk * m)))
        for c in range(w.size):
            s = 0.0
            for k, j in enumerate(idx[i]):
                s += coef[k] * f.X[j, c]
            out[i, c] = s / len(idx[i]) + (f.l2 * w[c] if f.l2 else 0.0)
    return out


def test_kernels_follow_the_documented_order_bit_for_bit():
    rng = np.random.default_rng(0)

    def sigmoid(v):
        out = np.empty(1)
        _kernels.math_into(1, np.array([v]), out)
        return out[0]

    for f in _landscapes():
        W = rng.standard_normal((11, f.dim)) * 0.5
        idx = rng.integers(0, f.n, (11, 5))
        assert f.grad(W, idx).tobytes() == _sequential(f, W, idx, sigmoid).tobytes()


def test_batch_equals_rows_on_every_path():
    rng = np.random.default_rng(1)
    B = 8 * 4 + 5  # full blocks of eight lanes and a padded one
    for f in _landscapes():
        W = rng.standard_normal((B, f.dim)) * 0.5
        one = rng.integers(0, f.n, 6)
        own = rng.integers(0, f.n, (B, 6))
        shared = rng.integers(0, f.n, (3, 6))[np.arange(B) % 3]  # interleaved, as seeds
        L, G, G1, Go, Gs = f.loss(W), f.grad(W), f.grad(W, one), f.grad(W, own), \
            f.grad(W, shared)
        out = np.empty(W.shape)  # the grouped minibatches through the gathering kernel
        _kernels.grad_rows(f.task, W, f.X, f.y, shared, f.l2, out)
        assert out.tobytes() == Gs.tobytes()
        for k in (0, 7, 8, 31, B - 1):
            assert f.loss(W[k]).tobytes() == L[k].tobytes()
            assert f.grad(W[k]).tobytes() == G[k].tobytes()
            assert f.grad(W[k], one).tobytes() == G1[k].tobytes()
            assert f.grad(W[k], own[k]).tobytes() == Go[k].tobytes()
            assert f.grad(W[k:k + 1], shared[k:k + 1])[0].tobytes() == Gs[k].tobytes()


_CHILD = """
import hashlib, numpy as np, ssam_theory as st
ls = st.data.synthetic_least_squares(seed=0)
lg = st.data.synthetic_logistic(seed=1)
rng = np.random.default_rng(2)
h = hashlib.sha256()
for f in (st.LeastSquares(ls.X, ls.y, fast=True), st.Logistic(lg.X, lg.y, l2=0.01, fast=True)):
    W = rng.standard_normal((21, f.dim))
    idx = rng.integers(0, f.n, (21, 4))
    for a in (f.loss(W), f.grad(W), f.grad(W, idx), f.grad(W, idx[np.arange(21) % 2])):
        h.update(a.tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_same_bits_on_repeat_and_in_another_process():
    def digest():
        scope = {}
        exec(compile(_CHILD.replace("print(h.hexdigest())", "out = h.hexdigest()"),
                     "<child>", "exec"), scope)
        return scope["out"]

    here = digest()
    assert digest() == here
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                           check=True)
    assert child.stdout.strip() == here


@pytest.mark.slow
def test_fast_stochastic_sweep_same_on_a_process_pool():
    f = _landscapes()[1]
    kw = dict(lr=np.linspace(0.05, 0.5, 6), rho=np.linspace(0.0, 0.2, 4), steps=30, seeds=3,
              batch_size=4, grad_tol=None, progress=False, chunk_size=24)
    serial = st.sweep(f, "ssam", **kw)
    with cf.ProcessPoolExecutor(2) as pool:
        assert serial.identical(st.sweep(f, "ssam", executor=pool, **kw))
    tr = st.run(st.optimizer("ssam", lr=kw["lr"][2], rho=kw["rho"][1]), f, serial.w0[1], 30,
                batch_size=4, seed=int(serial.seeds[1]))
    assert serial.outcome[2, 1, 1] == st.Outcome.BOUNDED
    assert tr.final.tobytes() == serial.final_w[2, 1, 1].tobytes()  # a sweep row is a run


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_exp_sigmoid_softplus_accuracy():
    from scipy.special import expit

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-40, 40, 200_000), rng.standard_normal(100_000),
                        np.logspace(-300, 2.85, 20_000), -np.logspace(-300, 2.85, 20_000),
                        [0.0, -0.0, 700.0, -700.0, 745.0, -745.0]])
    neg = -np.abs(x)
    e = np.empty_like(x)
    _kernels.math_into(0, neg, e)
    want = np.exp(neg)
    normal = want >= np.finfo(float).tiny
    assert _ulps(e[normal], want[normal]).max() <= 1
    assert np.abs(e[~normal] - want[~normal]).max() <= 5e-324  # subnormals: one rounding
    s, p = np.empty_like(x), np.empty_like(x)
    _kernels.math_into(1, x, s)
    _kernels.math_into(2, x, p)
    ok = expit(x) > 1e-300
    assert _ulps(s[ok], expit(x)[ok]).max() <= 3
    ok = np.logaddexp(0.0, x) > 1e-300
    assert _ulps(p[ok], np.logaddexp(0.0, x)[ok]).max() <= 3
    special = np.array([np.inf, -np.inf, np.nan])
    _kernels.math_into(1, special, s[:3])
    _kernels.math_into(2, special, p[:3])
    assert s[:2].tolist() == [1.0, 0.0] and np.isnan(s[2])
    assert p[:2].tolist() == [np.inf, 0.0] and np.isnan(p[2])


def test_bad_minibatch_indices_are_refused():
    f = _landscapes()[0]
    W = np.zeros((4, f.dim))
    with pytest.raises(ValueError, match=r"idx must lie in \[0, 200\)"):
        f.grad(W, np.full((4, 3), 200))
    with pytest.raises(ValueError, match="idx must lie"):
        f.grad(W, [-1, 0])
    with pytest.raises(TypeError, match="idx must be an integer array"):
        f.grad(W, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="idx of shape"):
        f.grad(W, np.zeros((5, 3), dtype=int))
    with pytest.raises(ValueError, match="W must have shape"):
        f.grad(np.zeros((4, f.dim + 1)), [0])


def test_a_kernel_compiles_where_nothing_can_be_cached():
    scope = {}
    exec("def twice(k, x, out):\n    for i in range(x.size):\n        out[i] = k * x[i]\n",
         scope)  # no source file: numba has no cache locator for it
    with pytest.warns(RuntimeWarning, match="cannot cache twice"):
        fn = _numba.compile_kernel(scope["twice"], _kernels._VEC)
    out = np.empty(3)
    fn(2, np.arange(3.0), out)
    assert out.tolist() == [0.0, 2.0, 4.0]
