r"""Sweeps: run one rule over a grid of learning rates :math:`\eta`, radii :math:`\rho` and seeds.

:func:`sweep` runs every configuration :math:`(\eta, \rho, \text{seed})` as one row of a batch
through the same :meth:`ssam_theory.Optimizer.step_with_info` that :func:`ssam_theory.run`
uses (one implementation of the rules), classifies what each row did
(:class:`Outcome`) and returns a labelled :class:`SweepResult` over the axes
``(lr, rho, seed)``.

Work is split into chunks of rows (bounded memory); inside a chunk, rows that have finished
(converged, diverged) are compacted away so they cost nothing (a row that left a saddle's
ball runs on: its escape is decided by how it continues); chunks run serially,
in a :class:`concurrent.futures.Executor` or on a Dask cluster, and are cached on disk with
``cache_dir`` (atomic writes, checksums, resumable). Every row is computed with row-local
arithmetic, so the bits of a row depend neither on its chunk, nor on the chunk size, nor on
the process that ran it.

References:
    Tan et al., Stabilizing Sharpness-aware Minimization Through A Simple Renormalization
    Strategy, arXiv:2401.07250.
    Kim et al., Stability Analysis of Sharpness-Aware Minimization, arXiv:2301.06308
    (saddle attraction: the trapped / escaped outcomes; escaped means left downhill without
    a blow-up, see :func:`sweep`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import _validate as v
from ..landscapes import Landscape
from ..rules import Optimizer
from ..trajectory import DIVERGENCE_NORM
from . import plan as _plan
from .args import check_args as _check_args
from .args import check_factory as _check_factory
from .cache import (
    UnidentifiableError,
    cache_key,
    chunk_path,
    landscape_fingerprint,
    load_chunk,
    save_chunk,
)
from .executors import WINDOW, as_executor, execute, progress_bar
from .kernel import run_chunk
from .plan import Plan, ResourceError, default_chunk
from .result import FIELDS, Outcome, SweepResult, current_umask

__all__ = ["Outcome", "Plan", "ResourceError", "SweepResult", "landscape_fingerprint", "sweep"]




def _version() -> str:
    from .. import __version__

    return __version__


def sweep(landscape: Landscape, name: str, lr, rho, steps: int, seeds=1, w0=None,
          executor=None, cache_dir=None, progress=None, *, saddle=None,
          grad_tol: float | None = 1e-8, patience: int = 5, trap_radius: float = 1e-3,
          escape_radius: float = 1.0, divergence_norm: float = DIVERGENCE_NORM,
          batch_size: int | None = None, chunk_size: int | None = None,
          checkpoint_seconds: float = 30.0, on_plan: Callable[[Plan], None] | None = None,
          make_optimizer: Callable[..., Optimizer] | None = None, **options) -> SweepResult:
    r"""Run rule ``name`` for every :math:`(\eta, \rho, \text{seed})` and classify each row.

    Every configuration is one row :math:`w_t` of a batch updated by
    :meth:`ssam_theory.Optimizer.step_with_info` (the package's rules, exactly as
    :func:`ssam_theory.run` applies them), for ``steps`` updates or until it finishes. With
    :math:`t` the number of updates applied so far, the outcome of a row is:

    * **diverged** — the update produced :math:`w_{t+1}` with :math:`\|w_{t+1}\| >`
      ``divergence_norm`` or a non-finite entry. The row stops at the last sane iterate
      :math:`w_t`; ``event_step = t``, the same step :func:`ssam_theory.run` reports as
      ``diverged_at``. (Every ``event_step`` is the index of the iterate at which the row's
      outcome was decided.)
    * **converged** — :math:`\|\nabla f(w_s)\| \le` ``grad_tol`` for ``patience`` consecutive
      iterates :math:`s = t - \text{patience} + 1, \dots, t`. The row stops at
      :math:`w_t`; ``event_step = t``. The gradient is the full one (in stochastic mode it is
      evaluated for this check at every step; ``grad_tol=None`` disables the check).
    * **bounded** — neither, after ``steps`` updates (e.g. SAM's 2-cycle, slow convergence).

    With ``saddle`` = :math:`s` (a stationary point), the rows that leave the escape ball
    :math:`\|w - s\| \le R` (``escape_radius``; checked from :math:`w_0` on) are told apart
    by *how* they leave, and two outcomes refine the others:

    * **escaped** — the row left the ball *downhill* and nothing blew up. With :math:`t_e`
      the first step with :math:`\|w_{t_e} - s\| > R`, the row keeps running after
      :math:`t_e` (until ``steps``, convergence or overflow) and escaped iff

      1. :math:`f(w_{t_e}) < f(s)` (it left below the saddle's level),
      2. its last kept iterate (:math:`w_T`, the convergence point, or the last iterate
         before overflow) is still below the saddle's level, :math:`f < f(s)`, and
      3. no positive-curvature direction blew up: along every eigenvector :math:`v_j` of
         :math:`\nabla^2 f(s)` with a positive eigenvalue, the component
         :math:`u_j = v_j^\top(w - s)` did not change sign while growing in magnitude at
         each of the last 3 updates (with :math:`|u_j| > R` at the end, unless the next
         update overflowed ``divergence_norm``).

      ``event_step`` :math:`= t_e`, the escape time. Why 3: a gradient step's multiplier
      along positive curvature is below 1 for every rule (:math:`\gamma > 0`), so a
      blow-up there is an oscillation of growing amplitude, while an escape along negative
      curvature grows without alternating or alternates along :math:`v_{\rm neg}` only; the
      magnitude condition keeps a bounded oscillation that is still settling (SAM's 2-cycle
      around a minimum, of small amplitude) from counting. Condition 2 catches blow-ups on
      landscapes bounded below (Beale, quartic walls), where an unstable direction raises
      :math:`f`; condition 3 those on landscapes unbounded below, where the escape itself
      runs off to infinity and a blow-up of :math:`x` can hide behind a faster-growing
      :math:`y` (SGD with :math:`\eta > 2/a` on :math:`\tfrac12(ax^2 - by^2)`).
    * A row that left the ball any other way is **diverged**: it left with
      :math:`f(w) \ge f(s)` (for example USAM with :math:`\eta = 1, \rho = 2` on
      :math:`\tfrac12(x^2 - y^2)`: :math:`y` is 0 after one step and :math:`x` doubles at
      every step), came back above the saddle's level, or blew up along positive curvature.
      ``event_step`` is the overflow step if it overflowed, else :math:`t_e`.
    * **trapped** — the row never left the ball and converged within ``trap_radius`` of
      :math:`s`, or ended the run (bounded) within ``trap_radius`` of :math:`s`. A row
      converged elsewhere inside the ball stays **converged**; one that stayed in the ball
      far from :math:`s`, **bounded**. ``event_step`` is the convergence step, or -1.

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
        chunk_size: rows per chunk; default: at most about :math:`2^{16}/d` (at least 256,
            bounding memory), with ``cache_dir`` also small enough that a chunk takes about
            ``checkpoint_seconds`` at most, and with an executor at least two chunks per
            worker. Rows are spread over chunks by a fixed permutation of the grid, so every
            chunk samples all of it and chunks cost about the same.
        checkpoint_seconds: with ``cache_dir`` and no ``chunk_size``: the time bound of a
            chunk, estimated by a quick timing probe before the sweep (default 30 s). A kill
            then loses at most about this much work per worker (a single row longer than
            this still makes one chunk: rows are not checkpointed inside a chunk).
        on_plan: called with the :class:`Plan` (memory, chunking, time estimate) after all
            checks and before any row is computed.
        make_optimizer: ``None`` (build rule ``name`` with :func:`ssam_theory.optimizer`) or a
            factory ``(lr, rho, **options) -> Optimizer`` called once per chunk with the
            chunk's ``(B,)`` arrays of :math:`\eta`, :math:`\rho` and the ``options`` given
            here (for example an injected rule of :mod:`ssam_theory.claims`); ``name`` is
            then only the result's label (it must still be a rule of
            :data:`ssam_theory.RULES`). The optimizer it returns must carry exactly the
            :math:`\eta` and :math:`\rho` it was given (``ValueError`` otherwise). With a
            process executor it must be picklable (a ``TypeError`` says so otherwise). With
            ``cache_dir`` it is identified by content (see below); one that cannot be raises
            ``ValueError``.
        **options: optimizer options (``truncate``, ``adaptive``, ``momentum``,
            ``weight_decay``, ``eps``) of :func:`ssam_theory.optimizer`.

    Returns:
        A :class:`SweepResult` over ``(lr, rho, seed)``. A row's numbers are identical bit for
        bit whatever the chunking or the executor. ``growth`` reports rows whose loss still
        grew geometrically at the end of the run (bounded by the norm test, but blowing up;
        see :meth:`SweepResult.growing`); the outcome is left as the criteria above say.

    Raises:
        ResourceError: (a ``ValueError``) before any work, when the estimated memory exceeds
            what is available; the message gives the estimate and how to split the sweep.

    Checkpointing: with ``cache_dir``, each finished chunk is written to
    ``cache_dir/<key>-n<chunks>-<chunk>.npz`` (temporary file, then ``os.replace``; the file
    gets the umask's permissions), where ``key`` is a SHA-256 over every parameter above
    (except executor, progress, cache_dir, chunk_size, checkpoint_seconds and on_plan), the
    landscape's full contents and the code of its class (:func:`landscape_fingerprint`), the
    content of ``make_optimizer`` (bytecode, closure, arguments), the source of every file of
    this package, and the NumPy and Python versions. Where some part cannot be identified by
    content (e.g. an attribute that is a lock or a random ``Generator``), ``cache_dir`` is
    refused with a ``ValueError`` naming it. Each file holds a SHA-256 of its arrays; a file
    that does not load, or whose key or checksum does not match, is deleted and recomputed,
    never used. The chunking chosen by the timing probe is saved next to the chunks
    (``<key>.plan.json``) so that a resumed sweep finds the same chunks.

    Example:
        >>> import numpy as np, ssam_theory as st
        >>> f = st.Quadratic(np.diag([10.0, 1.0]))
        >>> res = st.sweep(f, "sgd", lr=[0.19, 0.21], rho=0.0, steps=500)
        >>> [st.Outcome(c).name for c in res.outcome[:, 0, 0]]
        ['CONVERGED', 'DIVERGED']
    """
    spec, lr, rho, seeds, w0_table, settings, explicit_chunk = _check_args(
        landscape, name, lr, rho, steps, seeds, w0, executor, cache_dir, progress, saddle,
        grad_tol, patience, trap_radius, escape_radius, divergence_norm, batch_size,
        chunk_size, options)
    checkpoint_seconds = v.as_real("checkpoint_seconds", checkpoint_seconds, low=0.0,
                                   low_open=True)
    if on_plan is not None and not callable(on_plan):
        raise TypeError(f"on_plan must be None or a callable, got {on_plan!r}")
    identity = None
    if make_optimizer is not None:
        spec, settings, identity = _check_factory(make_optimizer, spec, settings, lr, rho,
                                                  options, executor, cache_dir)
    shape = (lr.size, rho.size, seeds.size)
    n = int(np.prod(shape))
    d = landscape.dim
    cache = key = None
    if cache_dir is not None:
        cache = _cache_directory(cache_dir)
        if settings["landscape"]["fingerprint"] is None:
            try:
                landscape_fingerprint(landscape)
            except UnidentifiableError as exc:
                raise ValueError(f"cache_dir needs a landscape identifiable by content: "
                                 f"{exc}") from None
        key = cache_key(settings, lr, rho, seeds, w0_table, identity)
    m = _plan.multiplier(n)

    def payload_rows(rows):
        i, j, k = np.unravel_index(rows, shape)
        return lr[i], rho[j], k, w0_table, seeds

    plan = _make_plan(spec, payload_rows, shape, d, steps, explicit_chunk, executor, cache,
                      key, checkpoint_seconds, m)
    n_chunks = plan.n_chunks
    out = {"outcome": np.empty(n, dtype=np.int8), "event_step": np.empty(n, dtype=np.int64),
           "final_loss": np.empty(n), "final_grad_norm": np.empty(n),
           "final_w": np.empty((n, d)), "growth": np.empty(n)}
    stats = {"row_steps": 0, "chunks": n_chunks, "computed": 0, "loaded": 0,
             "recomputed": 0, "plan": plan.as_dict()}
    if on_plan is not None:
        on_plan(plan)

    def rows_of(c):
        return _plan.chunk_rows(c, n, n_chunks, m)

    def payload(c):
        return payload_rows(rows_of(c))

    def store(c, res):
        rows = rows_of(c)
        for name_ in FIELDS:
            out[name_][rows] = res[name_]
        stats["row_steps"] += int(res["row_steps"])

    def path(c):
        return chunk_path(cache, key, n_chunks, c)

    chunk_key = f"{key}/n{n_chunks}"
    todo = []
    for c in range(n_chunks):
        if cache is not None:
            got, status = load_chunk(path(c), chunk_key, c, len(range(c, n, n_chunks)))
            if got is not None:
                store(c, got)
                stats["loaded"] += 1
                continue
            if status == "corrupt":
                stats["recomputed"] += 1
                path(c).unlink(missing_ok=True)
        todo.append(c)

    bar = progress_bar(progress, n, n - sum(len(range(c, n, n_chunks)) for c in todo))

    def done(c, res):
        if cache is not None:
            save_chunk(path(c), chunk_key, c, res)
        store(c, res)
        stats["computed"] += 1
        if bar is not None:
            bar.update(len(range(c, n, n_chunks)))

    try:
        execute(executor, spec, todo, payload, done)
    finally:
        if bar is not None:
            bar.close()
    arrays = {k: x.reshape(shape + x.shape[1:]) for k, x in out.items()}
    return SweepResult(lr=lr, rho=rho, seeds=seeds, w0=w0_table, **arrays, settings=settings,
                       stats=stats)


def _cache_directory(cache_dir) -> Path:
    """Create ``cache_dir`` and check that files can be written there (before any work)."""
    return v.writable_dir("cache_dir", cache_dir)


def _workers(executor) -> int:
    pool = as_executor(executor)
    if pool is None:
        return 1
    return int(getattr(pool, "_max_workers", None) or os.cpu_count() or 1)


def _make_plan(spec, payload_rows, shape, d, steps, explicit_chunk, executor, cache, key,
               bound, m) -> Plan:
    """Memory check, timing probe and chunk layout (persisted with the cache)."""
    n = int(np.prod(shape))
    workers = _workers(executor)
    mem_chunk = explicit_chunk or default_chunk(d)
    available = _plan.available_memory()
    need = _plan.check_memory(shape, d, steps, spec.batch_size, mem_chunk, workers,
                              1 if executor is None else WINDOW, available)
    timed = None
    if steps > 0 and (cache is not None or n * steps >= 10**6):
        size = min(n, mem_chunk, 1024)
        timed = _plan.probe(run_chunk, spec, lambda b: payload_rows(
            (np.arange(b, dtype=np.int64) * m) % n), size, steps)
    if explicit_chunk is not None:
        return Plan(n, d, steps, explicit_chunk, -(-n // explicit_chunk), need, available,
                    timed)
    chunk = mem_chunk
    if executor is not None:  # at least two chunks per worker: balance
        chunk = min(chunk, max(1, -(-n // (2 * workers))))
    if cache is None:
        return Plan(n, d, steps, min(chunk, n), -(-n // chunk), need, available, timed)
    chunk = _plan.time_bounded_chunk(timed, steps, bound, chunk) if timed else chunk
    n_chunks = _saved_layout(cache / f"{key}.plan.json", n, -(-n // chunk))
    return Plan(n, d, steps, -(-n // n_chunks), n_chunks, need, available, timed, bound)


def _saved_layout(path: Path, n: int, n_chunks: int) -> int:
    """The number of chunks saved for this sweep's key, or save ``n_chunks`` (first writer
    wins, so that concurrent and resumed runs of one sweep use the same chunks)."""
    for _ in range(2):
        try:
            saved = json.loads(path.read_text())
            if saved.get("rows") == n and 1 <= int(saved["n_chunks"]) <= n:
                return int(saved["n_chunks"])
            path.unlink(missing_ok=True)  # not a valid layout of this sweep: replace it
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            path.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
            with os.fdopen(fd, "w") as fh:
                json.dump({"rows": n, "n_chunks": n_chunks}, fh)
            os.link(tmp, path)  # fails if another process saved a layout first
            return n_chunks
        except FileExistsError:
            continue
        finally:
            os.unlink(tmp)
    return n_chunks
