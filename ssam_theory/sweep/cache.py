"""Checkpoints of a sweep: content keys, chunk files with checksums, atomic writes.

A cache key is a SHA-256 over the full *contents* of everything that determines the numbers:

* arrays by dtype, shape and bytes, recursively through lists, tuples, dicts, sets and the
  attributes of objects (``__dict__`` and ``__slots__``), never by ``repr``;
* user code by its bytecode: every function (code object, constants, defaults, closure cells
  and the module-level functions, classes and data it refers to by name) and every user class
  (each class of its MRO that is neither this package's nor an installed library's: the
  bytecode of its methods and its class-level data);
* this package by the bytes of every ``.py`` file of it (:func:`package_source_hash`), not by
  its version string; installed libraries by name and version, plus the NumPy and Python
  versions.

Anything whose identity cannot be established this way (an object of a C-implemented class,
such as a lock, a generator or a random ``Generator``, which hides its state from Python)
raises :class:`UnidentifiableError`; :func:`ssam_theory.sweep` then refuses ``cache_dir``.

A chunk file ``<key>-n<chunks>-<chunk>.npz`` is used only if its key, chunk number, row count
and a SHA-256 over its arrays all match; anything else is deleted and recomputed.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import io
import json
import os
import pathlib
import platform
import sys
import sysconfig
import types
from pathlib import Path

import numpy as np

from ..landscapes import Landscape
from .result import FIELDS, atomic_write

__all__ = ["UnidentifiableError", "cache_key", "content_hash", "factory_identity",
           "factory_label", "landscape_fingerprint", "load_chunk", "package_source_hash",
           "save_chunk"]

_PACKAGE = __name__.split(".")[0]  # "ssam_theory"
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE
_IMMUTABLE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: set on C types, never on Python classes
#: Layout of chunk files (bump when the row-to-chunk assignment or the file format changes).
LAYOUT = "golden-interleave/2"


class UnidentifiableError(TypeError):
    """An object whose contents cannot be hashed reproducibly (the message says where)."""


def package_source_hash(root=None) -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the package."""
    root = _PACKAGE_ROOT if root is None else Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix().encode()
        data = p.read_bytes()
        h.update(len(rel).to_bytes(8, "little") + rel + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    dirs = {os.path.realpath(p) for k in keys if (p := sysconfig.get_paths().get(k))}
    return tuple(sorted(dirs))


def _kind(module_name: str | None) -> str:
    """``"package"`` (this package), ``"library"`` (built in, stdlib, site-packages) or
    ``"user"`` (anything else: scripts, tests, notebooks, ``__main__``)."""
    if not module_name:
        return "user"
    top = module_name.split(".")[0]
    if top == _PACKAGE:
        return "package"
    if top in sys.builtin_module_names:
        return "library"
    mod = sys.modules.get(module_name) or sys.modules.get(top)
    file = getattr(mod, "__file__", None)
    if mod is None or module_name == "__main__":
        return "user"
    if file is None:
        return "library"  # built-in or namespace module of an installed distribution
    real = os.path.realpath(file)
    return "library" if any(real.startswith(d + os.sep) for d in _library_dirs()) else "user"


def _library_version(module_name: str) -> str:
    top = sys.modules.get(module_name.split(".")[0])
    return str(getattr(top, "__version__", ""))


class _Hasher:
    """Feeds a canonical, length-prefixed serialisation of an object into SHA-256."""

    def __init__(self):
        self.h = hashlib.sha256()
        self.memo: dict[int, int] = {}  # id -> first visit (cycles, shared objects)
        self.keep: list = []  # keeps visited objects alive, so ids are not reused
        # id -> depth of the objects being hashed, shared with the hashers of sub(): a cycle
        # through an order-free container (a dict of attributes holding a function whose
        # closure holds the object again) ends at its ancestor instead of recursing forever
        self.path: dict[int, int] = {}

    def put(self, tag: str, data: bytes = b"") -> None:
        t = tag.encode()
        self.h.update(len(t).to_bytes(2, "little") + t + len(data).to_bytes(8, "little") + data)

    def sub(self, x, where) -> bytes:
        """Digest of ``x`` on its own (for order-free containers)."""
        other = _Hasher()
        other.path = self.path
        other.obj(x, where)
        return other.h.digest()

    def obj(self, x, where: str) -> None:
        if x is None or isinstance(x, (bool, int, float, complex)):
            self.put(type(x).__name__, repr(x).encode())
            return
        if isinstance(x, str):
            self.put("str", x.encode("utf-8", "surrogatepass"))
            return
        if isinstance(x, (bytes, bytearray)):
            self.put("bytes", bytes(x))
            return
        if isinstance(x, np.generic):
            self.put("np." + x.dtype.str, x.tobytes())
            return
        if isinstance(x, (np.dtype, pathlib.PurePath)):
            self.put(type(x).__name__, str(x).encode())
            return
        if id(x) in self.memo:
            self.put("ref", str(self.memo[id(x)]).encode())
            return
        if id(x) in self.path:  # an ancestor met again through a sub-hasher
            self.put("cycle", str(len(self.path) - self.path[id(x)]).encode())
            return
        self.memo[id(x)] = len(self.memo)
        self.keep.append(x)
        self.path[id(x)] = len(self.path)
        try:
            self._contents(x, where)
        finally:
            del self.path[id(x)]

    def _contents(self, x, where: str) -> None:
        if isinstance(x, np.ndarray):
            self.put("ndarray", f"{x.dtype.str}{x.shape}".encode())
            if x.dtype.hasobject:
                for i, item in enumerate(x.flat):
                    self.obj(item, f"{where}[{i}]")
            else:
                self.put("data", np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            self.put(type(x).__name__, str(len(x)).encode())
            for i, item in enumerate(x):
                self.obj(item, f"{where}[{i}]")
        elif isinstance(x, (dict, types.MappingProxyType)):  # a read-only view shows its items
            pairs = sorted(self.sub(k, f"{where} key") + self.sub(val, f"{where}[{k!r}]")
                           for k, val in x.items())
            self.put("dict", b"".join(pairs))
        elif isinstance(x, (set, frozenset)):
            self.put("set", b"".join(sorted(self.sub(i, f"{where} item") for i in x)))
        elif isinstance(x, enum.Enum):
            self.cls(type(x), where)
            self.put("enum", x.name.encode())
        elif isinstance(x, functools.partial):
            self.put("partial")
            self.obj(x.func, f"{where}.func")
            self.obj(x.args, f"{where}.args")
            self.obj(x.keywords, f"{where}.keywords")
        elif isinstance(x, types.FunctionType):
            self.function(x, where)
        elif isinstance(x, types.MethodType):
            self.put("method")
            self.obj(x.__func__, f"{where}.__func__")
            self.obj(x.__self__, f"{where}.__self__")
        elif isinstance(x, (staticmethod, classmethod)):
            self.put(type(x).__name__)
            self.obj(x.__func__, f"{where}.__func__")
        elif isinstance(x, property):
            self.put("property")
            for part in ("fget", "fset", "fdel"):
                self.obj(getattr(x, part), f"{where}.{part}")
        elif isinstance(x, types.CodeType):
            self.code(x, where)
        elif isinstance(x, types.ModuleType):
            self.put("module", x.__name__.encode())
        elif isinstance(x, type):
            self.cls(x, where)
        elif isinstance(x, (types.BuiltinFunctionType, np.ufunc)) or (callable(x) and _kind(
                getattr(x, "__module__", None)) == "library" and not _has_state(x)):
            mod = getattr(x, "__module__", None) or type(x).__module__
            self._library(x, mod, where)
        else:
            self.instance(x, where)

    def _library(self, x, mod, where):
        self_ = getattr(x, "__self__", None)
        if self_ is not None and not isinstance(self_, types.ModuleType) and not isinstance(
                self_, type):
            raise UnidentifiableError(f"{where}: a method bound to {type(self_).__name__} "
                                      f"object {self_!r} (its state is not visible)")
        name = getattr(x, "__qualname__", None) or getattr(x, "__name__", repr(x))
        self.put("library", f"{mod}.{name}@{_library_version(mod or '')}".encode())

    def function(self, fn, where):
        mod = fn.__module__
        kind = _kind(mod)
        self.put("function", f"{kind}:{mod}.{fn.__qualname__}".encode())
        if kind != "user":  # this package: covered by its source hash; libraries: by version
            if kind == "library":
                self.put("version", _library_version(mod).encode())
            return
        self.code(fn.__code__, f"{where} ({fn.__qualname__})")
        self.obj(fn.__defaults__, f"{where}.__defaults__")
        self.obj(fn.__kwdefaults__, f"{where}.__kwdefaults__")
        for i, cell in enumerate(fn.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                content = "<empty cell>"
            self.obj(content, f"{where} closure {fn.__code__.co_freevars[i]!r}")
        g = fn.__globals__
        for name in sorted(_names(fn.__code__)):
            if name in g and not isinstance(g[name], types.ModuleType):
                self.put("global", name.encode())
                self.obj(g[name], f"{where} global {name!r}")

    def code(self, co, where):
        self.put("code", co.co_code)
        self.put("names", repr((co.co_names, co.co_varnames, co.co_freevars, co.co_cellvars,
                                co.co_argcount, co.co_kwonlyargcount, co.co_posonlyargcount,
                                co.co_flags)).encode())
        for i, const in enumerate(co.co_consts):
            self.obj(const, f"{where} constant {i}")

    def cls(self, c, where):
        kind = _kind(c.__module__)
        self.put("class", f"{kind}:{c.__module__}.{c.__qualname__}".encode())
        if kind == "library":
            self.put("version", _library_version(c.__module__).encode())
        if kind != "user":
            return
        for base in c.__mro__:
            if base is object or _kind(base.__module__) != "user":
                self.put("base", f"{base.__module__}.{base.__qualname__}".encode())
                continue
            if _opaque(base):
                raise UnidentifiableError(f"{where}: class {base.__qualname__} is implemented "
                                          f"in C (its code cannot be hashed)")
            for name in sorted(vars(base)):
                if name in ("__dict__", "__weakref__", "__doc__", "__module__",
                            "__qualname__", "__annotations__", "__slots__"):
                    continue
                self.put("attr", f"{base.__qualname__}.{name}".encode())
                self.obj(vars(base)[name], f"{where} {base.__qualname__}.{name}")

    def instance(self, x, where):
        c = type(x)
        opaque = [b for b in c.__mro__ if b is not object and _opaque(b)]
        if opaque:
            raise UnidentifiableError(f"{where}: cannot hash a {c.__module__}.{c.__qualname__} "
                                      f"object by content (its class {opaque[0].__qualname__} "
                                      f"keeps state in C), got {_short(x)}")
        self.cls(c, where)
        state = dict(getattr(x, "__dict__", {}))
        for base in c.__mro__:
            for slot in getattr(base, "__slots__", ()):
                if slot not in ("__dict__", "__weakref__") and hasattr(x, slot):
                    state[f"slot:{slot}"] = getattr(x, slot)
        self.obj(state, f"{where}.__dict__")


def _opaque(c: type) -> bool:
    """True for a class implemented in C (its instances may hold state Python cannot see)."""
    return bool(c.__flags__ & _IMMUTABLE) or not c.__flags__ & _HEAPTYPE


def _has_state(x) -> bool:
    return bool(getattr(x, "__dict__", None)) and not isinstance(x, types.BuiltinFunctionType)


def _names(co) -> set[str]:
    """Global names a code object (and the code objects nested in it) refers to."""
    out = set(co.co_names)
    for const in co.co_consts:
        if isinstance(const, types.CodeType):
            out |= _names(const)
    return out


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def content_hash(obj, where: str = "object") -> str:
    """SHA-256 hex digest of ``obj``'s full contents (see the module docstring).

    Raises:
        UnidentifiableError: naming the part of ``obj`` (``where``) that cannot be hashed.
    """
    h = _Hasher()
    h.obj(obj, where)
    return h.h.hexdigest()


def factory_label(fn) -> str:
    """A readable description of a factory (stored in the settings)."""
    if isinstance(fn, functools.partial):
        args = [_short(a) for a in fn.args] + [f"{k}={_short(val)}" for k, val in
                                               sorted(fn.keywords.items())]
        return f"functools.partial({factory_label(fn.func)}, {', '.join(args)})"
    mod = getattr(fn, "__module__", None) or "?"
    return f"{mod}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def factory_identity(fn) -> str:
    """Content hash of a rule factory (code, closure, partial arguments by content).

    Raises:
        UnidentifiableError: if some part of it cannot be hashed reproducibly.
    """
    return content_hash(fn, "make_optimizer")


def landscape_fingerprint(landscape: Landscape) -> str:
    """SHA-256 over a landscape's class (its code, for user classes) and its full state
    (every attribute by content; arrays by dtype, shape and bytes).

    Raises:
        UnidentifiableError: if some attribute cannot be hashed reproducibly.
    """
    return content_hash(landscape, "landscape")


def environment() -> dict:
    """What else can change the bits: the package's source, NumPy and Python."""
    return {"package_source": package_source_hash(), "numpy": np.__version__,
            "python": platform.python_version(), "layout": LAYOUT}


def cache_key(settings, lr, rho, seeds, w0_table, factory=None, env=None) -> str:
    """SHA-256 (first 32 hex digits) of the settings (incl. the landscape fingerprint), the
    coordinates, the starts, the environment (:func:`environment`) and, if any, the identity
    of ``make_optimizer``. The chunking is not part of it: chunk files name their layout."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(json.dumps(environment() if env is None else env, sort_keys=True).encode())
    if factory is not None:
        h.update(f"make_optimizer={factory}".encode())
    for a in (lr, rho, seeds, w0_table):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:32]


def chunk_path(cache: Path, key: str, n_chunks: int, c: int) -> Path:
    return cache / f"{key}-n{n_chunks}-{c:06d}.npz"


def _checksum(key: str, c: int, res: dict) -> str:
    h = hashlib.sha256(f"{key}/{c}".encode())
    for k in (*FIELDS, "row_steps"):
        a = np.asarray(res[k])
        h.update(f"{k}{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_chunk(path: Path, key: str, c: int, res: dict) -> None:
    arrays = {k: np.asarray(res[k]) for k in (*FIELDS, "row_steps")}
    arrays["key"] = np.array(key)
    arrays["chunk"] = np.array(c)
    arrays["checksum"] = np.array(_checksum(key, c, res))
    atomic_write(path, arrays)


def load_chunk(path: Path, key: str, c: int, rows: int | None = None):
    """``(result, "ok")``, ``(None, "missing")`` or ``(None, "corrupt")``."""
    if not path.exists():
        return None, "missing"
    try:
        data = path.read_bytes()  # read whole: np.load leaks the handle of a broken zip
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            res = {k: z[k] for k in (*FIELDS, "row_steps")}
            ok = (str(z["key"]) == key and int(z["chunk"]) == c
                  and str(z["checksum"]) == _checksum(key, c, res)
                  and (rows is None or res["outcome"].shape == (rows,)))
    except Exception:  # truncated zip, bad header, missing member: recompute
        return None, "corrupt"
    return (res, "ok") if ok else (None, "corrupt")
