"""The row kernel of a sweep: step a chunk of configurations and classify every row.

Rows are stepped together by :meth:`ssam_theory.Optimizer.step_with_info` (the one
implementation of the rules); finished rows are compacted away. Every row's arithmetic is
row-local, so its bits depend neither on its chunk nor on the process that ran it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..landscapes import Landscape
from ..rules import Optimizer, optimizer, row_norm
from ..trajectory import minibatch_indices
from .result import Outcome

__all__ = ["ChunkSpec", "run_chunk"]


@dataclass(frozen=True)
class ChunkSpec:
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


def _build(spec: ChunkSpec, lr, rho) -> Optimizer:
    """The chunk's optimizer: ``st.optimizer(name, ...)`` or the caller's factory."""
    if spec.make_optimizer is None:
        return optimizer(spec.name, lr=lr, rho=rho, **spec.options)
    opt = spec.make_optimizer(lr, rho, **spec.factory_options)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"make_optimizer must return an Optimizer, got {opt!r}")
    return opt


def run_chunk(spec: ChunkSpec, lr, rho, seed_pos, w0_table, seed_values) -> dict:
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
    # stochastic mode: a lower bound of ‖∇f(w_t)‖ per row spares the full gradient where it
    # cannot reach grad_tol (see _full_grad_norm); -inf: unknown
    beta = _gradient_lipschitz(f) if conv and tables is not None else None
    bound = np.full(B, -np.inf)
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
                rows, count, bound = rows[alive], count[alive], bound[alive]
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
                if tables is None:
                    gn = info.grad_norm
                else:
                    gn, bound = _full_grad_norm(f, W, W_new, bound, tol, beta)
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
    from ..landscapes import Beale, Quadratic

    return "F" if landscape.dim == 2 and type(landscape) in (Quadratic, Beale) else "C"


# relative safety margin of the gradient-norm bound: far above the rounding of a norm or of
# the Lipschitz constant (~1e-14), far below any tolerance's meaning
_MARGIN = 1e-9


def _gradient_lipschitz(f) -> float | None:
    """The landscape's gradient Lipschitz constant β, if it has one (data landscapes)."""
    fn = getattr(f, "gradient_lipschitz", None)
    return None if fn is None else float(fn()) * (1 + _MARGIN)


def _full_grad_norm(f, W, W_new, bound, tol, beta):
    r"""``(‖∇f(w_t)‖ per row, lower bound of ‖∇f(w_{t+1})‖)`` for the convergence check.

    With β (``‖∇f(w) − ∇f(v)‖ ≤ β‖w − v‖``), ``‖∇f(w_{t+1})‖ ≥ ‖∇f(w_t)‖ − β‖w_{t+1} − w_t‖``.
    Rows whose bound exceeds ``tol`` cannot pass the check: their norm is reported as
    ``inf`` (which resets their patience count exactly as the true norm would) and the full
    gradient — n examples, the dominant cost of a stochastic sweep — is evaluated only for
    the other rows, row-locally, so every outcome and event step is unchanged.
    """
    if beta is None:
        return row_norm(f.grad(W))[:, 0], bound
    need = ~(bound > tol)  # unknown, small or NaN
    gn = np.full(W.shape[0], np.inf)
    if need.any():
        gn[need] = row_norm(f.grad(W[need]))[:, 0]
    D = W_new - W
    known = np.where(need, gn * (1 - _MARGIN), bound)
    return gn, known - beta * np.sqrt(np.einsum("bi,bi->b", D, D))


def _sq_dist(W, s):
    D = W - s
    return np.einsum("bi,bi->b", D, D)
