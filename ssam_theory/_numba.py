"""Compiling the kernels of :mod:`ssam_theory._kernels` (numba).

Each kernel is compiled on its first call and cached on disk: next to the package
(``__pycache__``), or in numba's user cache directory where the package directory is not
writable; without any writable cache it is compiled in every process (about a second per
kernel). Measured here: the first use of all seven kernels compiles for 10–20 s, once per
installation; a fresh process then loads them in about 0.6 s (mostly importing numba).
"""

from __future__ import annotations

import warnings

from numba import njit, types

#: Options of every kernel: no Python error checks in loops (division by zero gives inf/NaN
#: as in NumPy), no bounds checks (the callers validate indices), the GIL released.
OPTS = dict(error_model="numpy", boundscheck=False, nogil=True)


class _Lazy:
    """A kernel compiled on its first call (``njit(sig, cache=True)``): a process loads or
    compiles only the kernels it uses."""

    def __init__(self, fn, sig):
        self.fn, self.sig, self.compiled = fn, sig, None
        self.__name__ = self.__qualname__ = fn.__name__

    def __call__(self, *args):
        if self.compiled is None:
            self.compiled = compile_kernel(self.fn, self.sig)
        return self.compiled(*args)


def compile_kernel(fn, sig):
    """``njit(sig, cache=True)(fn)``, with superword vectorization on while it compiles (the
    eight lanes become one vector; no operation changes, only how they are issued); without
    the disk cache where no cache directory is writable."""
    from numba.core import config

    old = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        try:
            return njit(sig, cache=True, **OPTS)(fn)
        except (RuntimeError, OSError) as err:  # no writable cache locator
            warnings.warn(f"numba cannot cache {fn.__name__} ({err}); compiling it in this "
                          "process", RuntimeWarning, stacklevel=3)
            return njit(sig, **OPTS)(fn)
    finally:
        config.SLP_VECTORIZE = old


def compiled(sig):
    """Decorator: :class:`_Lazy` with the signature ``sig``."""
    def wrap(fn):
        return _Lazy(fn, sig)
    return wrap


def in_array(dtype, ndim):
    """A C-contiguous input array type; read-only, so that read-only data (a landscape's
    ``X`` and ``y``) is passed without a copy (writable arrays convert to it)."""
    return types.Array(dtype, ndim, "C", readonly=True)
