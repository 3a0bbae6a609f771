"""Trajectories: run one rule on one landscape and record what happens at every step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .landscapes import Landscape
from .rules import Optimizer

__all__ = ["DIVERGENCE_NORM", "Trajectory", "advance", "minibatch_indices", "run"]

#: A row whose iterate norm exceeds this (or is not finite) counts as diverged. Far above any
#: scale of the landscapes here, and far below float64 overflow of the squared norm (~1e154),
#: so divergence is caught before any overflow can happen in a loss or gradient.
DIVERGENCE_NORM = 1e12


@dataclass(frozen=True)
class Trajectory:
    """What :func:`run` recorded. Shapes use ``T = steps``; batch runs add a row axis ``B``.

    Attributes:
        loss: ``(T+1,)`` or ``(T+1, B)``, the full (deterministic) loss at ``w_0 … w_T``;
            ``None`` when the run was told not to record it (``record_loss=False``).
        grad_norm: ``(T,)`` or ``(T, B)``, ‖g‖ at the step's iterate (minibatch gradient in
            stochastic runs).
        perturbed_grad_norm: ‖g̃‖ = ‖∇f(w + e)‖, same shape (equals ``grad_norm`` for sgd).
        gamma: the renormalization factor applied, same shape (1 for rules without it).
        iterates: ``(T+1, d)`` or ``(T+1, B, d)`` when ``record_iterates``, else ``None``.
        final: the last iterate of every row, ``(d,)`` or ``(B, d)``.
        diverged: ``()`` or ``(B,)`` bool.
        diverged_at: the step t whose result :math:`w_{t+1}` diverged (‖w‖ >
            ``divergence_norm`` or non-finite), i.e. the index of the last sane iterate
            :math:`w_t` (the ``event_step`` :func:`ssam_theory.sweep` reports), -1 if none.
            Such a row is frozen at its last sane iterate; its records from that step on are
            NaN (not computed), its iterates stay frozen.
    """

    loss: np.ndarray | None
    grad_norm: np.ndarray
    perturbed_grad_norm: np.ndarray
    gamma: np.ndarray
    iterates: np.ndarray | None
    final: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        """‖g̃‖ / ‖g‖ per step (NaN where ‖g‖ = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.grad_norm > 0, self.perturbed_grad_norm / self.grad_norm,
                            np.nan)


def minibatch_indices(n: int, batch_size: int, steps: int, seed, rows: int | None = None):
    """The example indices of every step: ``(steps, b)``, or ``(steps, rows, b)`` per row.

    Each index is drawn uniformly from ``range(n)``, independently (with replacement), from
    ``numpy.random.default_rng(seed)``; the same arguments give the same indices. Pass the
    result to :func:`run` as ``indices`` to couple runs on neighbouring data sets.
    """
    n = v.as_count("n", n, low=1)
    batch_size = v.as_count("batch_size", batch_size, low=1)
    steps = v.as_count("steps", steps)
    seed = v.as_seed("seed", seed, sequence=True)
    shape = (steps, batch_size) if rows is None else (steps, v.as_count("rows", rows, low=1),
                                                      batch_size)
    _plan_memory("minibatch_indices", 8 * int(np.prod(shape, dtype=object)),
                 "fewer steps, a smaller batch_size or rows")
    return np.random.default_rng(seed).integers(0, n, size=shape)


_UNCHECKED_BYTES = 64 << 20


def _plan_memory(what: str, nbytes: int, hint: str) -> None:
    """Refuse, before allocating, what would not fit in the available memory (requests
    under 64 MiB are not checked: no machine that runs the package lacks that much, and
    reading the available memory costs more than a small request)."""
    if nbytes < _UNCHECKED_BYTES:
        return
    from .sweep.plan import MEMORY_SHARE, ResourceError, available_memory, human

    avail = available_memory()
    if avail is not None and nbytes > MEMORY_SHARE * avail:
        raise ResourceError(f"steps: {what} would need about {human(nbytes)} but only "
                            f"{human(avail)} is available; use {hint}")


def advance(opt: Optimizer, W: np.ndarray, state, grad, divergence_norm: float):
    r"""One update of a batch and its divergence test: the step that :func:`run` and
    :func:`ssam_theory.sweep` both take, so they agree on every row and every step.

    Args:
        opt: the rule; ``W``: ``(B, d)`` iterates :math:`w_t`; ``state``: its state;
        grad: the gradient callable of this step (minibatch already chosen).
        divergence_norm: a row whose update :math:`w_{t+1}` has
            :math:`\|w_{t+1}\| >` ``divergence_norm`` or a non-finite entry diverged at
            step :math:`t` (its last sane iterate is :math:`w_t`).

    Returns:
        ``(W_new, state, info, diverged)``: the update, the new state, its
        :class:`ssam_theory.StepInfo` and a ``(B,)`` boolean mask of the rows that diverged.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if type(opt).step_with_info is Optimizer.step_with_info:
            W_new, state, info = opt._batch_step(W, state, grad)
        else:  # a subclass with its own update (an injected rule): exactly its step
            W_new, state, info = opt.step_with_info(W, state, grad)
        norm = np.sqrt(np.einsum("bi,bi->b", W_new, W_new))
    return W_new, state, info, ~(norm <= divergence_norm)  # NaN compares False: diverged


def run(opt: Optimizer, landscape: Landscape, w0, steps: int, *, batch_size: int | None = None,
        seed=None, indices=None, record_iterates: bool = False, record_loss: bool = True,
        divergence_norm: float = DIVERGENCE_NORM) -> Trajectory:
    """Run ``opt`` on ``landscape`` from ``w0`` for ``steps`` steps and record the trajectory.

    Args:
        opt: from :func:`ssam_theory.optimizer`; array-valued ``lr``/``rho`` make a batch.
        landscape: any landscape of :mod:`ssam_theory.landscapes`.
        w0: ``(d,)`` or ``(B, d)``; a ``(d,)`` start is shared by all rows when ``opt`` has
            ``B`` rows.
        steps: number of updates, ``>= 0``.
        batch_size: stochastic mode: minibatches of this size, indices from ``seed``
            (see :func:`minibatch_indices`); both gradients of one step use the same one.
        seed: seed of the minibatch indices (stochastic mode only).
        indices: explicit minibatch indices ``(steps, b)`` or ``(steps, B, b)`` instead of
            ``batch_size``/``seed``.
        record_iterates: also keep every iterate.
        record_loss: compute the full loss at every iterate (``False``: ``loss`` is
            ``None``; on data landscapes the full loss can cost more than the step itself,
            and the iterates, gradient norms and γ are the same bits either way).
        divergence_norm: rows with ‖w‖ above this are frozen and reported diverged.

    Returns:
        A :class:`Trajectory`. Diverging rows never produce warnings and never affect other
        rows.

    Raises:
        ResourceError: (a ``ValueError`` naming ``steps``) before any step, when the records
            (``4 (T+1) B`` floats, plus ``(T+1) B d`` with ``record_iterates``) would not fit
            in the available memory.
    """
    if not isinstance(opt, Optimizer):
        raise TypeError(f"opt must be an Optimizer from ssam_theory.optimizer, got {opt!r}")
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    steps = v.as_count("steps", steps)
    divergence_norm = v.as_real("divergence_norm", divergence_norm, low=0.0, low_open=True)
    w = v.as_finite_array("w0", w0, ndim=(1, 2))
    v.iterate_shape("w0", w, landscape.dim)
    single = w.ndim == 1 and opt.rows is None
    W = np.array(np.broadcast_to(w, (opt.rows, w.shape[-1])) if w.ndim == 1 and not single
                 else np.atleast_2d(w), dtype=np.float64)
    B, d = W.shape
    if opt.rows is not None and opt.rows != B:
        raise ValueError(f"w0 has {B} rows but lr/rho hold {opt.rows} values")
    record_iterates = v.as_bool("record_iterates", record_iterates)
    record_loss = v.as_bool("record_loss", record_loss)
    if seed is not None:
        seed = v.as_seed("seed", seed, sequence=True)
    # (loss,) ‖g‖, ‖g̃‖, γ (+ iterates)
    per_step = (4 if record_loss else 3) * B + (B * d if record_iterates else 0)
    if batch_size is not None:
        per_step += v.as_count("batch_size", batch_size, low=1)  # the minibatch indices
    _plan_memory(f"run recording {steps} steps x {B} row(s)"
                 + (f" x {d} coordinates" if record_iterates else ""),
                 8 * (steps + 1) * per_step,
                 "fewer steps per run (continue from trajectory.final), record_iterates=False "
                 "or fewer rows")
    idx_seq = _index_sequence(landscape, steps, B, batch_size, seed, indices)

    loss = np.full((steps + 1, B), np.nan) if record_loss else None
    gn, gtn, gam = (np.full((steps, B), np.nan) for _ in range(3))
    its = np.empty((steps + 1, B, d)) if record_iterates else None
    if loss is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # a far start: non-finite record
            loss[0] = landscape.loss(W)
    if its is not None:
        its[0] = W
    diverged_at = np.full(B, -1)
    active = np.arange(B)
    rows = slice(None)  # the active rows: a slice (no copies) until a row diverges
    # the steps work on a row-major copy: the layout every row has when run alone (einsum's
    # sums follow the layout); `final` is written back into W, laid out as the start was
    Wc = np.ascontiguousarray(W)
    sub_opt = opt
    state = opt.init(W)
    buf = state.momentum_buffer
    for t in range(steps):
        if active.size == 0:
            break
        Wa = Wc[rows]
        idx = None if idx_seq is None else idx_seq[t]
        if idx is not None and idx.ndim == 2:
            idx = idx[rows]

        def grad(x, idx=idx):
            return landscape.grad(x) if idx is None else landscape.grad(x, idx)

        st = state._replace(momentum_buffer=buf)
        W_new, st, info, bad = advance(sub_opt, Wa, st, grad, divergence_norm)
        gn[t, rows], gtn[t, rows], gam[t, rows] = info
        if bad.any():
            diverged_at[active[bad]] = t
            keep = ~bad
            active, W_new = active[keep], W_new[keep]
            rows = active
            buf = None if st.momentum_buffer is None else st.momentum_buffer[keep]
            sub_opt = sub_opt.take(keep) if sub_opt.rows is not None else sub_opt
        else:
            buf = st.momentum_buffer
        state = st
        Wc[rows] = W_new
        if active.size and loss is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                loss[t + 1, rows] = landscape.loss(W_new)
        if its is not None:
            its[t + 1] = Wc
    W[...] = Wc
    diverged = diverged_at >= 0
    if single:
        return Trajectory(None if loss is None else loss[:, 0], gn[:, 0], gtn[:, 0], gam[:, 0],
                          None if its is None else its[:, 0], W[0], diverged[0],
                          diverged_at[0])
    return Trajectory(loss, gn, gtn, gam, its, W, diverged, diverged_at)


def _index_sequence(landscape, steps, B, batch_size, seed, indices):
    stochastic = batch_size is not None or indices is not None
    if not stochastic:
        if seed is not None:
            raise ValueError("seed only applies to stochastic runs; pass batch_size too")
        return None
    if not hasattr(landscape, "n"):
        raise ValueError("stochastic runs need a data landscape (LeastSquares, Logistic, "
                         f"NoisyQuadratic), got {landscape!r}")
    if indices is not None:
        if batch_size is not None:
            raise ValueError("pass either indices or batch_size, not both")
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
        if idx.ndim not in (2, 3) or idx.shape[0] < steps or (idx.ndim == 3 and idx.shape[1] != B):
            raise ValueError(f"indices must have shape ({steps}, b) or ({steps}, {B}, b), "
                             f"got {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= landscape.n):
            raise ValueError(f"indices must lie in [0, {landscape.n}), got values in "
                             f"[{idx.min()}, {idx.max()}]")
        return idx
    if seed is None:
        raise ValueError("stochastic runs need a seed (numpy.random.default_rng(seed))")
    return minibatch_indices(landscape.n, batch_size, steps, seed)
