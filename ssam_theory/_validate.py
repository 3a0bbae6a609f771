"""Input checks shared by the public API.

Every check raises ``ValueError`` or ``TypeError`` whose message names the parameter and
the offending value, so that a bad argument is reported where the user passed it, never
as a NumPy error from deep inside a computation.
"""

from __future__ import annotations

import numbers

import numpy as np


def _show(value) -> str:
    """A short representation of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return f"array({value.tolist()!r})"
        return f"array of shape {value.shape}"
    return repr(value)


def as_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_show(value)}")
    return bool(value)


def as_real(name: str, value, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> float:
    """A finite real scalar in the given interval (closed unless ``*_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    x = float(value)
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
    raw = np.asarray(value)
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
    raw = np.asarray(value)
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


def as_count(name: str, value, *, low: int = 0) -> int:
    """An integer >= ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def iterate_shape(name: str, w: np.ndarray, dim: int) -> None:
    """``w`` must be ``(dim,)`` or ``(B, dim)`` with B >= 1."""
    if w.ndim not in (1, 2) or w.shape[-1] != dim or (w.ndim == 2 and w.shape[0] == 0):
        raise ValueError(f"{name} must have shape ({dim},) or (B, {dim}) with B >= 1, "
                         f"got shape {w.shape}")
