"""Reliability: the cache never serves a stale result, wrong shapes and bad inputs are refused
with one-line errors naming the parameter, resources are planned, nothing is left behind."""

import functools
import importlib
import os
import shutil
import stat
import sys
import textwrap
import threading

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory.landscapes import Landscape
from ssam_theory.sweep import cache as sweep_cache
from ssam_theory.sweep import landscape_fingerprint

DIAG = st.Quadratic(np.diag([10.0, 1.0]))
KW = dict(lr=np.linspace(0.01, 0.3, 5), rho=[0.0, 0.2], steps=60, seeds=2, chunk_size=8)


# ---------------------------------------------------------------------------------------------
# group 1: cache keys from full contents


class Shifted(Landscape):
    """A user landscape whose parameters sit in a dict (hashed by content, not by repr)."""

    def __init__(self, params):
        self.dim = 2
        self.params = params

    def __repr__(self):
        return "Shifted()"

    def grad(self, W):
        W = self._iterates(W)
        return (W - self.params["shift"][1000:1002]) * np.array([10.0, 1.0])

    def loss(self, W):
        W = self._iterates(W)
        X = W - self.params["shift"][1000:1002]
        return 0.5 * np.einsum("...i,...i->...", X * np.array([10.0, 1.0]), X)


def test_collision_big_array_inside_an_attribute(tmp_path):
    a = np.zeros(2000)
    b = a.copy()
    b[1000] = 0.5  # differs only in the middle: repr() of the two arrays is the same
    assert repr({"shift": a}) == repr({"shift": b})
    first = st.sweep(Shifted({"shift": a}), "ssam", cache_dir=tmp_path, **KW)
    second = st.sweep(Shifted({"shift": b}), "ssam", cache_dir=tmp_path, **KW)
    assert first.stats["computed"] == first.stats["chunks"]
    assert second.stats["loaded"] == 0  # a different landscape: recomputed
    assert second.identical(st.sweep(Shifted({"shift": b}), "ssam", **KW))
    again = st.sweep(Shifted({"shift": a.copy()}), "ssam", cache_dir=tmp_path, **KW)
    assert again.stats["loaded"] == again.stats["chunks"]  # equal contents: reused


def test_collision_nested_package_landscape():
    # NoisyQuadratic holds a Quadratic whose repr rounds eigenvalues to 6 digits
    H1, H2 = np.diag([1.0, -1.0]), np.diag([1.0, -1.0 - 1e-9])
    f1 = st.NoisyQuadratic(H1, n=8, sigma=1.0)
    f2 = st.NoisyQuadratic(H2, n=8, sigma=1.0)
    assert repr(f1.quadratic) == repr(f2.quadratic)
    assert landscape_fingerprint(f1) != landscape_fingerprint(f2)
    assert landscape_fingerprint(f1) == landscape_fingerprint(
        st.NoisyQuadratic(H1, n=8, sigma=1.0))


def rule_by_table(lr, rho, table=None, **options):
    """A factory whose rule depends on the middle entry of a big array argument."""
    return st.optimizer("ssam" if table[1000] == 0 else "usam", lr, rho, **options)


def test_collision_partial_with_big_array(tmp_path):
    a = np.zeros(2001)
    b = a.copy()
    b[1000] = 1.0
    fa = functools.partial(rule_by_table, table=a)
    fb = functools.partial(rule_by_table, table=b)
    assert repr(fa) == repr(fb)
    kw = KW | {"rho": [0.3, 0.6]}
    first = st.sweep(DIAG, "ssam", make_optimizer=fa, cache_dir=tmp_path, **kw)
    second = st.sweep(DIAG, "ssam", make_optimizer=fb, cache_dir=tmp_path, **kw)
    assert second.stats["loaded"] == 0
    assert second.identical(st.sweep(DIAG, "ssam", make_optimizer=fb, **kw))
    assert not np.array_equal(first.final_w, second.final_w)


_USER_MODULE = """
import numpy as np
from ssam_theory.landscapes import Landscape

SCALE = {scale}


def helper(lr):
    return lr * {factor}


class Bowl(Landscape):
    dim = 2

    def grad(self, W):
        return self._iterates(W) * np.array([SCALE, 1.0])

    def loss(self, W):
        W = self._iterates(W)
        return 0.5 * np.einsum("...i,...i->...", W * np.array([SCALE, 1.0]), W)


class Deeper(Bowl):
    pass


def factory(lr, rho, **options):
    import ssam_theory as st
    opt = st.optimizer("sgd", lr, rho, **options)
    assert helper(1.0) > 0
    return opt
"""


def _write_module(path, name, **values):
    path.write_text(textwrap.dedent(_USER_MODULE.format(**values)))
    importlib.invalidate_caches()
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)


def test_collision_edited_user_class_and_helper(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    (tmp_path / "src").mkdir()
    name = "ssam_user_bowl"
    file = tmp_path / "src" / f"{name}.py"
    monkeypatch.delitem(sys.modules, name, raising=False)
    cache = tmp_path / "cache"
    mod = _write_module(file, name, scale=10.0, factor=2.0)
    first = st.sweep(mod.Deeper(), "sgd", cache_dir=cache, **KW)
    assert st.sweep(mod.Deeper(), "sgd", cache_dir=cache, **KW).stats["computed"] == 0
    mod = _write_module(file, name, scale=12.0, factor=2.0)  # edit a module constant used
    edited = st.sweep(mod.Deeper(), "sgd", cache_dir=cache, **KW)  # by a base class's method
    assert edited.stats["loaded"] == 0
    assert edited.identical(st.sweep(mod.Deeper(), "sgd", **KW))
    assert not np.array_equal(first.final_w, edited.final_w)
    # a factory is hashed with the module-level helpers it calls
    one = st.sweep(DIAG, "sgd", make_optimizer=mod.factory, cache_dir=cache, **KW)
    assert one.stats["loaded"] == 0
    mod = _write_module(file, name, scale=12.0, factor=3.0)  # edit the helper only
    assert st.sweep(DIAG, "sgd", make_optimizer=mod.factory, cache_dir=cache,
                    **KW).stats["loaded"] == 0


def test_collision_edited_package_source(tmp_path, monkeypatch):
    copy = tmp_path / "ssam_theory"
    shutil.copytree(sweep_cache._PACKAGE_ROOT, copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sweep_cache, "_PACKAGE_ROOT", copy)
    before = sweep_cache.package_source_hash()
    cache = tmp_path / "cache"
    assert st.sweep(DIAG, "ssam", cache_dir=cache, **KW).stats["computed"] > 0
    assert st.sweep(DIAG, "ssam", cache_dir=cache, **KW).stats["computed"] == 0
    with open(copy / "rules.py", "a") as fh:  # an edit, same __version__
        fh.write("\n# edited\n")
    assert sweep_cache.package_source_hash() != before
    assert st.sweep(DIAG, "ssam", cache_dir=cache, **KW).stats["loaded"] == 0


class WithGenerator(Shifted):
    def __init__(self):
        super().__init__({"shift": np.zeros(2002)})
        self.rng = np.random.default_rng(0)  # state hidden in C


def test_unidentifiable_parts_refuse_cache_dir(tmp_path):
    f = WithGenerator()
    st.sweep(f, "sgd", **KW)  # fine without a cache
    with pytest.raises(ValueError, match=r"cache_dir.*landscape.*rng"):
        st.sweep(f, "sgd", cache_dir=tmp_path, **KW)
    lock = threading.Lock()
    with pytest.raises(ValueError, match=r"cache_dir.*make_optimizer.*lock"):
        st.sweep(DIAG, "sgd", cache_dir=tmp_path, **KW,
                 make_optimizer=lambda lr, rho, **o: lock and st.optimizer("sgd", lr, rho, **o))
    assert not any(p.suffix == ".npz" for p in tmp_path.iterdir())


def test_closures_are_identified_by_content(tmp_path):
    def make(name):
        return lambda lr, rho, **o: st.optimizer(name, lr, rho, **o)

    kw = KW | {"rho": [0.3, 0.6]}
    st.sweep(DIAG, "ssam", make_optimizer=make("ssam"), cache_dir=tmp_path, **kw)
    same = st.sweep(DIAG, "ssam", make_optimizer=make("ssam"), cache_dir=tmp_path, **kw)
    assert same.stats["computed"] == 0
    other = st.sweep(DIAG, "ssam", make_optimizer=make("usam"), cache_dir=tmp_path, **kw)
    assert other.stats["loaded"] == 0


def test_saved_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        res = st.sweep(DIAG, "sgd", cache_dir=tmp_path / "c", **KW)
        path = res.save(tmp_path / "r.npz")
    finally:
        os.umask(old)
    files = [path, *(tmp_path / "c").iterdir()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o640 for p in files)


# ---------------------------------------------------------------------------------------------
# groups 2, 3, 5: bad input is a one-line error naming the parameter (and never a warning:
# pytest turns any warning into an error)


def ignores_lr(lr, rho, **options):
    return st.optimizer("ssam", 0.05, rho, **options)


def ignores_rho(lr, rho, **options):
    return st.optimizer("ssam", lr, 0.0, **options)


SWEEP_BAD = [
    ({"seeds": "x"}, TypeError, "seeds"),
    ({"seeds": -1}, ValueError, "seeds"),
    ({"seeds": 1.5}, TypeError, "seeds"),
    ({"seeds": 2**63}, ValueError, "seeds"),
    ({"seeds": [2**63]}, ValueError, "seeds"),
    ({"seeds": [0, "x"]}, TypeError, "seeds"),
    ({"seeds": [1.5]}, TypeError, "seeds"),
    ({"seeds": np.zeros((2, 2), dtype=int)}, ValueError, "seeds"),
    ({"lr": 2**2000}, ValueError, "lr"),
    ({"lr": [0.1, 2**2000]}, ValueError, "lr"),
    ({"lr": [[0.1, 0.2], [0.3]]}, ValueError, "lr"),
    ({"rho": [[0.1], [0.2, 0.3]]}, ValueError, "rho"),
    ({"w0": [[1.0], [1.0, 2.0]]}, ValueError, "w0"),
    ({"saddle": [[0.0], [0.0, 1.0]]}, ValueError, "saddle"),
    ({"lr": "0.1"}, TypeError, "lr"),
    ({"checkpoint_seconds": 0}, ValueError, "checkpoint_seconds"),
    ({"checkpoint_seconds": np.nan}, ValueError, "checkpoint_seconds"),
    ({"on_plan": "print"}, TypeError, "on_plan"),
    ({"chunk_size": 1.5}, TypeError, "chunk_size"),
    ({"make_optimizer": ignores_lr, "lr": [0.1, 0.2]}, ValueError, "make_optimizer.*lr"),
    ({"make_optimizer": ignores_rho, "rho": [0.1, 0.2]}, ValueError, "make_optimizer.*rho"),
    # planned before any allocation: more rows than a sweep indexes, more memory than exists
    ({"lr": np.linspace(0, 1, 10**4), "rho": np.linspace(0, 1, 10**4), "seeds": 10**3},
     ValueError, "lr, rho, seeds.*split"),
    ({"lr": np.linspace(0, 1, 50_000), "rho": np.linspace(0, 1, 40_000)}, ValueError,
     r"lr, rho, seeds: the sweep needs about .*available"),
]


@pytest.mark.parametrize("kw, exc, match", SWEEP_BAD)
def test_sweep_bad_input(kw, exc, match):
    args = {"landscape": DIAG, "name": "ssam", "lr": 0.1, "rho": 0.1, "steps": 10} | kw
    with pytest.raises(exc, match=match) as err:
        st.sweep(**args)
    assert "\n" not in str(err.value)


LS = st.LeastSquares(np.arange(12.0).reshape(6, 2) / 10, np.ones(6))


def _run(**kw):
    args = {"opt": st.optimizer("sgd", 0.1, 0.0), "landscape": LS, "w0": np.zeros(2),
            "steps": 5} | kw
    return st.run(**args)


def _step(grad, w=None, state=None, momentum=0.0):
    opt = st.optimizer("ssam", 0.1, 0.1, momentum=momentum)
    return opt.step(np.ones(2) if w is None else w, state, grad)


def _other_batch_state():
    opt = st.optimizer("sgd", 0.1, 0.0, momentum=0.9)
    _, state = opt.step(np.ones((3, 2)), None, DIAG.grad)
    return opt.step(np.ones((2, 2)), state, DIAG.grad)


OTHER_BAD = [
    (lambda: _run(batch_size=2, seed="x"), TypeError, "seed"),
    (lambda: _run(batch_size=2, seed=-1), ValueError, "seed"),
    (lambda: _run(batch_size=2, seed=1.5), TypeError, "seed"),
    (lambda: _run(batch_size=2, seed=2**63), ValueError, "seed"),
    (lambda: _run(steps=10**15), ValueError, "steps.*run recording.*available"),
    (lambda: _run(steps=10**9, record_iterates=True), ValueError, "steps.*record_iterates"),
    (lambda: _run(record_iterates=1), TypeError, "record_iterates"),
    (lambda: _run(w0=[[0.0], [0.0, 1.0]]), ValueError, "w0"),
    (lambda: st.Optimizer("ssam", lr=-1.0, rho=0.1), ValueError, "lr"),
    (lambda: st.Optimizer("adam", 0.1, 0.1), ValueError, "name"),
    (lambda: st.Optimizer("sgd", 0.1, 0.1, truncate=True), ValueError, "truncate"),
    (lambda: st.Optimizer("ssam", 0.1, 0.1, momentum=1.0), ValueError, "momentum"),
    (lambda: st.Optimizer("ssam", np.array([0.1, 0.2]), np.array([0.1, 0.2, 0.3])),
     ValueError, "lr and rho"),
    (lambda: st.optimizer("ssam", lr=2**2000), ValueError, "lr"),
    (lambda: st.optimizer("ssam", lr=[[0.1], [0.1, 0.2]]), ValueError, "lr"),
    (lambda: st.renormalization_factor(-1.0, 1.0), ValueError, "g_norm"),
    (lambda: st.renormalization_factor(1.0, [-0.5, 1.0]), ValueError, "perturbed_norm"),
    (lambda: _step(lambda w: np.ones(1)), ValueError, r"grad.*\(2,\).*\(1,\)"),
    (lambda: _step(lambda w: np.ones(3)), ValueError, r"grad.*\(3,\)"),
    (lambda: _step(lambda w: np.ones(2), w=np.ones((4, 2))), ValueError, r"grad.*\(4, 2\)"),
    (lambda: _step(lambda w: [1.0, 1.0]), ValueError, "grad.*list"),
    (lambda: _step("grad"), TypeError, "grad"),
    (_other_batch_state, ValueError, "momentum_buffer"),
    (lambda: st.Quadratic(np.diag([1e308, 1e308])), ValueError, "H"),
    (lambda: st.Quadratic([[1e300, 1e300], [1e300, -1e300]]), ValueError, "H"),
    (lambda: st.Quadratic([[1.0, 0.0], [0.0]]), ValueError, "H"),
    (lambda: st.Quadratic.from_eigenvalues([1e300, 1.0]), ValueError, "eigenvalues"),
    (lambda: st.Quadratic.from_eigenvalues([1.0, 2.0], seed="x"), TypeError, "seed"),
    (lambda: st.LeastSquares(np.full((3, 2), 1e200), np.ones(3)), ValueError, "X"),
    (lambda: st.NoisyQuadratic(np.eye(2), n=8, sigma=1.0, seed=-1), ValueError, "seed"),
    (lambda: st.minibatch_indices(10, 2, 5, seed=1.5), TypeError, "seed"),
    (lambda: st.minibatch_indices(10, 2, 10**15, seed=0), ValueError, "steps"),
]


@pytest.mark.parametrize("call, exc, match", OTHER_BAD)
def test_api_bad_input(call, exc, match):
    with pytest.raises(exc, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_directly_built_optimizer_equals_the_factory():
    a = st.Optimizer("ssam", lr=[0.1, 0.2], rho=0.05)
    b = st.optimizer("ssam", lr=np.array([0.1, 0.2]), rho=0.05)
    assert isinstance(a.lr, np.ndarray) and np.array_equal(a.lr, b.lr) and a.rho == b.rho
    w = np.ones((2, 2))
    assert np.array_equal(a.step(w, None, DIAG.grad)[0], b.step(w, None, DIAG.grad)[0])


def test_sweep_plan_reported_before_work():
    plans = []
    res = st.sweep(DIAG, "sgd", lr=[0.1, 0.2], rho=0.0, steps=5, on_plan=plans.append)
    (plan,) = plans
    assert plan.rows == 2 and plan.n_chunks == 1 and plan.memory_bytes > 0
    assert "2 rows x 5 steps" in plan.describe()
    assert res.stats["plan"]["rows"] == 2


def test_time_bounded_chunk_sizes():
    from ssam_theory.sweep.plan import time_bounded_chunk

    # a = 50 µs per step of overhead, b = 1 µs per row and step, 1000 steps
    assert time_bounded_chunk((50e-6, 1e-6), 1000, 30.0, 10**6) == 29950  # (30/1000 - a)/b
    assert time_bounded_chunk((50e-6, 1e-6), 1000, 30.0, 4096) == 4096  # memory bound
    assert time_bounded_chunk((50e-6, 1e-6), 10**7, 30.0, 4096) == 50  # bound unreachable: a/b
    assert time_bounded_chunk((50e-6, 0.0), 1000, 30.0, 4096) == 4096


# ---------------------------------------------------------------------------------------------
# group 8: geometric blow-up in short runs


def test_growth_flags_geometric_blow_up_on_both_sides_of_the_rate():
    # GD on λ = 10: the loss ratio per step tends to (1 - 10 η)²; rate 1.01 sits at η ≈ 0.2005
    lr = [0.19, 0.2002, 0.2010, 0.22247]  # ratios 0.81, 1.004, 1.0201, 1.5 (the case)
    res = st.sweep(DIAG, "sgd", lr=lr, rho=0.0, steps=60, seeds=2)
    assert np.all(res.outcome == st.Outcome.BOUNDED)  # ‖w‖ stays below 1e12 in 60 steps
    growing = res.growing()[:, 0, 0]
    assert growing.tolist() == [False, False, True, True]
    # the measured rate is the predicted (1 - 10 η)² to 1e-6 (the λ = 1 mode has decayed by
    # 0.8¹²⁰ ≈ 1e-12 relative to it)
    assert res.growth[3, 0, 0] == pytest.approx((1 - 10 * 0.22247) ** 2, rel=1e-6)
    assert "growing=4" in repr(res)
    # SAM's 2-cycle: bounded, not growing
    cyc = st.sweep(DIAG, "sam", lr=0.1, rho=0.05, steps=300, seeds=2)
    assert np.all(cyc.outcome == st.Outcome.BOUNDED) and not cyc.growing().any()


def test_growth_survives_save_and_load(tmp_path):
    res = st.sweep(DIAG, "sgd", lr=[0.19, 0.21], rho=0.0, steps=30)
    back = st.SweepResult.load(res.save(tmp_path / "r.npz"))
    assert back.identical(res)
