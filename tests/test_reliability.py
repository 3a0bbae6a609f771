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
