r"""Experiments computed once per ``ssam-theory reproduce`` and shared by notebooks and claims.

A notebook's figure and the claim check it illustrates often need the very same runs (the
C11a phase diagrams, the C13 coupled runs, the C19 escape times). :func:`shared` marks such an
experiment function. Outside ``reproduce`` it changes nothing: the function runs. Inside,
``reproduce`` points the environment variable :data:`SHARE_ENV` at a private temporary
directory that every notebook kernel and claim worker inherits, and the first caller of an
experiment with given arguments computes it and stores the result there; every later caller
(another process included) loads it. A caller that arrives while the first one is still
computing waits for it (an exclusive ``fcntl`` lock per result) instead of computing it again.

The key of a result is the SHA-256 over the function's qualified name, the full contents of
its arguments (arrays by bytes, configuration dataclasses by their fields, injected rule
factories by their code; :func:`ssam_theory.sweep.cache.content_hash`) and the bytes of every
source file of the package, never a ``repr`` or a version string. Arguments whose identity
cannot be established (:class:`~ssam_theory.sweep.cache.UnidentifiableError`) are not shared:
the function simply runs. The directory lives as long as one ``reproduce`` run, so nothing
stale can be read in a later one.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import pickle
from pathlib import Path

__all__ = ["SHARE_ENV", "share_key", "shared"]

#: Directory of the shared results (set by ``ssam-theory reproduce``; unset: nothing shared).
SHARE_ENV = "SSAM_THEORY_SHARE"


def share_key(fn, args: tuple, kwargs: dict) -> str | None:
    """The content key of ``fn(*args, **kwargs)``, or ``None`` if some argument cannot be
    identified by its contents (then the call is not shared)."""
    from .sweep.cache import UnidentifiableError, content_hash, package_source_hash

    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    try:
        arguments = content_hash(dict(bound.arguments), f"{fn.__qualname__} arguments")
    except UnidentifiableError:
        return None
    h = hashlib.sha256(f"{fn.__module__}.{fn.__qualname__}".encode())
    h.update(arguments.encode())
    h.update(package_source_hash().encode())
    return h.hexdigest()[:40]


def shared(fn):
    """Decorator: share ``fn``'s results between the processes of one ``reproduce`` run.

    The decorated function must be deterministic in its arguments (seeds are arguments) and
    return a picklable result. Without :data:`SHARE_ENV` set it is called as is.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        root = os.environ.get(SHARE_ENV)
        if not root:
            return fn(*args, **kwargs)
        key = share_key(fn, args, kwargs)
        if key is None:
            return fn(*args, **kwargs)
        import fcntl

        folder = Path(root)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{fn.__module__}.{fn.__qualname__}-{key}.pkl"
        with open(folder / f".{path.name}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if path.is_file():
                with open(path, "rb") as fh:
                    return pickle.load(fh)
            result = fn(*args, **kwargs)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
            return result

    return wrapper
