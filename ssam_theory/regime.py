r"""The learning-rate regime of the SAM family on linear models (claims C14a, C14b).

Tan et al. (arXiv:2401.07250) bound the expected risk by optimization error plus uniform
stability and conclude that SAM (their USAM) is better than SGD only for
:math:`\eta \le 2/(\beta(1+\rho\beta))`, while SSAM's renormalization extends the range toward
:math:`2/\beta`. :func:`regime_runs` measures what that statement is about, on one data set:

* **Stability** (C14a). Coupled runs on :math:`S` and the neighbour :math:`S'` with shared
  minibatch indices (:mod:`ssam_theory.linear`), minibatch size :math:`b`, for every rule and
  learning rate, on many seeds. :math:`\beta` is the largest smoothness of the minibatch
  losses the runs actually use (:func:`batch_smoothness`: the top of
  :math:`\lambda_{\max}\nabla^2 f_B` over every minibatch of :math:`S` and :math:`S'`), the
  constant of a stability argument on minibatch steps. Below :math:`2/(\beta(1+\rho\beta))`
  USAM's step on a least-squares minibatch is non-expansive and
  :math:`\delta_t \le 2\eta L(1+\rho\beta)\sum_{\tau<t} m_\tau/b`
  (``theory.usam_stability_bound``; :math:`\rho = 0` is SGD's bound below :math:`2/\beta`).
  Above it nothing is guaranteed, so the runs measure where the ratio
  :math:`\delta_T(\text{rule})/\delta_T(\text{SGD})` leaves :math:`[1/c, c]` and where the run
  becomes unstable: on least squares, divergence (the overflow guard, or a final training
  loss above :math:`f_S(w_0)`); on logistic loss, whose gradient is bounded so nothing can
  overflow, the curvature along the run: :math:`\eta\kappa \ge 2` with :math:`\kappa` the top
  Hessian eigenvalue :math:`\lambda` of the training loss at the iterates (SGD, SSAM, NSSAM,
  whose step along an eigenvector is GD's) or :math:`\lambda(1+\rho\lambda)` (USAM).
* **Risk** (C14b). The test loss at :math:`w_T` of the run on :math:`S`, split into the
  optimization error :math:`f_S(w_T) - \min f_S` (:func:`min_train_loss`) and the
  generalization gap :math:`f_{\rm test}(w_T) - f_S(w_T)`.

References:
    Tan et al., arXiv:2401.07250. Hardt, Recht & Singer, arXiv:1509.01240.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from ._shared import shared
from .coupling import (
    _augmented,
    _factories,
    _lean_coupled,
    _one_blas_thread,
    _pair_distance,
    _positive_grid,
    coupled_indices,
)
from .data import DATASETS, TIGHT, Dataset, load
from .rules import RULES, build
from .theory import gd_max_lr, minibatch_smoothness, usam_max_lr, usam_stability_bound

__all__ = ["RegimeConfig", "RegimeRuns", "batch_smoothness", "departure_factor",
           "intervals", "min_train_loss", "regime_experiment", "regime_runs"]


def departure_factor(rho_beta: float) -> float:
    r"""The band :math:`[1/c, c]` of :math:`\delta_T(\text{rule})/\delta_T(\text{SGD})`,
    :math:`c = 1 + \rho\beta`: below their conditions the Hardt-type bounds of USAM and SGD
    differ by exactly this factor (``theory.usam_stability_bound``), so it is what the theory
    allows a rule inside its regime; a ratio outside it is a stability the regime does not
    cover."""
    return 1.0 + v.as_real("rho_beta", rho_beta, low=0.0)


def intervals(lrs, mask) -> list[tuple[float, float]]:
    """Maximal runs of consecutive grid points where ``mask`` holds, as ``(lo, hi)`` pairs."""
    lrs, mask = np.asarray(lrs, dtype=float), np.asarray(mask, dtype=bool)
    out, start = [], None
    for j, m in enumerate(mask):
        if m and start is None:
            start = j
        if start is not None and (not m or j == mask.size - 1):
            out.append((float(lrs[start]), float(lrs[j if m else j - 1])))
            start = None
    return out


def batch_smoothness(dataset: Dataset, indices) -> np.ndarray:
    r""":math:`\beta_B` of every minibatch: ``indices`` ``(..., b)`` rows of ``dataset.X``
    followed by its pool rows (the augmented coupling landscape); returns ``(...)``.

    :math:`\beta_B` = ``theory.minibatch_smoothness`` of the top eigenvalue of
    :math:`c\,X_B^\top X_B` (:math:`c = 1` least squares, :math:`1/4` logistic), computed as
    that of the :math:`b \times b` Gram matrix :math:`X_B X_B^\top` (same non-zero spectrum).
    """
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu" or idx.ndim < 1:
        raise TypeError(f"indices must be an integer array (..., b), got {idx!r}")
    X = np.vstack([dataset.X, dataset.X_pool])
    if idx.size and (idx.min() < 0 or idx.max() >= X.shape[0]):
        raise ValueError(f"indices must lie in [0, {X.shape[0]}), got {idx.min()}..{idx.max()}")
    Xb = X[idx]  # (..., b, d)
    gram = np.einsum("...id,...jd->...ij", Xb, Xb)
    top = np.linalg.eigvalsh(gram)[..., -1] * (0.25 if dataset.task == "logistic" else 1.0)
    return minibatch_smoothness(np.maximum(top, np.finfo(float).tiny), idx.shape[-1])


def min_train_loss(dataset: Dataset) -> float:
    r""":math:`\inf_w f_S(w)`. Least squares: the least-squares solution (``numpy.linalg.lstsq``).
    Logistic: 0 if the training set is linearly separable (a linear program,
    ``scipy.optimize.linprog``, finds :math:`w` with :math:`y_i x_i^\top w \ge 1`: the loss of
    :math:`tw` tends to 0), else the minimum found by L-BFGS (``scipy.optimize.minimize``)."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {dataset!r}")
    land = dataset.landscape()
    if dataset.task == "least_squares":
        w = np.linalg.lstsq(dataset.X, dataset.y, rcond=None)[0]
        return float(land.loss(w))
    from scipy.optimize import linprog, minimize

    A = -(dataset.y[:, None] * dataset.X)
    lp = linprog(np.zeros(dataset.d), A_ub=A, b_ub=-np.ones(dataset.n),
                 bounds=[(None, None)] * dataset.d, method="highs")
    if lp.status == 0:
        return 0.0
    with _one_blas_thread():  # L-BFGS-B's small BLAS calls: ~100x the CPU on two threads
        res = minimize(lambda w: float(land.loss(w)), np.zeros(dataset.d), jac=land.grad,
                       method="L-BFGS-B",
                       options={"maxiter": 10_000, "gtol": 1e-12, "ftol": 1e-15})
    return float(res.fun)


@dataclass(frozen=True)
class RegimeConfig:
    r"""Settings of the C14a/C14b experiment (:func:`regime_experiment`).

    ``lr_factors``: :math:`\eta` in units of :math:`2/\beta` (:math:`\beta` the largest
    minibatch smoothness used); ``rho_beta``: :math:`\rho\beta`, so USAM's condition
    :math:`2/(\beta(1+\rho\beta))` sits at ``1/(1 + rho_beta)`` on that scale. ``seeds``
    index sequences are spawned from ``numpy.random.SeedSequence(root_seed)``. The tight data
    set (:data:`ssam_theory.data.TIGHT`) runs with ``tight_batch_size`` and ``tight_n``
    examples.
    """

    datasets: tuple[str, ...] = (*DATASETS, TIGHT)
    rules: tuple[str, ...] = RULES
    lr_factors: tuple[float, ...] = (0.1, 0.2, 0.31, 0.35, 0.5, 0.7, 0.9, 0.97, 1.03, 1.5, 2.5,
                                     4.0)
    rho_beta: float = 2.0
    steps: int = 200
    seeds: int = 16
    root_seed: int = 0
    batch_size: int = 4
    tight_batch_size: int = 1
    tight_n: int = 50
    checkpoints: int = 4
    data_seed: int = 0

    @classmethod
    def quick(cls) -> RegimeConfig:
        return cls()

    @classmethod
    def full(cls) -> RegimeConfig:
        return cls(lr_factors=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.37, 0.45, 0.55, 0.7, 0.85,
                               0.95, 1.05, 1.2, 1.5, 2.0, 3.0, 4.0),
                   steps=500, seeds=32, checkpoints=6)


@dataclass(frozen=True)
class RegimeRuns:
    r"""Output of :func:`regime_runs`. Axes: rule R, learning rate E, seed S, time T+1.

    Attributes:
        dataset: :meth:`~ssam_theory.data.Dataset.summary` of :math:`S`.
        rules, lrs, rho, steps, batch_size, seeds, pair: the settings.
        beta: the largest minibatch smoothness over the minibatches of :math:`S` and
            :math:`S'` the runs use (:func:`batch_smoothness`).
        delta: ``(R, E, S, T+1)`` :math:`\delta_t` (``inf`` once either run diverged).
        count: ``(S, T+1)`` :math:`\sum_{\tau<t} m_\tau/b`.
        L: ``(R, E, S)`` the :math:`L` of the Hardt-type bound: the largest gradient norm of
            the two differing examples at the iterates :math:`w_t` and, for USAM, the
            perturbed points :math:`w_t + \rho\nabla f_{B_t}(w_t)` of the run on :math:`S`
            (logistic: :math:`\max\|x\|` of the two, exact); NaN for rules without a bound.
        bound: ``(R, E, S, T+1)`` ``theory.usam_stability_bound`` (SGD: :math:`\rho = 0`);
            NaN for rules without one.
        overflow: ``(R, E, S)`` either run hit the overflow guard
            (:data:`ssam_theory.DIVERGENCE_NORM`).
        growth: ``(R, E, S)`` the mean of :math:`\log(\delta_{t+1}/\delta_t)` over the steps
            whose minibatch misses :math:`i^*` (NaN before the first hit): both runs then take
            the same step map, so this estimates its top Lyapunov exponent. On least squares
            the step is affine and the training error :math:`w_t - w^*` obeys the same linear
            recursion plus bounded noise, so training diverges iff the exponent is positive.
        diverged: ``(R, E, S)`` least squares: overflow, or growth > 0; logistic: overflow
            only (never happens: bounded gradients).
        curvature: ``(R, E, S)`` the largest :math:`\lambda_{\max}\nabla^2 f_S` at
            ``checkpoints`` iterates of the run on :math:`S` spread over the second half of
            the run (least squares: constant).
        train_loss, test_loss: ``(R, E, S)`` at :math:`w_T` of the run on :math:`S`
            (``inf`` if diverged).
        min_train_loss, initial_loss: :math:`\inf f_S` and :math:`f_S(w_0)`, :math:`w_0 = 0`.
    """

    dataset: dict
    rules: tuple[str, ...]
    lrs: np.ndarray
    rho: float
    steps: int
    batch_size: int
    seeds: tuple[int, ...]
    pair: tuple[int, int]
    beta: float
    delta: np.ndarray
    count: np.ndarray
    L: np.ndarray
    bound: np.ndarray
    overflow: np.ndarray
    diverged: np.ndarray
    growth: np.ndarray
    curvature: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    min_train_loss: float
    initial_loss: float

    @property
    def unit(self) -> float:
        r""":math:`2/\beta` (``theory.gd_max_lr``): the unit of the learning-rate axis."""
        return float(gd_max_lr(self.beta))

    @property
    def usam_condition(self) -> float:
        r""":math:`2/(\beta(1+\rho\beta))` (``theory.usam_max_lr``)."""
        return float(usam_max_lr(self.beta, self.rho))

    def condition(self, rule: str) -> float:
        """The η up to which ``rule``'s Hardt-type bound is claimed (NaN for other rules)."""
        return {"sgd": self.unit, "usam": self.usam_condition}.get(rule, np.nan)

    def respects_bound(self) -> np.ndarray:
        r"""``(R, E, S)``: :math:`\delta_t \le` bound at every t; rounding slack as
        :data:`ssam_theory.linear.BOUND_RTOL`. NaN bound → True (no claim)."""
        from .linear import BOUND_ATOL, BOUND_RTOL

        with np.errstate(invalid="ignore"):
            ok = self.delta <= self.bound * (1 + BOUND_RTOL) + BOUND_ATOL
        return (ok | np.isnan(self.bound)).all(axis=-1)

    def informative(self) -> np.ndarray:
        """``(S,)``: the replaced example was drawn (else δ = 0 for every rule)."""
        return self.count[:, -1] > 0

    def ratio(self) -> np.ndarray:
        r"""``(R, E, S)`` :math:`\delta_T(\text{rule})/\delta_T(\text{SGD})`: ``inf`` where the
        rule diverged, 0 where only SGD did, NaN on uninformative seeds."""
        j = self.rules.index("sgd")
        d, ds = self.delta[..., -1], self.delta[j, ..., -1][None]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(self.diverged, np.inf, np.where(self.diverged[j][None], 0.0, d / ds))
        return np.where(self.informative(), r, np.nan)

    def effective_curvature(self) -> np.ndarray:
        r"""``(R, E, S)``: :math:`\kappa` of the curvature edge :math:`\eta\kappa \ge 2`:
        :math:`\lambda(1+\rho\lambda)` for USAM, :math:`\lambda` for SGD, SSAM, NSSAM; NaN for
        SAM (its edge depends on :math:`\|g\|`, claim C05)."""
        lam = self.curvature
        kappa = np.where(np.array([r == "usam" for r in self.rules])[:, None, None],
                         lam * (1 + self.rho * lam), lam)
        return np.where(np.array([r == "sam" for r in self.rules])[:, None, None], np.nan, kappa)

    def unstable(self) -> np.ndarray:
        r"""``(R, E, S)``: least squares — diverged; logistic — :math:`\eta\kappa \ge 2`."""
        if self.dataset["task"] == "least_squares":
            return self.diverged.copy()
        with np.errstate(invalid="ignore"):
            return self.lrs[None, :, None] * self.effective_curvature() >= 2.0

    def departed(self, c: float) -> np.ndarray:
        r"""``(R, E, S)`` per seed: unstable, or (where SGD is stable on that seed) the ratio
        outside :math:`[1/c, c]`. Uninformative seeds count only through ``unstable``."""
        j = self.rules.index("sgd")
        r = self.ratio()
        with np.errstate(invalid="ignore"):
            out = ((r > c) | (r < 1 / c)) & ~self.unstable()[j][None] & np.isfinite(r)
        return self.unstable() | out | (np.isinf(r) & ~self.unstable()[j][None])

    def edge(self, per_seed: np.ndarray) -> np.ndarray:
        """``(R, 2)`` bracket (last grid η before, first grid η at which) a majority of
        seeds has ``per_seed`` ``(R, E, S)``; ``(lrs[-1], inf)`` if never."""
        hit = per_seed.mean(axis=-1) > 0.5
        out = np.empty((hit.shape[0], 2))
        for r in range(hit.shape[0]):
            k = np.flatnonzero(hit[r])
            if k.size == 0:
                out[r] = (self.lrs[-1], np.inf)
            else:
                out[r] = (self.lrs[k[0] - 1] if k[0] > 0 else 0.0, self.lrs[k[0]])
        return out

    def opt_error(self) -> np.ndarray:
        """``(R, E, S)`` :math:`f_S(w_T) - \\min f_S`."""
        return self.train_loss - self.min_train_loss

    def gen_gap(self) -> np.ndarray:
        """``(R, E, S)`` :math:`f_{\\rm test}(w_T) - f_S(w_T)` (NaN if diverged)."""
        with np.errstate(invalid="ignore"):
            return self.test_loss - self.train_loss


def _most_drawn(ds: Dataset, seeds, steps, batch_size) -> int:
    from .trajectory import minibatch_indices

    idx = np.concatenate([minibatch_indices(ds.n, batch_size, steps, s).ravel() for s in seeds])
    return int(np.argmax(np.bincount(idx, minlength=ds.n)))


def _bound_L(ds, pair, its, land, idx, rho, rule):
    """``(C, S)`` L of the pair over the S-run points (module doc of :class:`RegimeRuns`)."""
    i, k = pair
    Xz = np.stack([ds.X[i], ds.X_pool[k]])  # (2, d)
    if ds.task == "logistic":
        return np.full(its.shape[1:3], float(np.sqrt(np.einsum("zd,zd->z", Xz, Xz)).max()))
    yz = np.array([ds.y[i], ds.y_pool[k]])
    pts = [its]
    if rule == "usam":  # perturbed points w_t + ρ∇f_{B_t}(w_t), t < T
        C, S, d = its.shape[1], its.shape[2], its.shape[-1]
        g = np.stack([land.grad(its[t].reshape(C * S, d),
                                np.broadcast_to(idx[:, t][None], (C, S, idx.shape[-1]))
                                .reshape(C * S, -1)) for t in range(idx.shape[1])])
        pts.append(its[:-1] + rho * g.reshape(its[:-1].shape))
    nz = np.sqrt(np.einsum("zd,zd->z", Xz, Xz))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.max([np.max(np.abs(np.einsum("tcsd,zd->tcsz", p, Xz) - yz) * nz,
                              axis=(0, 3)) for p in pts], axis=0)


def regime_runs(dataset: Dataset, rules=RULES, lr_factors=(0.5,), rho_beta: float = 2.0,
                steps: int = 200, seeds: int = 16, root_seed: int = 0, batch_size: int = 4,
                checkpoints: int = 4) -> RegimeRuns:
    r"""Coupled runs of every rule over a learning-rate grid in units of :math:`2/\beta`.

    Args:
        dataset: the original set :math:`S` (:mod:`ssam_theory.data`).
        rules: names of :data:`ssam_theory.RULES` including ``"sgd"``, or ``{name: factory}``
            with rule factories ``(lr, rho, **options) -> Optimizer``.
        lr_factors: ``(E,)`` :math:`\eta/(2/\beta)`, positive.
        rho_beta: :math:`\rho\beta \ge 0` (:math:`\rho` of every SAM-family rule).
        steps: :math:`T`; seeds: the number :math:`S` of index sequences, spawned from
            ``numpy.random.SeedSequence(root_seed)``.
        batch_size: :math:`b`; checkpoints: iterates of the curvature reading.

    Returns:
        A :class:`RegimeRuns`. The replaced example :math:`i^*` is the training index drawn
        most often over the seeds' sequences (so most seeds see it), replaced by pool row 0.
    """
    if not isinstance(dataset, Dataset) or dataset.replaced is not None:
        raise TypeError(f"dataset must be an original ssam_theory.data.Dataset, got {dataset!r}")
    factories = _factories(rules)
    if "sgd" not in factories:
        raise ValueError(f"rules must include 'sgd' (the reference), got {tuple(factories)}")
    factors = _positive_grid("lr_factors", lr_factors)
    rho_beta = v.as_real("rho_beta", rho_beta, low=0.0)
    steps = v.as_count("steps", steps, low=2)
    n_seeds = v.as_count("seeds", seeds, low=1)
    root_seed = v.as_count("root_seed", root_seed)
    batch_size = v.as_count("batch_size", batch_size, low=1)
    checkpoints = v.as_count("checkpoints", checkpoints, low=1)
    seeds = tuple(int(s.generate_state(1)[0])
                  for s in np.random.SeedSequence(root_seed).spawn(n_seeds))
    pair = (_most_drawn(dataset, seeds, steps, batch_size), 0)
    base, primed, _ = coupled_indices(dataset, [pair], seeds, steps, batch_size)
    beta = float(max(batch_smoothness(dataset, base).max(),
                     batch_smoothness(dataset, primed).max()))
    lrs, rho = factors * float(gd_max_lr(beta)), rho_beta / beta
    land, _ = _augmented(dataset, [pair])
    train, test = dataset.landscape(), dataset.test_landscape()
    R, E, S, T, d = len(factories), factors.size, n_seeds, steps, dataset.d
    out = {k: np.full((R, E, S), np.nan) for k in ("L", "curv", "train", "test")}
    delta, bound = np.full((R, E, S, T + 1), np.nan), np.full((R, E, S, T + 1), np.nan)
    overflow, diverged = np.zeros((R, E, S), bool), np.zeros((R, E, S), bool)
    growth = np.full((R, E, S), np.nan)
    # rows (E, S, {S, S′}), as in ssam_theory.linear's coupled batches
    idx = np.broadcast_to(np.stack([base, primed[:, 0]], axis=1)[None], (E, S, 2, T, batch_size))
    idx = np.ascontiguousarray(idx.reshape(E * S * 2, T, batch_size).transpose(1, 0, 2))
    count = np.concatenate([np.zeros((S, 1)), np.cumsum((base == pair[0]).sum(-1), -1)
                            / batch_size], axis=-1)
    f0 = float(train.loss(np.zeros(d)))
    marks = np.unique(np.linspace(T // 2, T, checkpoints).astype(int))
    for r, (rule, fac) in enumerate(factories.items()):
        rho_r = 0.0 if rule == "sgd" else rho
        its, at = _lean_coupled(land, build(fac, np.repeat(lrs, 2 * S),
                                            np.full(2 * E * S, rho_r), label=f"rules[{rule!r}]"),
                                idx, T)
        its, at = its.reshape(T + 1, E, S, 2, d), at.reshape(E, S, 2)
        gone = (at >= 0)[None] & (np.arange(T + 1)[:, None, None, None] > at[None])
        delta[r] = np.moveaxis(_pair_distance(its[..., 0, :], its[..., 1, :], gone[..., 0],
                                              gone[..., 1]), 0, -1)
        w_T = its[-1, :, :, 0].reshape(E * S, d)
        overflow[r] = (at >= 0).any(-1)
        tl = train.loss(w_T).reshape(E, S)
        growth[r] = _growth(delta[r], count)
        diverged[r] = overflow[r] | ((growth[r] > 0) if dataset.task == "least_squares"
                                     else False)
        out["train"][r] = np.where(overflow[r], np.inf, tl)
        out["test"][r] = np.where(overflow[r], np.inf, test.loss(w_T).reshape(E, S))
        if dataset.task == "logistic" and rule != "sam":
            out["curv"][r] = _curvature(train, its[marks, :, :, 0]).max(axis=0)
        if rule in ("sgd", "usam"):
            out["L"][r] = _bound_L(dataset, pair, its[..., 0, :], land, base, rho_r, rule)
            bound[r] = usam_stability_bound(lrs[:, None, None], out["L"][r][..., None], rho_r,
                                            beta, count[None])
    return RegimeRuns(
        dataset={**dataset.summary(), "beta_batch": beta}, rules=tuple(factories), lrs=lrs,
        rho=rho, steps=T, batch_size=batch_size, seeds=seeds, pair=pair, beta=beta,
        delta=delta, count=count, L=out["L"], bound=bound, overflow=overflow, diverged=diverged,
        growth=growth,
        curvature=out["curv"], train_loss=out["train"], test_loss=out["test"],
        min_train_loss=min_train_loss(dataset), initial_loss=f0)


def _growth(delta, count) -> np.ndarray:
    """``(E, S)`` mean log growth of δ over the steps that miss i* (``delta`` (E, S, T+1))."""
    miss = np.diff(count, axis=-1) == 0  # (S, T)
    a, b = delta[..., :-1], delta[..., 1:]
    ok = miss[None] & (a > 0) & np.isfinite(a) & np.isfinite(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.where(ok, np.log(np.where(ok, b / np.where(ok, a, 1.0), 1.0)), 0.0)
        m = lg.sum(-1) / ok.sum(-1)
    # a row that overflowed grew without bound
    return np.where(~np.isfinite(delta[..., -1]), np.inf, m)


def _curvature(land, W) -> np.ndarray:
    r""":math:`\lambda_{\max}\nabla^2 f_S(w)` for iterates ``W`` ``(..., d)`` (NaN if not
    finite); least squares: the constant Hessian's."""
    flat = W.reshape(-1, W.shape[-1])
    ok = np.isfinite(flat).all(-1)
    lam = np.full(flat.shape[0], np.nan)
    if not hasattr(land, "l2"):  # least squares
        lam[ok] = np.linalg.eigvalsh(land.hessian(np.zeros(flat.shape[1])))[-1]
    elif ok.any():
        X = land.X
        m = land.y * (flat[ok] @ X.T)
        s = np.exp(-np.logaddexp(0.0, m) - np.logaddexp(0.0, -m))  # σ(m)σ(−m), no overflow
        top = np.empty(s.shape[0])
        # 64 Hessians at a time: the same products per matrix as one stacked call (same
        # bits), without a (rows, d, n) temporary of hundreds of MB
        with _one_blas_thread():
            for i in range(0, s.shape[0], 64):
                H = np.matmul(X.T[None] * s[i:i + 64, None, :], X) / land.n
                top[i:i + 64] = np.linalg.eigvalsh(H)[:, -1]
        lam[ok] = top
    return lam.reshape(W.shape[:-1])


@shared
def regime_experiment(config: RegimeConfig | None = None, rules=None) -> dict[str, RegimeRuns]:
    """:func:`regime_runs` on every data set of ``config`` (default: the full preset);
    ``rules`` (``{name: factory}``) replaces the package's rules of those names.

    Computed once per ``ssam-theory reproduce`` run for given arguments and shared by claims
    C14a, C14b and notebook 06 (:func:`ssam_theory._shared.shared`)."""
    config = RegimeConfig.full() if config is None else config
    out = {}
    for name in config.datasets:
        tight = name == TIGHT
        ds = load(name, seed=config.data_seed, **({"n": config.tight_n} if tight else {}))
        out[name] = regime_runs(
            ds, _factories(config.rules, rules), config.lr_factors, config.rho_beta,
            steps=config.steps, seeds=config.seeds, root_seed=config.root_seed,
            batch_size=config.tight_batch_size if tight else config.batch_size,
            checkpoints=config.checkpoints)
    return out

