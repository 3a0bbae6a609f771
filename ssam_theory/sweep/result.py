"""The labelled result of a sweep and its file format.

A :class:`SweepResult` holds every row's outcome and finals over the axes ``(lr, rho, seed)``
with the settings that made it; :meth:`SweepResult.save` writes one ``.npz`` atomically.
"""

from __future__ import annotations

import enum
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FIELDS", "Outcome", "SweepResult", "atomic_write", "bits_equal"]


class Outcome(enum.IntEnum):
    """What a row of a sweep did (stored as ``int8`` codes); criteria in :func:`sweep`."""

    CONVERGED = 0
    DIVERGED = 1
    BOUNDED = 2
    TRAPPED = 3
    ESCAPED = 4


#: The per-row arrays of a result (and of a checkpointed chunk).
FIELDS = ("outcome", "event_step", "final_loss", "final_grad_norm", "final_w", "growth")
_FORMAT = "ssam_theory.sweep/1"


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A sweep's results, labelled by the axes ``(lr, rho, seed)``.

    Attributes:
        lr: ``(n_lr,)`` learning rates :math:`\\eta`.
        rho: ``(n_rho,)`` radii :math:`\\rho`.
        seeds: ``(n_seed,)`` seeds (int64).
        w0: ``(n_seed, d)`` the start of every seed (shared by all :math:`(\\eta, \\rho)`).
        outcome: ``(n_lr, n_rho, n_seed)`` int8 :class:`Outcome` codes.
        event_step: same shape, int64: the index :math:`t` of the iterate :math:`w_t` at
            which the row converged, diverged (its last sane iterate, as
            :attr:`ssam_theory.Trajectory.diverged_at`) or escaped (see :func:`sweep`), -1 if
            none.
        final_loss, final_grad_norm: same shape, float64: full loss :math:`f(w)` and
            :math:`\\|\\nabla f(w)\\|` at the row's final iterate.
        final_w: ``(n_lr, n_rho, n_seed, d)`` the final iterate (the last one kept).
        growth: ``(n_lr, n_rho, n_seed)`` float64: for rows that ran to the end, the smallest
            per-step loss ratio :math:`\\min_t f(w_{t+1}) / f(w_t)` over the last
            ``min(10, steps)`` steps (NaN for rows that stopped early, or where the loss was
            not positive and finite). Above 1, the loss grew at every one of those steps: a
            row still **bounded** by the norm test but blowing up geometrically
            (see :meth:`growing`).
        settings: everything that produced the result (JSON-serialisable dict).
        stats: how the result was obtained (row-steps computed, chunks computed, loaded from
            the cache, recomputed after corruption); not part of the result's identity.
    """

    lr: np.ndarray
    rho: np.ndarray
    seeds: np.ndarray
    w0: np.ndarray
    outcome: np.ndarray
    event_step: np.ndarray
    final_loss: np.ndarray
    final_grad_norm: np.ndarray
    final_w: np.ndarray
    growth: np.ndarray
    settings: dict
    stats: dict = field(default_factory=dict)

    dims = ("lr", "rho", "seed")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.outcome.shape

    def fraction(self, outcome) -> np.ndarray:
        """``(n_lr, n_rho)``: the fraction of seeds whose row ended with ``outcome``."""
        code = Outcome(outcome)
        return np.mean(self.outcome == code, axis=2)

    def growing(self, rate: float = 1.01) -> np.ndarray:
        """``(n_lr, n_rho, n_seed)`` bool: rows whose loss grew by at least the factor ``rate``
        at every step of the last window (``growth >= rate``), whatever their outcome says.

        A bounded row with ``growing`` true is diverging more slowly than the run was long:
        a longer run would end with ``diverged``. ``rate`` 1.01 (default) separates that
        from rows settling on a cycle, whose loss ratio tends to exactly 1.
        """
        with np.errstate(invalid="ignore"):
            return self.growth >= rate

    def identical(self, other: SweepResult) -> bool:
        """True if every array, coordinate and setting is equal bit for bit."""
        if not isinstance(other, SweepResult):
            return False
        names = ("lr", "rho", "seeds", "w0", *FIELDS)
        same = all(bits_equal(getattr(self, k), getattr(other, k)) for k in names)
        return same and self.settings == other.settings

    def save(self, path) -> Path:
        """Write one ``.npz`` file (arrays plus the settings as JSON), atomically."""
        path = Path(path)
        arrays = {k: getattr(self, k) for k in ("lr", "rho", "seeds", "w0", *FIELDS)}
        meta = {"format": _FORMAT, "settings": self.settings, "stats": self.stats}
        arrays["metadata"] = np.array(json.dumps(meta, sort_keys=True))
        atomic_write(path, arrays)
        return path

    @classmethod
    def load(cls, path) -> SweepResult:
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["metadata"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"path {str(path)!r} is not a saved sweep (format "
                                 f"{meta.get('format')!r})")
            arrays = {k: z[k] for k in ("lr", "rho", "seeds", "w0", *FIELDS) if k in z}
        arrays.setdefault("growth", np.full(arrays["outcome"].shape, np.nan))
        return cls(**arrays, settings=meta["settings"], stats=meta.get("stats", {}))

    def __repr__(self):
        counts = {o.name.lower(): int(np.sum(self.outcome == o)) for o in Outcome}
        counts = {k: c for k, c in counts.items() if c}
        growing = int(np.sum(self.growing() & (self.outcome != Outcome.DIVERGED)))
        extra = f", growing={growing}" if growing else ""
        return (f"SweepResult(rule={self.settings.get('rule')!r}, shape={self.shape}, "
                f"steps={self.settings.get('steps')}, outcomes={counts}{extra})")


def bits_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read from ``/proc/self/status`` (Linux) without changing it;
    elsewhere by setting and restoring it under a lock."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write(path: Path, arrays: dict) -> None:
    """``np.savez`` to a temporary file in the same directory, then ``os.replace``.

    The file gets the mode of a normally created file (``0o666`` minus the umask), not the
    ``0o600`` of the temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
