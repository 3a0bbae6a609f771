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

import argparse
import concurrent.futures as cf
import dataclasses
import enum
import functools
import hashlib
import io
import json
import numbers
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _validate as v
from .landscapes import Landscape
from .rules import RULES, Optimizer, optimizer, row_norm
from .trajectory import DIVERGENCE_NORM, minibatch_indices

__all__ = ["Outcome", "SweepResult", "add_parser", "landscape_fingerprint", "parse_range",
           "sweep"]


class Outcome(enum.IntEnum):
    """What a row of a sweep did (stored as ``int8`` codes); criteria in :func:`sweep`."""

    CONVERGED = 0
    DIVERGED = 1
    BOUNDED = 2
    TRAPPED = 3
    ESCAPED = 4


_OPTION_NAMES = ("truncate", "adaptive", "momentum", "weight_decay", "eps")
_FIELDS = ("outcome", "event_step", "final_loss", "final_grad_norm", "final_w")
_FORMAT = "ssam_theory.sweep/1"
_WINDOW = 64  # chunks in flight on an executor: bounds the memory of pending results


def _version() -> str:
    from . import __version__

    return __version__


# --------------------------------------------------------------------------------------------
# result


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A sweep's results, labelled by the axes ``(lr, rho, seed)``.

    Attributes:
        lr: ``(n_lr,)`` learning rates :math:`\\eta`.
        rho: ``(n_rho,)`` radii :math:`\\rho`.
        seeds: ``(n_seed,)`` seeds (int64).
        w0: ``(n_seed, d)`` the start of every seed (shared by all :math:`(\\eta, \\rho)`).
        outcome: ``(n_lr, n_rho, n_seed)`` int8 :class:`Outcome` codes.
        event_step: same shape, int64: number of updates applied when the row converged,
            diverged or escaped (see :func:`sweep`), -1 if none.
        final_loss, final_grad_norm: same shape, float64: full loss :math:`f(w)` and
            :math:`\\|\\nabla f(w)\\|` at the row's final iterate.
        final_w: ``(n_lr, n_rho, n_seed, d)`` the final iterate (the last one kept).
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

    def identical(self, other: SweepResult) -> bool:
        """True if every array, coordinate and setting is equal bit for bit."""
        if not isinstance(other, SweepResult):
            return False
        names = ("lr", "rho", "seeds", "w0", *_FIELDS)
        same = all(_bits_equal(getattr(self, k), getattr(other, k)) for k in names)
        return same and self.settings == other.settings

    def save(self, path) -> Path:
        """Write one ``.npz`` file (arrays plus the settings as JSON), atomically."""
        path = Path(path)
        arrays = {k: getattr(self, k) for k in ("lr", "rho", "seeds", "w0", *_FIELDS)}
        meta = {"format": _FORMAT, "settings": self.settings, "stats": self.stats}
        arrays["metadata"] = np.array(json.dumps(meta, sort_keys=True))
        _atomic_write(path, arrays)
        return path

    @classmethod
    def load(cls, path) -> SweepResult:
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["metadata"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"path {str(path)!r} is not a saved sweep (format "
                                 f"{meta.get('format')!r})")
            arrays = {k: z[k] for k in ("lr", "rho", "seeds", "w0", *_FIELDS)}
        return cls(**arrays, settings=meta["settings"], stats=meta.get("stats", {}))

    def __repr__(self):
        counts = {o.name.lower(): int(np.sum(self.outcome == o)) for o in Outcome}
        counts = {k: c for k, c in counts.items() if c}
        return (f"SweepResult(rule={self.settings.get('rule')!r}, shape={self.shape}, "
                f"steps={self.settings.get('steps')}, outcomes={counts})")


def _bits_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _atomic_write(path: Path, arrays: dict) -> None:
    """``np.savez`` to a temporary file in the same directory, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------------------------
# the chunk kernel


@dataclass(frozen=True)
class _Spec:
    """Everything a chunk needs besides its rows (sent once per chunk to a worker)."""

    landscape: Landscape
    name: str
    options: dict
    steps: int
    grad_tol: float | None
    patience: int
    divergence_norm: float
    saddle: np.ndarray | None
    trap_radius: float
    escape_radius: float
    batch_size: int | None
    make_optimizer: Callable[..., Optimizer] | None = None  # None: st.optimizer(name, ...)
    factory_options: dict = field(default_factory=dict)  # the options given to the factory


def _build(spec: _Spec, lr, rho) -> Optimizer:
    """The chunk's optimizer: ``st.optimizer(name, ...)`` or the caller's factory."""
    if spec.make_optimizer is None:
        return optimizer(spec.name, lr=lr, rho=rho, **spec.options)
    opt = spec.make_optimizer(lr, rho, **spec.factory_options)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"make_optimizer must return an Optimizer, got {opt!r}")
    return opt


def _run_chunk(spec: _Spec, lr, rho, seed_pos, w0_table, seed_values) -> dict:
    """Run the rows ``(lr[i], rho[i], w0_table[seed_pos[i]])``; return per-row finals."""
    f = spec.landscape
    B = lr.shape[0]
    layout = _layout(f)
    W = np.asarray(w0_table[seed_pos], order=layout)  # a fresh (B, d) array
    opt = _build(spec, lr, rho)
    state = opt.init(W)
    outcome = np.full(B, Outcome.BOUNDED, dtype=np.int8)
    event = np.full(B, -1, dtype=np.int64)
    final_w = np.empty(W.shape)  # C order: final loss and gradient as st.run computes them
    rows = np.arange(B)  # chunk row of every active row
    pos = np.asarray(seed_pos)  # seed position of every active row (stochastic mode)
    count = np.zeros(B, dtype=np.int64)  # consecutive steps with ‖∇f‖ <= grad_tol
    conv = spec.grad_tol is not None
    tol = spec.grad_tol
    div2 = spec.divergence_norm**2
    s = spec.saddle
    esc2 = spec.escape_radius**2
    trap2 = spec.trap_radius**2
    tables = None
    if spec.batch_size is not None:  # the minibatch indices of every seed: (n_seed, T, b)
        tables = np.stack([minibatch_indices(f.n, spec.batch_size, spec.steps, int(sd))
                           for sd in seed_values])
    row_steps = 0

    def finish(mask, src, code, step):
        idx = rows[mask]
        final_w[idx] = src[mask]
        if code == Outcome.CONVERGED and s is not None:
            near = _sq_dist(src[mask], s) <= trap2
            outcome[idx] = np.where(near, Outcome.TRAPPED, Outcome.CONVERGED)
        else:
            outcome[idx] = code
        event[idx] = step

    # Finished rows are marked dead and compacted away once they are 1/8 of the batch (not at
    # every event: compaction copies every per-row array). Dead rows still in the batch keep
    # being stepped, unobserved: every check is masked with ``alive`` before it records.
    alive = np.ones(B, dtype=bool)
    n_dead = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if s is not None:  # a start already outside the escape radius has escaped at step 0
            out = _sq_dist(W, s) > esc2
            if out.any():
                finish(out, W, Outcome.ESCAPED, 0)
                alive &= ~out
                n_dead = int(out.sum())
        for t in range(spec.steps):
            if n_dead and n_dead * 8 >= rows.size:  # compact: drop the dead rows
                W = np.asarray(W[alive], order=layout)
                rows, count = rows[alive], count[alive]
                if tables is not None:
                    pos = pos[alive]
                buf = state.momentum_buffer
                state = state._replace(momentum_buffer=None if buf is None else buf[alive])
                opt = opt.take(alive)
                alive = np.ones(rows.size, dtype=bool)
                n_dead = 0
            if rows.size == 0:
                break
            if tables is None:
                grad = f.grad
            else:
                idx_t = tables[pos, t]  # (B_active, b): each row's own minibatch

                def grad(x, idx_t=idx_t):
                    return f.grad(x, idx_t)

            W_new, state, info = opt.step_with_info(W, state, grad)
            row_steps += rows.size
            if conv:  # ‖∇f(w_t)‖: the step's own ‖g‖, or the full gradient if stochastic
                gn = info.grad_norm if tables is None else row_norm(f.grad(W))[:, 0]
                count += 1
                count *= gn <= tol
                hit = count >= spec.patience
                if hit.any():
                    hit &= alive
                    if hit.any():
                        finish(hit, W, Outcome.CONVERGED, t)
                        alive &= ~hit
                        n_dead += int(hit.sum())
            nrm2 = np.einsum("bi,bi->b", W_new, W_new)
            bad = ~(nrm2 <= div2)  # also catches NaN
            if bad.any():
                bad &= alive
                if bad.any():
                    finish(bad, W, Outcome.DIVERGED, t + 1)
                    alive &= ~bad
                    n_dead += int(bad.sum())
            if s is not None:
                out = _sq_dist(W_new, s) > esc2
                if out.any():
                    out &= alive
                    if out.any():
                        finish(out, W_new, Outcome.ESCAPED, t + 1)
                        alive &= ~out
                        n_dead += int(out.sum())
            W = W_new
        rows, W, count = rows[alive], W[alive], count[alive]
        final_w[rows] = W
        loss = f.loss(final_w)
        gnorm = row_norm(f.grad(final_w))[:, 0]
        if rows.size:
            last = gnorm[rows]
            if conv:  # the patience window may close at the last iterate w_T
                hit = (count + 1) * (last <= tol) >= spec.patience
                outcome[rows[hit]] = Outcome.CONVERGED
                event[rows[hit]] = spec.steps
            if s is not None:
                near = _sq_dist(W, s) <= trap2
                outcome[rows[near]] = Outcome.TRAPPED
    return {"outcome": outcome, "event_step": event, "final_loss": np.asarray(loss),
            "final_grad_norm": gnorm, "final_w": final_w, "row_steps": np.int64(row_steps)}


def _layout(landscape) -> str:
    r"""Memory order of a chunk's ``(B, d)`` iterates.

    For the 2-D :class:`~ssam_theory.Quadratic` and :class:`~ssam_theory.Beale`,
    coordinate-major (Fortran) order lets NumPy's ufuncs run their inner loop over the ``B``
    rows instead of over 2 coordinates (about 3.5x faster) and changes no bit: their only
    reductions, :math:`\|x\|^2 = x_1^2 + x_2^2` and 2-term dot products, are the same sum in
    either order (tested against :func:`ssam_theory.run`). Elsewhere (``d > 2``, data
    landscapes, user landscapes) the order of ``einsum``'s accumulation could depend on the
    layout, so rows stay C-ordered.
    """
    from .landscapes import Beale, Quadratic

    return "F" if landscape.dim == 2 and type(landscape) in (Quadratic, Beale) else "C"


def _sq_dist(W, s):
    D = W - s
    return np.einsum("bi,bi->b", D, D)


# --------------------------------------------------------------------------------------------
# the public entry point


def sweep(landscape: Landscape, name: str, lr, rho, steps: int, seeds=1, w0=None,
          executor=None, cache_dir=None, progress=None, *, saddle=None,
          grad_tol: float | None = 1e-8, patience: int = 5, trap_radius: float = 1e-3,
          escape_radius: float = 1.0, divergence_norm: float = DIVERGENCE_NORM,
          batch_size: int | None = None, chunk_size: int | None = None,
          make_optimizer: Callable[..., Optimizer] | None = None, **options) -> SweepResult:
    r"""Run rule ``name`` for every :math:`(\eta, \rho, \text{seed})` and classify each row.

    Every configuration is one row :math:`w_t` of a batch updated by
    :meth:`ssam_theory.Optimizer.step_with_info` (the rules of SPEC §2, exactly as
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
    key = _cache_key(settings, lr, rho, seeds, w0_table, chunk_size,
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
        for name_ in _FIELDS:
            out[name_][sl] = res[name_]
        stats["row_steps"] += int(res["row_steps"])

    todo = []
    for c in range(n_chunks):
        if cache is not None:
            got, status = _load_chunk(cache / f"{key}-{c:06d}.npz", key, c,
                                      _chunk_len(c, chunk_size, n))
            if got is not None:
                store(c, got)
                stats["loaded"] += 1
                continue
            if status == "corrupt":
                stats["recomputed"] += 1
        todo.append(c)

    bar = _progress_bar(progress, n, n - sum(_chunk_len(c, chunk_size, n) for c in todo))

    def done(c, res):
        if cache is not None:
            _save_chunk(cache / f"{key}-{c:06d}.npz", key, c, res)
        store(c, res)
        stats["computed"] += 1
        if bar is not None:
            bar.update(_chunk_len(c, chunk_size, n))

    try:
        _execute(executor, spec, todo, payload, done)
    finally:
        if bar is not None:
            bar.close()
    arrays = {k: x.reshape(shape + x.shape[1:]) for k, x in out.items()}
    return SweepResult(lr=lr, rho=rho, seeds=seeds, w0=w0_table, **arrays, settings=settings,
                       stats=stats)


def _chunk_len(c, chunk_size, n):
    return min((c + 1) * chunk_size, n) - c * chunk_size


def _progress_bar(progress, total, initial):
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="config", desc="sweep", file=sys.stderr)


def _is_dask_client(executor) -> bool:
    mod = type(executor).__module__ or ""
    if not mod.startswith("distributed"):
        return False
    from distributed import Client

    return isinstance(executor, Client)


def _execute(executor, spec, todo, payload, done) -> None:
    """Run the chunks ``todo``, serially or on ``executor``; ``done(c, result)`` in order
    of completion (results land in their own slots, so the order does not matter)."""
    if executor is None:
        for c in todo:
            done(c, _run_chunk(spec, *payload(c)))
        return
    window = _WINDOW
    if isinstance(executor, cf.Executor):
        pending = {}
        it = iter(todo)
        for c in it:
            pending[executor.submit(_run_chunk, spec, *payload(c))] = c
            if len(pending) >= window:
                break
        while pending:
            finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                done(pending.pop(fut), fut.result())
                nxt = next(it, None)
                if nxt is not None:
                    pending[executor.submit(_run_chunk, spec, *payload(nxt))] = nxt
        return
    from distributed import as_completed

    spec_future = executor.scatter(spec, broadcast=True, hash=False)
    it = iter(todo)
    owner = {}
    first = []
    for c in it:
        fut = executor.submit(_run_chunk, spec_future, *payload(c), pure=False)
        owner[fut.key] = c
        first.append(fut)
        if len(first) >= window:
            break
    ac = as_completed(first)
    for fut in ac:
        c = owner.pop(fut.key)
        done(c, fut.result())
        fut.release()
        nxt = next(it, None)
        if nxt is not None:
            new = executor.submit(_run_chunk, spec_future, *payload(nxt), pure=False)
            owner[new.key] = nxt
            ac.add(new)
    spec_future.release()


# --------------------------------------------------------------------------------------------
# input checks


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
    if executor is not None and not (isinstance(executor, cf.Executor)
                                     or _is_dask_client(executor)):
        raise TypeError(f"executor must be None, a concurrent.futures.Executor or a "
                        f"distributed.Client, got {executor!r}")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, got {cache_dir!r}")
    if progress is not None:
        progress = v.as_bool("progress", progress)
    spec = _Spec(landscape=landscape, name=name, options=opts, steps=steps, grad_tol=grad_tol,
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
    identity = _factory_identity(make_optimizer)
    if cache_dir is not None and identity is None:
        raise ValueError(f"cache_dir needs a make_optimizer that can be identified "
                         f"reproducibly (a module-level function or a functools.partial of "
                         f"one with plain arguments), got {make_optimizer!r}")
    if executor is not None:
        _check_picklable(make_optimizer, executor)
    label = _factory_label(make_optimizer)
    spec = dataclasses.replace(spec, make_optimizer=make_optimizer, options=opts,
                               factory_options=dict(options))
    settings = {**settings, "options": opts, "make_optimizer": label}
    return spec, settings, identity


def _factory_label(fn) -> str:
    """A readable description of a factory (stored in the settings)."""
    if isinstance(fn, functools.partial):
        args = [repr(a) for a in fn.args] + [f"{k}={val!r}" for k, val in
                                             sorted(fn.keywords.items())]
        return f"functools.partial({_factory_label(fn.func)}, {', '.join(args)})"
    mod = getattr(fn, "__module__", None) or "?"
    return f"{mod}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def _factory_identity(fn) -> str | None:
    """Qualified name + bytecode/constants (+ a partial's arguments), or ``None`` when that
    does not pin the factory down (lambdas, closures, callable objects, ``0x`` reprs)."""
    if isinstance(fn, functools.partial):
        inner = _factory_identity(fn.func)
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


def _check_picklable(fn, executor) -> None:
    """A process pool pickles the factory with :mod:`pickle`, Dask with cloudpickle."""
    if isinstance(executor, cf.ThreadPoolExecutor):
        return
    dumps = pickle.dumps
    if _is_dask_client(executor):
        import cloudpickle

        dumps = cloudpickle.dumps
    try:
        dumps(fn)
    except Exception as exc:
        raise TypeError(f"make_optimizer must be picklable to run on {executor!r} (use a "
                        f"module-level function or a functools.partial of one), got "
                        f"{fn!r}: {exc}") from None


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


# --------------------------------------------------------------------------------------------
# checkpoint files


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


def _cache_key(settings, lr, rho, seeds, w0_table, chunk_size, factory=None) -> str:
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
    for k in (*_FIELDS, "row_steps"):
        a = np.asarray(res[k])
        h.update(f"{k}{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _save_chunk(path: Path, key: str, c: int, res: dict) -> None:
    arrays = {k: np.asarray(res[k]) for k in (*_FIELDS, "row_steps")}
    arrays["key"] = np.array(key)
    arrays["chunk"] = np.array(c)
    arrays["checksum"] = np.array(_checksum(key, c, res))
    _atomic_write(path, arrays)


def _load_chunk(path: Path, key: str, c: int, rows: int | None = None):
    """``(result, "ok")``, ``(None, "missing")`` or ``(None, "corrupt")``."""
    if not path.exists():
        return None, "missing"
    try:
        data = path.read_bytes()  # read whole: np.load leaks the handle of a broken zip
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            res = {k: z[k] for k in (*_FIELDS, "row_steps")}
            ok = (str(z["key"]) == key and int(z["chunk"]) == c
                  and str(z["checksum"]) == _checksum(key, c, res)
                  and (rows is None or res["outcome"].shape == (rows,)))
    except Exception:  # truncated zip, bad header, missing member: recompute
        return None, "corrupt"
    return (res, "ok") if ok else (None, "corrupt")


# --------------------------------------------------------------------------------------------
# command line


def parse_range(text: str, flag: str = "range") -> np.ndarray:
    """Parse ``a:b:n`` (linspace), ``a:b:n:log`` (geomspace), ``x,y,…`` or ``x``.

    Raises:
        ValueError: naming ``flag`` and the text, for anything malformed (empty, non-finite,
            ``n < 1``, non-positive ends of a log range, unknown spacing).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{flag}: empty range {text!r}")
    text = text.strip()

    def num(s):
        try:
            x = float(s)
        except ValueError:
            raise ValueError(f"{flag}: {s!r} in {text!r} is not a number") from None
        if not np.isfinite(x):
            raise ValueError(f"{flag}: {s!r} in {text!r} is not finite")
        return x

    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"{flag}: expected a:b:n or a:b:n:log, got {text!r}")
        a, b = num(parts[0]), num(parts[1])
        try:
            count = int(parts[2])
        except ValueError:
            raise ValueError(f"{flag}: n in a:b:n must be an integer, got {text!r}") from None
        if count < 1:
            raise ValueError(f"{flag}: n in a:b:n must be >= 1, got {text!r}")
        if len(parts) == 4:
            if parts[3] != "log":
                raise ValueError(f"{flag}: the 4th field must be 'log', got {text!r}")
            if a <= 0 or b <= 0:
                raise ValueError(f"{flag}: a log range needs a, b > 0, got {text!r}")
            return np.geomspace(a, b, count)
        return np.linspace(a, b, count)
    items = [s for s in text.split(",")]
    if any(not s.strip() for s in items):
        raise ValueError(f"{flag}: empty item in list {text!r}")
    return np.array([num(s) for s in items])


def parse_landscape(text: str):
    """``quadratic:a,b,…`` (diag), ``saddle:a,b`` (diag(a, −b)), ``beale``.

    Returns ``(landscape, saddle_point_or_None)``.
    """
    from .landscapes import Beale, Quadratic

    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind == "beale":
        if rest:
            raise ValueError(f"--landscape: beale takes no parameters, got {text!r}")
        return Beale(), Beale.saddle.copy()
    if kind in ("quadratic", "saddle"):
        vals = parse_range(rest, "--landscape") if rest else np.array([])
        if vals.size == 0:
            raise ValueError(f"--landscape: {kind} needs values, e.g. {kind}:10,1")
        if kind == "saddle":
            if vals.size != 2 or np.any(vals <= 0):
                raise ValueError(f"--landscape: saddle:a,b needs two positive values, got "
                                 f"{text!r}")
            return Quadratic(np.diag([vals[0], -vals[1]])), np.zeros(2)
        return Quadratic(np.diag(vals)), np.zeros(vals.size)
    raise ValueError(f"--landscape: unknown landscape {text!r} (quadratic:a,b,…, saddle:a,b, "
                     f"beale)")


def _arg(flag, fn):
    def parse(text):
        try:
            return fn(text, flag)
        except ValueError as exc:  # argparse prefixes "argument FLAG: " itself
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    parse.__name__ = flag.lstrip("-")
    return parse


def _parse_seeds(text: str, flag: str = "--seeds"):
    text = text.strip()
    try:
        if "," in text:
            vals = [int(s) for s in text.split(",")]
            if not vals or min(vals) < 0:
                raise ValueError
            return vals
        count = int(text)
    except ValueError:
        raise ValueError(f"{flag}: expected a count n >= 1 or a list of non-negative "
                         f"integers a,b,…, got {text!r}") from None
    if count < 1:
        raise ValueError(f"{flag}: the number of seeds must be >= 1, got {text!r}")
    return count


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="run one (lr, rho, seed) sweep and save it (.npz)",
        description="Run one rule over a grid of learning rates, radii and seeds; save the "
                    "labelled result. Ranges: a:b:n (linspace), a:b:n:log (geomspace), "
                    "x,y,… or x.")
    p.add_argument("--landscape", required=True, help="quadratic:a,b,… | saddle:a,b | beale")
    p.add_argument("--rule", required=True, choices=RULES)
    p.add_argument("--lr", required=True, type=_arg("--lr", parse_range))
    p.add_argument("--rho", required=True, type=_arg("--rho", parse_range))
    p.add_argument("--steps", required=True, type=int)
    p.add_argument("--seeds", default=1, type=_arg("--seeds", _parse_seeds),
                   help="a count n (seeds 0…n-1) or a list a,b,…")
    p.add_argument("--saddle", action="store_true",
                   help="classify trapped/escaped around the landscape's saddle (origin for "
                        "quadratic/saddle, (0, 1) for beale)")
    p.add_argument("--truncate", action="store_true")
    p.add_argument("--adaptive", action="store_true")
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--eps", type=float, default=0.0)
    p.add_argument("--out", required=True, help="output file (.npz)")
    p.add_argument("--cache", default=None, help="checkpoint directory (resumable)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_main, _parser=p)


def _main(args) -> int:
    p = args._parser
    try:
        landscape, saddle = parse_landscape(args.landscape)
    except ValueError as exc:
        p.error(str(exc))
    if args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    if args.steps < 0:
        p.error(f"--steps must be >= 0, got {args.steps}")
    options = {"truncate": args.truncate, "adaptive": args.adaptive,
               "momentum": args.momentum, "weight_decay": args.weight_decay, "eps": args.eps}
    kwargs = dict(seeds=args.seeds, cache_dir=args.cache,
                  progress=False if args.no_progress else None,
                  saddle=saddle if args.saddle else None, **options)
    try:
        if args.workers > 1:
            with cf.ProcessPoolExecutor(args.workers) as ex:
                res = sweep(landscape, args.rule, args.lr, args.rho, args.steps, executor=ex,
                            **kwargs)
        else:
            res = sweep(landscape, args.rule, args.lr, args.rho, args.steps, **kwargs)
    except (ValueError, TypeError) as exc:
        p.error(str(exc))
    res.save(args.out)
    counts = ", ".join(f"{o.name.lower()} {int(np.sum(res.outcome == o))}" for o in Outcome)
    print(f"{args.out}: {res.settings['rule']} on {res.settings['landscape']['repr']}, "
          f"shape {res.shape}: {counts}")
    return 0

