r"""Sweeps: run one rule over a grid of learning rates :math:`\eta`, radii :math:`\rho` and seeds.

:func:`sweep` runs every configuration :math:`(\eta, \rho, \text{seed})` as one row of a batch
through the same :meth:`ssam_theory.Optimizer.step_with_info` that :func:`ssam_theory.run`
uses (one implementation of the rules), classifies what each row did
(:class:`Outcome`) and returns a labelled :class:`SweepResult` over the axes
``(lr, rho, seed)``.

Work is split into chunks of rows (bounded memory); inside a chunk, rows that have finished
(converged, diverged, escaped) are compacted away so they cost nothing; chunks run serially,
in a :class:`concurrent.futures.Executor` or on a Dask cluster, and are cached on disk with
``cache_dir`` (atomic writes, checksums, resumable). Every row is computed with row-local
arithmetic, so the bits of a row depend neither on its chunk, nor on the chunk size, nor on
the process that ran it.

References:
    Tan et al., Stabilizing Sharpness-aware Minimization Through A Simple Renormalization
    Strategy, arXiv:2401.07250.
    Kim et al., Stability Analysis of Sharpness-Aware Minimization, arXiv:2301.06308
    (saddle attraction: the trapped / escaped outcomes).
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import _validate as v
from ..landscapes import Landscape
from ..rules import Optimizer, optimizer
from ..trajectory import DIVERGENCE_NORM
from .cache import (
    cache_key,
    factory_identity,
    factory_label,
    landscape_fingerprint,
    load_chunk,
    save_chunk,
)
from .executors import as_executor, check_picklable, execute, progress_bar
from .kernel import ChunkSpec
from .result import FIELDS, Outcome, SweepResult

__all__ = ["Outcome", "SweepResult", "landscape_fingerprint", "sweep"]

_OPTION_NAMES = ("truncate", "adaptive", "momentum", "weight_decay", "eps")


def _version() -> str:
    from .. import __version__

    return __version__


def sweep(landscape: Landscape, name: str, lr, rho, steps: int, seeds=1, w0=None,
          executor=None, cache_dir=None, progress=None, *, saddle=None,
          grad_tol: float | None = 1e-8, patience: int = 5, trap_radius: float = 1e-3,
          escape_radius: float = 1.0, divergence_norm: float = DIVERGENCE_NORM,
          batch_size: int | None = None, chunk_size: int | None = None,
          make_optimizer: Callable[..., Optimizer] | None = None, **options) -> SweepResult:
    r"""Run rule ``name`` for every :math:`(\eta, \rho, \text{seed})` and classify each row.

    Every configuration is one row :math:`w_t` of a batch updated by
    :meth:`ssam_theory.Optimizer.step_with_info` (the package's rules, exactly as
    :func:`ssam_theory.run` applies them), for ``steps`` updates or until it finishes. With
    :math:`t` the number of updates applied so far, the outcome of a row is:

    * **diverged** — the update produced :math:`w_t` with :math:`\|w_t\| >`
      ``divergence_norm`` or a non-finite entry. The row stops; ``event_step = t`` and the
      final iterate is the last sane one, :math:`w_{t-1}`.
    * **converged** — :math:`\|\nabla f(w_s)\| \le` ``grad_tol`` for ``patience`` consecutive
      iterates :math:`s = t - \text{patience} + 1, \dots, t`. The row stops at
      :math:`w_t`; ``event_step = t``. The gradient is the full one (in stochastic mode it is
      evaluated for this check at every step; ``grad_tol=None`` disables the check).
    * **bounded** — neither, after ``steps`` updates (e.g. SAM's 2-cycle, slow convergence).

    With ``saddle`` = :math:`s` (a stationary point), two more outcomes refine these:

    * **escaped** — :math:`\|w_t - s\| >` ``escape_radius`` (checked from :math:`w_0` on,
      before divergence can happen); the row stops at :math:`w_t`; ``event_step = t``.
    * **trapped** — the row converged within ``trap_radius`` of :math:`s`, or ended the run
      (bounded) within ``trap_radius`` of :math:`s`. A row converged elsewhere inside the
      escape ball stays **converged**; one that stayed in the ball far from :math:`s`,
      **bounded**. ``event_step`` is the convergence step, or -1.

    Starts: ``w0=None`` draws :math:`z \sim \mathcal N(0, I_d)` from
    ``numpy.random.default_rng(seed)`` and starts at :math:`w_0 = z`, or, with ``saddle``, at
    :math:`w_0 = s + 0.1\,R\,z` (:math:`R` = ``escape_radius``); a callable ``w0(rng)`` is
    called with that generator; a fixed ``(d,)`` array is used for every seed. In stochastic
    mode (``batch_size``, data landscapes) the minibatch indices of a seed are
    :func:`ssam_theory.minibatch_indices` ``(n, batch_size, steps, seed)``, shared by all
    :math:`(\eta, \rho)`, so a row equals ``st.run(..., batch_size=b, seed=seed)``.

    Args:
        landscape: any :class:`ssam_theory.Landscape`.
        name: a rule of :data:`ssam_theory.RULES`.
        lr: :math:`\eta \ge 0`, scalar or non-empty 1-D array: the ``lr`` axis.
        rho: :math:`\rho \ge 0`, scalar or non-empty 1-D array: the ``rho`` axis.
        steps: number of updates :math:`T \ge 0`.
        seeds: a count ``n >= 1`` (seeds ``0 … n-1``) or a non-empty sequence of distinct
            non-negative integers: the ``seed`` axis.
        w0: ``None``, a ``(d,)`` array or a callable ``rng -> (d,)`` (see above).
        executor: ``None`` (serial), a :class:`concurrent.futures.Executor` or a
            ``distributed.Client``; chunks are submitted to it.
        cache_dir: directory for finished chunks (resume an interrupted sweep; see below).
        progress: ``True``/``False``; ``None`` shows a tqdm bar iff stderr is a terminal.
        saddle: ``(d,)`` stationary point enabling trapped / escaped.
        grad_tol: :math:`\|\nabla f\|` tolerance of convergence (default ``1e-8``), or None.
        patience: consecutive iterates below ``grad_tol`` (default 5).
        trap_radius: radius of "trapped" around ``saddle`` (default ``1e-3``).
        escape_radius: radius of "escaped" around ``saddle`` (default 1).
        divergence_norm: :math:`\|w\|` above which a row diverged
            (default :data:`ssam_theory.DIVERGENCE_NORM`).
        batch_size: stochastic mode on a data landscape (minibatches of this size).
        chunk_size: rows per chunk; default about :math:`2^{15}/d` (at least 256).
        make_optimizer: ``None`` (build rule ``name`` with :func:`ssam_theory.optimizer`) or a
            factory ``(lr, rho, **options) -> Optimizer`` called once per chunk with the
            chunk's ``(B,)`` arrays of :math:`\eta`, :math:`\rho` and the ``options`` given
            here (for example an injected rule of :mod:`ssam_theory.claims`); ``name`` is
            then only the result's label (it must still be a rule of
            :data:`ssam_theory.RULES`). With a process executor it must be picklable: a
            module-level function or a :func:`functools.partial` of one (a ``TypeError``
            says so otherwise). With ``cache_dir`` it must be reproducibly identifiable: a
            module-level function, or a :func:`functools.partial` of one whose arguments
            have a stable ``repr`` (no ``0x`` addresses); the cache key then covers its
            qualified name, its bytecode and constants and the partial's arguments (not
            functions it calls: clear the cache if those change). Lambdas and closures with
            ``cache_dir`` raise ``ValueError``.
        **options: optimizer options (``truncate``, ``adaptive``, ``momentum``,
            ``weight_decay``, ``eps``) of :func:`ssam_theory.optimizer`.

    Returns:
        A :class:`SweepResult` over ``(lr, rho, seed)``. A row's numbers are identical bit for
        bit whatever the chunking or the executor.

    Checkpointing: with ``cache_dir``, each finished chunk is written to
    ``cache_dir/<key>-<chunk>.npz`` (temporary file, then ``os.replace``), where ``key`` is a
    SHA-256 over every parameter above (except executor, progress, cache_dir), the
    landscape's fingerprint (:func:`landscape_fingerprint`) and the package version. Each file
    holds a SHA-256 of its arrays; a file that does not load, or whose key or checksum does
    not match, is recomputed and rewritten, never used.

    Example:
        >>> import numpy as np, ssam_theory as st
        >>> f = st.Quadratic(np.diag([10.0, 1.0]))
        >>> res = st.sweep(f, "sgd", lr=[0.19, 0.21], rho=0.0, steps=500)
        >>> [st.Outcome(c).name for c in res.outcome[:, 0, 0]]
        ['CONVERGED', 'DIVERGED']
    """
    args = _check_args(landscape, name, lr, rho, steps, seeds, w0, executor, cache_dir,
                       progress, saddle, grad_tol, patience, trap_radius, escape_radius,
                       divergence_norm, batch_size, chunk_size, options)
    spec, lr, rho, seeds, w0_table, chunk_size, settings = args
    if make_optimizer is not None:
        spec, settings, identity = _check_factory(make_optimizer, spec, settings, lr, rho,
                                                  options, executor, cache_dir)
    shape = (lr.size, rho.size, seeds.size)
    n = int(np.prod(shape))
    d = landscape.dim
    out = {"outcome": np.empty(n, dtype=np.int8), "event_step": np.empty(n, dtype=np.int64),
           "final_loss": np.empty(n), "final_grad_norm": np.empty(n),
           "final_w": np.empty((n, d))}
    n_chunks = -(-n // chunk_size)
    key = cache_key(settings, lr, rho, seeds, w0_table, chunk_size,
                     None if make_optimizer is None else identity)
    cache = None if cache_dir is None else Path(cache_dir)
    stats = {"row_steps": 0, "chunks": n_chunks, "computed": 0, "loaded": 0,
             "recomputed": 0}

    def payload(c):
        flat = np.arange(c * chunk_size, min((c + 1) * chunk_size, n))
        i, j, k = np.unravel_index(flat, shape)
        return lr[i], rho[j], k, w0_table, seeds

    def store(c, res):
        sl = slice(c * chunk_size, min((c + 1) * chunk_size, n))
        for name_ in FIELDS:
            out[name_][sl] = res[name_]
        stats["row_steps"] += int(res["row_steps"])

    todo = []
    for c in range(n_chunks):
        if cache is not None:
            got, status = load_chunk(cache / f"{key}-{c:06d}.npz", key, c,
                                      _chunk_len(c, chunk_size, n))
            if got is not None:
                store(c, got)
                stats["loaded"] += 1
                continue
            if status == "corrupt":
                stats["recomputed"] += 1
        todo.append(c)

    bar = progress_bar(progress, n, n - sum(_chunk_len(c, chunk_size, n) for c in todo))

    def done(c, res):
        if cache is not None:
            save_chunk(cache / f"{key}-{c:06d}.npz", key, c, res)
        store(c, res)
        stats["computed"] += 1
        if bar is not None:
            bar.update(_chunk_len(c, chunk_size, n))

    try:
        execute(executor, spec, todo, payload, done)
    finally:
        if bar is not None:
            bar.close()
    arrays = {k: x.reshape(shape + x.shape[1:]) for k, x in out.items()}
    return SweepResult(lr=lr, rho=rho, seeds=seeds, w0=w0_table, **arrays, settings=settings,
                       stats=stats)


def _chunk_len(c, chunk_size, n):
    return min((c + 1) * chunk_size, n) - c * chunk_size



def _check_args(landscape, name, lr, rho, steps, seeds, w0, executor, cache_dir, progress,
                saddle, grad_tol, patience, trap_radius, escape_radius, divergence_norm,
                batch_size, chunk_size, options):
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown optimizer option(s) {', '.join(unknown)}; options are "
                        f"{', '.join(_OPTION_NAMES)}")
    lr = np.atleast_1d(np.asarray(v.as_real_or_rows("lr", _listify(lr), low=0.0),
                                  dtype=np.float64))
    rho = np.atleast_1d(np.asarray(v.as_real_or_rows("rho", _listify(rho), low=0.0),
                                   dtype=np.float64))
    opt = optimizer(name, lr=float(lr[0]), rho=float(rho[0]), **options)  # checks name/options
    opts = {k: getattr(opt, k) for k in _OPTION_NAMES}
    steps = v.as_count("steps", steps)
    seeds = _check_seeds(seeds)
    d = landscape.dim
    if saddle is not None:
        saddle = v.as_finite_array("saddle", saddle, ndim=1)
        if saddle.shape != (d,):
            raise ValueError(f"saddle must have shape ({d},), got shape {saddle.shape}")
    if grad_tol is not None:
        grad_tol = v.as_real("grad_tol", grad_tol, low=0.0)
    patience = v.as_count("patience", patience, low=1)
    trap_radius = v.as_real("trap_radius", trap_radius, low=0.0, low_open=True)
    escape_radius = v.as_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if escape_radius <= trap_radius:
        raise ValueError(f"escape_radius must exceed trap_radius={trap_radius!r}, got "
                         f"{escape_radius!r}")
    w0_table, w0_kind = _starts(w0, seeds, d, saddle, escape_radius)
    divergence_norm = v.as_real("divergence_norm", divergence_norm, low=0.0, low_open=True)
    if batch_size is not None:
        batch_size = v.as_count("batch_size", batch_size, low=1)
        if not hasattr(landscape, "n"):
            raise ValueError(f"batch_size needs a data landscape (LeastSquares, Logistic), "
                             f"got {landscape!r}")
    if chunk_size is None:
        chunk_size = max(256, 2**15 // d)
    chunk_size = v.as_count("chunk_size", chunk_size, low=1)
    as_executor(executor)  # TypeError for anything but None, an Executor or a Dask client
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, got {cache_dir!r}")
    if progress is not None:
        progress = v.as_bool("progress", progress)
    spec = ChunkSpec(landscape=landscape, name=name, options=opts, steps=steps, grad_tol=grad_tol,
                 patience=patience, divergence_norm=divergence_norm, saddle=saddle,
                 trap_radius=trap_radius, escape_radius=escape_radius, batch_size=batch_size)
    settings = {
        "rule": name, "steps": steps, "options": opts, "w0": w0_kind,
        "saddle": None if saddle is None else saddle.tolist(),
        "grad_tol": grad_tol, "patience": patience, "trap_radius": trap_radius,
        "escape_radius": escape_radius, "divergence_norm": divergence_norm,
        "batch_size": batch_size,
        "landscape": {"repr": repr(landscape), "type": type(landscape).__name__,
                      "fingerprint": landscape_fingerprint(landscape)},
        "version": _version(),
    }
    return spec, lr, rho, seeds, w0_table, chunk_size, settings


def _check_factory(make_optimizer, spec, settings, lr, rho, options, executor, cache_dir):
    """Validate ``make_optimizer``; return the spec and settings using it and its cache
    identity (``None`` if it has none: then ``cache_dir`` is refused)."""
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be None or a callable (lr, rho, **options) -> "
                        f"Optimizer, got {make_optimizer!r}")
    opt = make_optimizer(float(lr[0]), float(rho[0]), **options)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"make_optimizer must return an Optimizer, got {opt!r} from "
                        f"{make_optimizer!r}")
    opts = {k: getattr(opt, k) for k in _OPTION_NAMES}
    identity = factory_identity(make_optimizer)
    if cache_dir is not None and identity is None:
        raise ValueError(f"cache_dir needs a make_optimizer that can be identified "
                         f"reproducibly (a module-level function or a functools.partial of "
                         f"one with plain arguments), got {make_optimizer!r}")
    if executor is not None:
        check_picklable(make_optimizer, executor)
    label = factory_label(make_optimizer)
    spec = dataclasses.replace(spec, make_optimizer=make_optimizer, options=opts,
                               factory_options=dict(options))
    settings = {**settings, "options": opts, "make_optimizer": label}
    return spec, settings, identity


def _listify(x):
    return list(x) if isinstance(x, (range, tuple)) else x


def _check_seeds(seeds) -> np.ndarray:
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, (bool, np.bool_)):
        return np.arange(v.as_count("seeds", seeds, low=1), dtype=np.int64)
    if not isinstance(seeds, (Sequence, np.ndarray)) or isinstance(seeds, str):
        raise TypeError(f"seeds must be a count or a sequence of integers, got {seeds!r}")
    arr = np.asarray(seeds)
    if arr.size == 0:
        raise ValueError(f"seeds must not be empty, got {seeds!r}")
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise ValueError(f"seeds must be a 1-D sequence of integers, got {seeds!r}")
    if np.any(arr < 0):
        raise ValueError(f"seeds must be non-negative, got {arr.tolist()!r}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"seeds must be distinct, got {arr.tolist()!r}")
    return arr.astype(np.int64)


def _starts(w0, seeds, d, saddle, escape_radius):
    """``(n_seed, d)`` starts and a description for the settings."""
    if w0 is None or callable(w0):
        rows = []
        for sd in seeds:
            rng = np.random.default_rng(int(sd))
            if w0 is None:
                z = rng.standard_normal(d)
                x = z if saddle is None else saddle + (0.1 * escape_radius) * z
            else:
                x = v.as_finite_array("w0(rng)", w0(rng), ndim=1)
                if x.shape != (d,):
                    raise ValueError(f"w0(rng) must return shape ({d},), got {x.shape}")
            rows.append(x)
        kind = ("standard normal" + ("" if saddle is None else ", 0.1 escape_radius around saddle")
                if w0 is None else f"callable {getattr(w0, '__qualname__', repr(w0))}")
        return np.array(rows, dtype=np.float64), kind
    x = v.as_finite_array("w0", w0, ndim=1)
    if x.shape != (d,):
        raise ValueError(f"w0 must have shape ({d},), got shape {x.shape}")
    return np.array(np.broadcast_to(x, (seeds.size, d))), "fixed"

