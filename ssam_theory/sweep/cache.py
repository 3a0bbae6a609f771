"""Checkpoints of a sweep: content keys, chunk files with checksums, atomic writes.

A chunk file ``<key>-<chunk>.npz`` is used only if its key, chunk number, row count and a
SHA-256 over its arrays all match; anything else is recomputed and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from ..landscapes import Landscape
from .result import FIELDS, atomic_write

__all__ = ["cache_key", "factory_identity", "factory_label", "landscape_fingerprint",
           "load_chunk", "save_chunk"]


def factory_label(fn) -> str:
    """A readable description of a factory (stored in the settings)."""
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={val!r}" for k, val in
                                             sorted(fn.keywords.items())]
        return f"functools.partial({factory_label(fn.func)}, {', '.join(args)})"
    mod = getattr(fn, "__module__", None) or "?"
    return f"{mod}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def factory_identity(fn) -> str | None:
    """Qualified name + bytecode/constants (+ a partial's arguments), or ``None`` when that
    does not pin the factory down (lambdas, closures, callable objects, ``0x`` reprs)."""
    if isinstance(fn, functools.partial):
        inner = factory_identity(fn.func)
        parts = [repr(a) for a in fn.args] + [f"{k}={val!r}" for k, val in
                                              sorted(fn.keywords.items())]
        if inner is None or any(" at 0x" in p or "<" in p for p in parts):
            return None
        return f"partial({inner}; {'; '.join(parts)})"
    code = getattr(fn, "__code__", None)
    qual = getattr(fn, "__qualname__", "")
    if code is None or "<" in qual or getattr(fn, "__closure__", None):
        return None
    h = hashlib.sha256(code.co_code)
    h.update(repr((code.co_consts, code.co_names, fn.__defaults__,
                   fn.__kwdefaults__)).encode())
    if " at 0x" in repr(code.co_consts) + repr(fn.__defaults__) + repr(fn.__kwdefaults__):
        return None
    return f"{fn.__module__}.{qual}#{h.hexdigest()[:16]}"



def landscape_fingerprint(landscape: Landscape) -> str:
    """SHA-256 over a landscape's class and every attribute (arrays by dtype, shape, bytes)."""
    h = hashlib.sha256()
    cls = type(landscape)
    h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    for k in sorted(vars(landscape)):
        x = vars(landscape)[k]
        h.update(k.encode())
        if isinstance(x, np.ndarray):
            h.update(f"{x.dtype.str}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode())
    return h.hexdigest()


def cache_key(settings, lr, rho, seeds, w0_table, chunk_size, factory=None) -> str:
    """SHA-256 (first 32 hex digits) of the settings (incl. version and landscape
    fingerprint), the coordinates, the starts, the chunk size (which fixes each chunk's
    rows) and, if any, the identity of ``make_optimizer`` (default sweeps: unchanged key)."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(f"chunk_size={chunk_size}".encode())
    if factory is not None:
        h.update(f"make_optimizer={factory}".encode())
    for a in (lr, rho, seeds, w0_table):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:32]


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
