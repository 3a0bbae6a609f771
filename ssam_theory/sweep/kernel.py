"""The row kernel of a sweep: step a chunk of configurations and classify every row.

Rows are stepped together by :func:`ssam_theory.trajectory.advance`, the step and divergence
test that :func:`ssam_theory.run` takes too (through :meth:`ssam_theory.Optimizer.step_with_info`,
the one implementation of the rules); finished rows are compacted away. Every row's arithmetic is
row-local, so its bits depend neither on its chunk nor on the process that ran it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..landscapes import Landscape
from ..rules import Optimizer, optimizer, row_norm
from ..trajectory import advance, minibatch_indices
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
    check_rows_honoured(opt, lr, rho)
    return opt


def check_rows_honoured(opt: Optimizer, lr, rho) -> None:
    r"""``make_optimizer(lr, rho)`` must return an optimizer with exactly these per-row
    :math:`\eta` and :math:`\rho` (else every row would run at other values than the
    result's labels say)."""
    for name, want in (("lr", lr), ("rho", rho)):
        got = getattr(opt, name)
        try:
            same = np.array_equal(np.broadcast_to(np.asarray(got, dtype=np.float64),
                                                  want.shape), want)
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"make_optimizer must build the optimizer with the {name} it is "
                             f"given (one value per row); it was given {name}="
                             f"{np.asarray(want).tolist()[:4]}… and returned {name}="
                             f"{np.asarray(got).tolist()!s:.60}")


#: Iterates at the end of a run whose loss ratios give a row's ``growth``.
GROWTH_WINDOW = 10


def _record_tail(tail, f, W, rows, j) -> None:
    """Loss of the batch's iterates ``W`` (chunk rows ``rows``) as entry ``j`` of the window."""
    if 0 <= j < tail.shape[0]:
        tail[j, rows] = f.loss(W)


def _growth(tail) -> np.ndarray:
    """Per row, the smallest loss ratio :math:`f(w_{t+1})/f(w_t)` over the window; NaN if
    the window is empty or any of its losses is not positive and finite."""
    if tail.shape[0] < 2:
        return np.full(tail.shape[1], np.nan)
    ok = np.all(np.isfinite(tail) & (tail > 0), axis=0)
    ratios = tail[1:] / np.where(tail[:-1] > 0, tail[:-1], 1.0)
    return np.where(ok, ratios.min(axis=0), np.nan)


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
    s = spec.saddle
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
    w_start = spec.steps - min(GROWTH_WINDOW, spec.steps)  # first iterate of the window
    tail = np.full((spec.steps - w_start + 1, B), np.nan)
    if s is not None:  # how rows leave the escape ball: f(s), positive-curvature basis
        watch = _SaddleWatch(f, s, spec.escape_radius, B)

    def finish(mask, src, code, step):
        idx, src = rows[mask], src[mask]
        final_w[idx] = src
        outcome[idx] = code
        event[idx] = step
        if s is None:
            return
        if code == Outcome.CONVERGED:
            near = _sq_dist(src, s) <= trap2
            outcome[idx[near]] = Outcome.TRAPPED
        left = watch.exit_step[mask] >= 0
        if left.any():  # a row that left the ball: escaped or diverged, decided now
            esc = watch.escaped(mask, src, code == Outcome.DIVERGED)[left]
            outcome[idx[left]] = np.where(esc, Outcome.ESCAPED, Outcome.DIVERGED)
            keep = esc | (code != Outcome.DIVERGED)  # a blow-up keeps its own step
            event[idx[left]] = np.where(keep, watch.exit_step[mask][left], step)

    # Finished rows are marked dead and compacted away once they are 1/8 of the batch (not at
    # every event: compaction copies every per-row array). Dead rows still in the batch keep
    # being stepped, unobserved: every check is masked with ``alive`` before it records.
    alive = np.ones(B, dtype=bool)
    n_dead = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if s is not None:  # a start already outside the escape ball has left it at step 0
            watch.start(W)
        _record_tail(tail, f, W, rows, -w_start)
        for t in range(spec.steps):
            if n_dead and n_dead * 8 >= rows.size:  # compact: drop the dead rows
                W = np.asarray(W[alive], order=layout)
                rows, count, bound = rows[alive], count[alive], bound[alive]
                if tables is not None:
                    pos = pos[alive]
                if s is not None:
                    watch.take(alive)
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

            W_new, state, info, bad = advance(opt, W, state, grad, spec.divergence_norm)
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
            if bad.any():
                bad &= alive
                if bad.any():
                    finish(bad, W, Outcome.DIVERGED, t)  # w_t: last sane iterate
                    alive &= ~bad
                    n_dead += int(bad.sum())
            if s is not None:  # rows keep running after they leave the ball (see sweep)
                watch.observe(W_new, t + 1, alive)
            W = W_new
            _record_tail(tail, f, W, rows, t + 1 - w_start)
        done = rows[alive]
        final_w[done] = W[alive]
        # rows that ran to the end: f(w_T) is the window's last loss (row-local: same bits)
        loss = np.empty(B)
        loss[done] = tail[-1, done]
        early = np.ones(B, dtype=bool)
        early[done] = False
        if early.any():
            loss[early] = f.loss(final_w[early])
        gnorm = row_norm(f.grad(final_w))[:, 0]
        if done.size:
            last = gnorm[done]
            if conv:  # the patience window may close at the last iterate w_T
                hit = (count[alive] + 1) * (last <= tol) >= spec.patience
                outcome[done[hit]] = Outcome.CONVERGED
                event[done[hit]] = spec.steps
            if s is not None:
                near = _sq_dist(W[alive], s) <= trap2
                outcome[done[near]] = Outcome.TRAPPED
                left = watch.exit_step[alive] >= 0
                if left.any():  # rows that left the ball and ran to the end
                    esc = watch.escaped(alive, W[alive])[left]
                    outcome[done[left]] = np.where(esc, Outcome.ESCAPED, Outcome.DIVERGED)
                    event[done[left]] = watch.exit_step[alive][left]
        growth = np.full(B, np.nan)
        growth[done] = _growth(tail[:, done])
    return {"outcome": outcome, "event_step": event, "final_loss": np.asarray(loss),
            "final_grad_norm": gnorm, "final_w": final_w, "growth": growth,
            "row_steps": np.int64(row_steps)}


class _SaddleWatch:
    r"""Per-row record of how a row leaves the escape ball around the saddle :math:`s`.

    For the active rows of a chunk (compacted with them): the step at which a row first
    left the ball (``exit_step``, -1 while inside), whether it left downhill
    (:math:`f(w) < f(s)`, finite), and, along every positive-curvature eigenvector
    :math:`v_j` of :math:`\nabla^2 f(s)`, the component :math:`u_j = v_j^\top(w - s)` and
    the number of consecutive updates in which :math:`u_j` changed sign and grew in
    magnitude (an oscillation of growing amplitude: how a gradient step blows up along
    positive curvature, where every rule's multiplier is below 1).
    """

    GROWING_FLIPS = 3  # consecutive sign changes with growth that make a blow-up

    def __init__(self, landscape, s, radius, n):
        self.f, self.s, self.radius = landscape, s, radius
        self.level = float(np.asarray(landscape.loss(s[None, :]))[0])  # f(s)
        lam, vec = np.linalg.eigh(np.asarray(landscape.hessian(s), dtype=np.float64))
        # positive curvature beyond rounding of the Hessian's eigenvalues
        self.V = vec[:, lam > 1e-12 * max(1.0, float(np.abs(lam).max()))]
        self.exit_step = np.full(n, -1, dtype=np.int64)
        self.down = np.zeros(n, dtype=bool)
        self.flips = np.zeros((n, self.V.shape[1]), dtype=np.int64)
        self.u = np.zeros((n, self.V.shape[1]))

    def _components(self, W):
        return np.einsum("bi,ij->bj", W - self.s, self.V)  # row-local: bits independent of B

    def start(self, W):
        self.u = self._components(W)
        out = _sq_dist(W, self.s) > self.radius**2
        self._leave(out, W, 0)

    def _leave(self, out, W, step):
        if out.any():
            self.exit_step[out] = step
            self.down[out] = np.asarray(self.f.loss(W[out])) < self.level  # NaN: False

    def observe(self, W_new, step, alive):
        """Record the update to ``W_new`` (``step`` updates applied) of the ``alive`` rows."""
        u = self._components(W_new)
        grew = (u * self.u < 0) & (np.abs(u) > np.abs(self.u))
        self.flips = (self.flips + 1) * grew
        self.u = u
        out = (self.exit_step < 0) & alive & (_sq_dist(W_new, self.s) > self.radius**2)
        self._leave(out, W_new, step)

    def escaped(self, mask, W_last, blew_up=False):
        """For the rows ``mask`` that left the ball, ending at ``W_last``: escaped or not.

        ``blew_up``: the rows' next update left ``divergence_norm``; then any growing
        oscillation along positive curvature counts, else only one already beyond the
        escape radius (a bounded oscillation, e.g. SAM's 2-cycle, grows to its amplitude).
        """
        growing = self.flips[mask] >= self.GROWING_FLIPS
        if not blew_up:
            growing &= np.abs(self.u[mask]) > self.radius
        blowup = growing.any(axis=1)
        below = np.asarray(self.f.loss(W_last)) < self.level  # NaN: False
        return self.down[mask] & below & ~blowup

    def take(self, keep):
        for name in ("exit_step", "down", "flips", "u"):
            setattr(self, name, getattr(self, name)[keep])


def _layout(landscape) -> str:
    r"""Memory order of a chunk's ``(B, d)`` iterates.

    For the 2-D :class:`~ssam_theory.Quadratic`, :class:`~ssam_theory.Beale` and
    :class:`~ssam_theory.escape.QuarticSaddle` (noisy or not: its minibatch tilts are gathered
    per index column and added elementwise),
    coordinate-major (Fortran) order lets NumPy's ufuncs run their inner loop over the ``B``
    rows instead of over 2 coordinates (about 3.5x faster) and changes no bit: their only
    reductions, :math:`\|x\|^2 = x_1^2 + x_2^2` and 2-term dot products, are the same sum in
    either order (tested against :func:`ssam_theory.run`). Elsewhere (``d > 2``, data
    landscapes, user landscapes) the order of ``einsum``'s accumulation could depend on the
    layout, so rows stay C-ordered.
    """
    from ..escape import QuarticSaddle
    from ..landscapes import Beale, Quadratic

    column_major = (Quadratic, Beale, QuarticSaddle)
    return "F" if landscape.dim == 2 and type(landscape) in column_major else "C"


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
