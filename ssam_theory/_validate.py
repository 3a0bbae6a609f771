"""Input checks shared by the public API.

Every check raises ``ValueError`` or ``TypeError`` whose message names the parameter and
the offending value, so that a bad argument is reported where the user passed it, never
as a NumPy error from deep inside a computation.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path

import numpy as np


def _show(value) -> str:
    """A short representation of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return f"array({value.tolist()!r})"
        return f"array of shape {value.shape}"
    return repr(value)


def _short(value) -> str:
    """``repr`` cut to 60 characters (huge integers, long lists)."""
    text = _show(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)`` with NumPy's errors (ragged nesting, integers too large for
    float64) turned into a ``ValueError`` naming ``name``; object arrays of Python numbers
    are converted to float64 (``OverflowError`` there names ``name`` too)."""
    try:
        raw = np.asarray(value)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers (not a ragged "
                         f"list), got {_short(value)}: {exc}") from None
    if raw.dtype == object:
        if not all(isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))
                   for x in raw.flat):
            raise TypeError(f"{name} must hold real numbers, got {_short(value)}")
        try:
            raw = raw.astype(np.float64)
        except OverflowError:
            raise ValueError(f"{name} must be finite (representable as a float64), got "
                             f"{_short(value)}") from None
    return raw


def as_seed(name: str, value, *, sequence: bool = False):
    """A seed for ``numpy.random.default_rng``: an integer in ``[0, 2**63)`` (stored as
    int64 in results), or with ``sequence=True`` also a ``numpy.random.SeedSequence``
    (e.g. from ``SeedSequence(root).spawn(n)``), returned as is."""
    if sequence and isinstance(value, np.random.SeedSequence):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer, got {_short(value)}")
    if not 0 <= int(value) < 2**63:
        raise ValueError(f"{name} must be an integer in [0, 2**63), got {_short(value)}")
    return int(value)


def as_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_show(value)}")
    return bool(value)


def as_real(name: str, value, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    """A finite real scalar in the given interval (closed unless ``*_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite (representable as a float64), got "
                         f"{_short(value)}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {_show(value)}")
    _check_interval(name, np.asarray(x), value, low, high, low_open, high_open)
    return x


def as_real_or_rows(name: str, value, *, low: float | None = None,
                    high: float | None = None) -> float | np.ndarray:
    """A finite real scalar, or a 1-D float64 array of them (one per batch row)."""
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    ):
        return as_real(name, value, low=low, high=high)
    raw = as_array(name, value)
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real number or a 1-D array of them, "
                        f"got {_show(value)}")
    arr = raw.astype(np.float64)
    if arr.ndim == 0:
        return as_real(name, float(arr), low=low, high=high)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty 1-D array (one value per "
                         f"batch row), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr)}")
    _check_interval(name, arr, value, low, high, False, False)
    return arr


def _check_interval(name, arr, shown, low, high, low_open, high_open):
    if low is not None:
        bad = arr <= low if low_open else arr < low
        if np.any(bad):
            op = ">" if low_open else ">="
            raise ValueError(f"{name} must be {op} {low}, got {_show(shown)}")
    if high is not None:
        bad = arr >= high if high_open else arr > high
        if np.any(bad):
            op = "<" if high_open else "<="
            raise ValueError(f"{name} must be {op} {high}, got {_show(shown)}")


def as_finite_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
                    allow_empty: bool = False) -> np.ndarray:
    """A float64 array with only finite entries (a fresh copy is not guaranteed)."""
    raw = as_array(name, value)
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got {_show(value)}")
    arr = raw.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{k}-D" for k in allowed)
            raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr)}")
    return arr


def as_count(name: str, value, *, low: int = 0, high: int | None = None) -> int:
    """An integer >= ``low`` (and <= ``high`` if given)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {_short(value)}")
    return int(value)


def iterate_shape(name: str, w: np.ndarray, dim: int) -> None:
    """``w`` must be ``(dim,)`` or ``(B, dim)`` with B >= 1."""
    if w.ndim not in (1, 2) or w.shape[-1] != dim or (w.ndim == 2 and w.shape[0] == 0):
        raise ValueError(f"{name} must have shape ({dim},) or (B, {dim}) with B >= 1, "
                         f"got shape {w.shape}")


def writable_dir(name: str, path) -> Path:
    """Create directory ``path`` (and its parents) and prove that a file can be written in it,
    before any work; ``ValueError`` naming ``name`` otherwise (e.g. a file in the way, no
    permission, a read-only file system)."""
    d = Path(path)
    for up in (d, *d.parents):
        if up.exists() and not up.is_dir():
            raise ValueError(f"{name}: {str(up)!r} is not a directory")
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ssam-theory-write-test-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write in {str(d)!r}: {exc.strerror or exc}") from None
    return d
