"""Resource planning of a sweep: memory and time up front, and the chunk layout.

Before any row is computed, :func:`check_memory` estimates the memory a sweep needs and
refuses (:class:`ResourceError`) when it exceeds what the machine has available; a quick
timing probe (:func:`probe`) gives the time per step, from which the chunk size is chosen so
that each chunk — each checkpoint — takes at most about ``checkpoint_seconds``.

Rows are assigned to chunks by a fixed permutation (:func:`chunk_rows`): position ``p`` of
the flat ``(lr, rho, seed)`` grid goes to chunk ``p mod n_chunks``, after the grid is
scrambled by a golden-ratio multiplier. Every chunk then samples the whole grid (slow
small-:math:`\\eta` rows and fast diverging rows alike), so chunks cost about the same.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["Plan", "ResourceError", "available_memory", "check_memory", "chunk_rows",
           "default_chunk", "multiplier", "row_bytes"]

#: Rows of a sweep are indexed with int64 products ``p * multiplier < n**2``: at most 2**31.
MAX_ROWS = 2**31
#: Share of the available memory a sweep may plan to use.
MEMORY_SHARE = 0.8


class ResourceError(ValueError):
    """A sweep or run that would need more memory than the machine has (planned refusal)."""


def available_memory() -> int | None:
    """Bytes of memory available to new allocations: ``MemAvailable`` of ``/proc/meminfo``,
    else the free physical pages (``sysconf``), else ``None`` (unknown: no refusal)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"  # pragma: no cover


def human_seconds(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"


def row_bytes(d: int) -> int:
    """Result bytes of one row: outcome (1), event_step, final loss, grad norm, growth (8
    each) and the final iterate (8 d)."""
    return 1 + 4 * 8 + 8 * d


def default_chunk(d: int) -> int:
    """Rows of a chunk when nothing else bounds it: about 2^16 numbers per ``(B, d)`` array
    (0.5 MiB), at least 256 rows. Measured on SSAM sweeps (2-core machine): against 2^15,
    1.0-1.25x faster on dense quadratics (d = 2, 16, 64) and 1.05-1.1x on minibatch least
    squares and logistic regression (d = 20); 2^17 was slower (the step's temporaries leave
    the cache)."""
    return max(256, 2**16 // d)


def chunk_bytes(rows: int, d: int, n_seed: int, steps: int, batch_size: int | None) -> int:
    """Working memory of one chunk: about 16 ``(B, d)`` float64 arrays alive during a step
    (iterates, gradients, perturbation, momentum, finals, temporaries), per-row vectors, the
    growth window, and in stochastic mode every seed's minibatch indices."""
    per_row = 16 * 8 * d + 24 * 8 + row_bytes(d)
    tables = n_seed * steps * batch_size * 8 if batch_size else 0
    return rows * per_row + tables


@dataclass(frozen=True)
class Plan:
    """What a sweep will use, estimated before it runs (stored in ``stats["plan"]``)."""

    rows: int
    dim: int
    steps: int
    chunk_size: int
    n_chunks: int
    memory_bytes: int
    available_bytes: int | None
    step_seconds: tuple[float, float] | None = None  # (a, b): a step of B rows ≈ a + b B
    checkpoint_seconds: float | None = None

    @property
    def chunk_seconds(self) -> float | None:
        """Estimated upper bound on one chunk's time (rows that finish early cost less)."""
        if self.step_seconds is None:
            return None
        a, b = self.step_seconds
        return self.steps * (a + b * self.chunk_size)

    @property
    def seconds(self) -> float | None:
        """Estimated upper bound on the whole sweep's compute time (one worker)."""
        c = self.chunk_seconds
        return None if c is None else c * self.n_chunks

    def describe(self) -> str:
        text = (f"{self.rows} rows x {self.steps} steps in {self.n_chunks} chunk(s) of "
                f"<= {self.chunk_size}; memory ~{human(self.memory_bytes)}")
        if self.available_bytes is not None:
            text += f" of {human(self.available_bytes)} available"
        if self.seconds is not None:
            text += (f"; time <= ~{human_seconds(self.seconds)} "
                     f"(<= ~{human_seconds(self.chunk_seconds)} per chunk)")
        return text

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["seconds"] = self.seconds
        return out


def check_memory(shape: tuple[int, int, int], d: int, steps: int, batch_size: int | None,
                 chunk_size: int, workers: int, in_flight: int,
                 available: int | None) -> int:
    """Estimated peak bytes of a sweep; :class:`ResourceError` if it does not fit.

    The estimate is the result arrays, the starts, ``workers`` chunks being computed and up
    to ``in_flight`` finished chunk results waiting to be stored.
    """
    n_lr, n_rho, n_seed = shape
    n = n_lr * n_rho * n_seed
    hint = (f"split the grid into several sweeps over parts of lr, rho or seeds (the lr x rho "
            f"x seed grid is {n_lr} x {n_rho} x {n_seed})")
    if n > MAX_ROWS:
        raise ResourceError(f"lr, rho, seeds: a sweep has at most 2**31 rows, got {n}; {hint}")
    rows = min(chunk_size, n)
    chunk = chunk_bytes(rows, d, n_seed, steps, batch_size)
    need = (n * row_bytes(d) + n_seed * d * 8 + workers * chunk
            + in_flight * rows * row_bytes(d))
    if available is not None and need > MEMORY_SHARE * available:
        raise ResourceError(
            f"lr, rho, seeds: the sweep needs about {human(need)} ({human(n * row_bytes(d))} "
            f"of results for {n} rows of {row_bytes(d)} bytes, {human(chunk)} per chunk of "
            f"{rows} rows x {workers} worker(s)) but only {human(available)} is available; "
            f"{hint}, or lower chunk_size, the number of workers or batch_size x steps")
    return need


def probe(run, spec, payload, rows: int, steps: int) -> tuple[float, float]:
    """Time ``min(steps, 20)`` steps of a 1-row and a ``rows``-row chunk; return ``(a, b)``
    with the time of one step of a ``B``-row chunk modelled as ``a + b B`` seconds."""
    k = max(1, min(steps, 20))
    short = dataclasses.replace(spec, steps=k)
    times = []
    for size in (1, rows):
        best = np.inf
        for _ in range(2):  # the first call also pays one-off costs (caches, page faults)
            t0 = time.perf_counter()
            run(short, *payload(size))
            best = min(best, time.perf_counter() - t0)
        times.append(best / k)
    a = times[0]
    b = max(times[1] - times[0], 0.0) / max(rows - 1, 1)
    return a, b


def time_bounded_chunk(step_seconds: tuple[float, float], steps: int, bound: float,
                       limit: int) -> int:
    """The chunk size (at most ``limit``) whose estimated time ``steps (a + b B)`` stays
    within ``bound`` seconds, but not below ``a / b``: smaller chunks would spend most of
    their time on the per-step overhead ``a`` (at ``B = a/b`` the overhead is half the cost)
    while saving little time, so a chunk takes at most about
    ``max(bound, 2 steps a)``."""
    a, b = step_seconds
    if steps == 0 or b <= 0:
        return limit
    room = bound / steps - a
    size = max(room / b, a / b)
    return int(max(1, min(limit, size)))


def multiplier(n: int) -> int:
    """An integer near :math:`n (\\sqrt5 - 1)/2` coprime with ``n``: ``p -> p * m mod n`` is
    then a permutation of ``range(n)`` that scatters neighbouring positions."""
    if n <= 2:
        return 1
    m = max(1, round(n * (math.sqrt(5) - 1) / 2))
    while math.gcd(m, n) != 1:
        m += 1
    return m


def chunk_rows(c: int, n: int, n_chunks: int, m: int) -> np.ndarray:
    """Flat row indices of chunk ``c``: positions ``c, c + n_chunks, …`` scrambled by ``m``."""
    pos = np.arange(c, n, n_chunks, dtype=np.int64)
    return (pos * m) % n
