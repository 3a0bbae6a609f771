r"""Linear models: coupled stochastic training, uniform stability, the learning-rate regime.

The paper's analysis (Tan et al., arXiv:2401.07250) bounds the expected risk by optimization
error plus generalization error, and the latter by uniform stability: how far apart the
iterates :math:`w_t` and :math:`w'_t` trained on neighbouring sets :math:`S, S'` (one example
replaced, :func:`ssam_theory.data.neighbour`) drift when both runs see the *same* index
sequence :math:`i_1, i_2, \dots` (Hardt, Recht & Singer, arXiv:1509.01240). On linear and
logistic regression everything here is computable:

* :func:`coupled_stability` — :math:`\delta_t = \|w_t - w'_t\|` over time for every rule and
  learning rate, averaged over seeds and replaced indices, beside Hardt et al.'s bound
  :math:`\delta_T \le 2\eta L\,\#\{t : i_t = i^*\}` (:func:`ssam_theory.theory.hardt_bound`),
  valid for SGD on convex, :math:`\beta`-smooth, :math:`L`-Lipschitz per-example losses with
  :math:`\eta \le 2/\beta` (claim C13).
* :func:`lr_regime` — train/test loss, :math:`\delta_T` and the sharpness
  :math:`\lambda_{\max}\nabla^2 f_S(w_T)` at :math:`w_T` versus :math:`\eta` at several
  :math:`\rho` (a plain sweep; the learning-rate regime of claims C14a/b, with the minibatch
  smoothness and the Hardt-type bound of USAM, is :mod:`ssam_theory.regime`).

Coupling (:mod:`ssam_theory.coupling`). Both runs of a pair share one minibatch index
sequence and are trained in one batch, equal bit for bit to separate runs.
:func:`coupled_stability` runs :math:`S` once per seed and compares it with the run on every
:math:`S'` (``compact`` rows of :func:`coupled_run`).

Minibatches (with replacement, size :math:`b`). The minibatch loss is again convex and
:math:`\beta`-smooth, and when :math:`i^*` occurs :math:`m_t` times in batch :math:`t` Hardt
et al.'s argument gives :math:`\delta_{t+1} \le \delta_t + 2\eta L m_t/b`; so the count is
:math:`\sum_t m_t / b` (for :math:`b = 1`, exactly :math:`\#\{t : i_t = i^*\}`), with
expectation :math:`T/n`.

Which :math:`\beta` and :math:`L` (see :mod:`ssam_theory.data`): C13's condition uses the
per-example smoothness ``Dataset.beta_example``; :func:`lr_regime` reports thresholds with the
curvature of the training loss ``Dataset.beta``. :math:`L`: logistic — the exact Lipschitz constant
:math:`\max_i\|x_i\|`; least squares is not globally Lipschitz, so :math:`L` is the largest
per-example gradient norm :math:`\max_{t,\,z \in S\cup S'}\|\nabla\ell_z(w)\|` over both
iterates :math:`w \in \{w_t, w'_t\}` of the pair (the "region visited" of Hardt et al.).

Divergence is an outcome: a diverged row gives :math:`\delta = \infty` from that step on, and
counts as unstable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _validate as v
from ._shared import shared
from .coupling import (
    _factories,
    _one_blas_thread,
    _pair_distance,
    _positive_grid,
    _replace_pairs,
    _seeds,
    coupled_indices,
    coupled_run,
    default_replacements,
)
from .data import DATASETS, Dataset, load
from .rules import RULES
from .theory import gd_max_lr, hardt_bound, usam_max_lr

__all__ = [
    "BOUND_ATOL",
    "BOUND_RTOL",
    "RegimeResult",
    "StabilityConfig",
    "StabilityResult",
    "coupled_indices",
    "coupled_run",
    "coupled_stability",
    "default_replacements",
    "lr_regime",
]

# δ_t ≤ bound_t is checked up to rounding: both sides are O(1) sums of T float64 steps, so a
# relative slack of 1e-9 (and 1e-12 absolute, for bound = 0 where δ must be exactly 0 anyway)
# is far above rounding (~T·1e-16) and far below any real violation.
BOUND_RTOL, BOUND_ATOL = 1e-9, 1e-12


def _ls_lipschitz(ds: Dataset, pairs, iterates):
    r"""Least squares :math:`L` per pair: :math:`\max |x_z^\top w - y_z|\,\|x_z\|` over time,
    both rows of the pair, and :math:`z \in S \cup S'`. ``iterates``: ``(T+1, C, S, 1+K, d)``
    (:func:`coupled_run` with ``compact``: the run on :math:`S`, then one per pair).

    The training rows are one matrix product per block of iterates: row :math:`z` of
    :math:`\|x_z\|\,[x_z, y_z]` against :math:`[w, -1]` is :math:`(x_z^\top w - y_z)\|x_z\|`,
    and :math:`\max_z |a_z| = \max(\max_z a_z, -\min_z a_z)`. The product's summation order
    (BLAS) differs from a term-by-term sum by rounding only (a few ulps of :math:`L`)."""
    T1, d = iterates.shape[0], iterates.shape[-1]
    Xn = np.sqrt(np.einsum("ij,ij->i", ds.X, ds.X))
    XaT = np.ascontiguousarray((np.hstack([ds.X, ds.y[:, None]]) * Xn[:, None]).T)  # (d+1, n)
    pool_rows = [k for _, k in pairs]
    Xp, yp = ds.X_pool[pool_rows], ds.y_pool[pool_rows]
    Xpn = np.sqrt(np.einsum("ij,ij->i", Xp, Xp))
    train = np.zeros(iterates.shape[1:-1])  # (C, S, 1+K): the training rows, per run
    pool = np.zeros((*iterates.shape[1:-2], len(pairs)))  # (C, S, K): pair k's pool row
    rows = train.size
    block = max(1, 2048 // rows)  # iterates per product: ~2k rows, the product stays in cache
    Wa = np.full((block * rows, d + 1), -1.0)
    prod = np.empty((block * rows, ds.n))
    with _one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
        for t0 in range(0, T1, block):
            W = iterates[t0:t0 + block]
            m = W.shape[0] * rows
            Wa[:m, :d] = W.reshape(m, d)
            a = np.matmul(Wa[:m], XaT, out=prod[:m])  # (x_z·w − y_z)‖x_z‖
            r = np.maximum(a.max(axis=1), -a.min(axis=1)).reshape(W.shape[:-1])
            train = np.maximum(train, r.max(axis=0))
            # pool row of pair k against the run on S and the run on S′_k
            on_s = np.einsum("tcsd,kd->tcsk", W[..., 0, :], Xp)
            on_sk = np.einsum("tcskd,kd->tcsk", W[..., 1:, :], Xp)
            for p in (on_s, on_sk):
                pool = np.maximum(pool, (np.abs(p - yp) * Xpn).max(axis=0))
    return np.maximum(np.maximum(train[..., :1], train[..., 1:]), pool)


@dataclass(frozen=True)
class StabilityResult:
    r"""Output of :func:`coupled_stability`. Axes: rule R, learning rate E, seed S, replaced
    pair K, time T+1.

    Attributes:
        dataset: :meth:`ssam_theory.data.Dataset.summary` of :math:`S`.
        rules, lrs, seeds, pairs, steps, batch_size, rho: the settings.
        delta: ``(R, E, S, K, T+1)`` :math:`\delta_t = \|w_t - w'_t\|` (``inf`` once a row of
            the pair has diverged).
        count: ``(S, K, T+1)`` :math:`\sum_{\tau < t} m_\tau / b`.
        L: ``(R, E, S, K)`` the :math:`L` used (see module doc).
        bound: ``(R, E, S, K, T+1)`` :math:`2\eta L\,\mathrm{count}_t`.
        diverged: ``(R, E, S, K)`` either row of the pair diverged.
        beta_example: the per-example :math:`\beta` of Hardt et al.'s condition.
        hardt_max_lr: :math:`2/\beta` (``theory.gd_max_lr(beta_example)``).
    """

    dataset: dict
    rules: tuple[str, ...]
    lrs: np.ndarray
    seeds: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    steps: int
    batch_size: int
    rho: float
    delta: np.ndarray
    count: np.ndarray
    L: np.ndarray
    bound: np.ndarray
    diverged: np.ndarray
    beta_example: float
    hardt_max_lr: float

    def respects_bound(self) -> np.ndarray:
        r"""``(R, E, S, K)``: :math:`\delta_t \le 2\eta L\,\mathrm{count}_t` at every t
        (up to rounding, see ``BOUND_RTOL``)."""
        ok = self.delta <= self.bound * (1 + BOUND_RTOL) + BOUND_ATOL
        return ok.all(axis=-1)

    def ratio(self) -> np.ndarray:
        r"""``(R, E, S, K)``: :math:`\delta_T / (2\eta L\,\mathrm{count}_T)` (NaN where the
        count is 0 and :math:`\delta_T = 0`; ``inf`` where diverged)."""
        d, b = self.delta[..., -1], self.bound[..., -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, d / b, np.where(d == 0, np.nan, np.inf))

    def max_finite_ratio(self) -> np.ndarray:
        r"""``(R, E)``: the largest finite :meth:`ratio` over seeds and replaced indices (NaN
        where none is finite: every pair diverged or never met :math:`i^*`)."""
        r = self.ratio()
        r = r.reshape(*r.shape[:2], -1)
        fin = np.isfinite(r)
        return np.where(fin.any(axis=-1), np.max(np.where(fin, r, -np.inf), axis=-1), np.nan)

    def expected_bound(self) -> np.ndarray:
        r"""``(R, E)``: :math:`2\eta \bar L\, T/n`, the bound's expectation over the index
        sequence (:math:`\mathbb E\,\mathrm{count}_T = T/n`), :math:`\bar L` the mean of
        :attr:`L` over seeds and pairs."""
        Lbar = self.L.mean(axis=(2, 3))
        return hardt_bound(self.lrs[None, :], Lbar, self.steps / self.dataset["n"])

    def mean_delta(self) -> np.ndarray:
        """``(R, E, T+1)``: :math:`\\delta_t` averaged over seeds and replaced indices."""
        return self.delta.mean(axis=(2, 3))


@dataclass(frozen=True)
class StabilityConfig:
    """Settings of the C13 experiment (:func:`stability_experiment`).

    ``lr_factors`` are :math:`\\eta` in units of Hardt et al.'s threshold
    :math:`2/\\beta_{\\rm example}`; ``rho_beta`` is :math:`\\rho\\,\\beta_{\\rm example}`.
    """

    datasets: tuple[str, ...] = DATASETS
    rules: tuple[str, ...] = RULES
    lr_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    rho_beta: float = 0.5
    steps: int = 400
    seeds: tuple[int, ...] = (0, 1, 2)
    replacements: int = 4
    batch_size: int = 1
    data_seed: int = 0

    @classmethod
    def quick(cls) -> StabilityConfig:
        return cls(lr_factors=(0.5, 1.0, 2.0), steps=400, seeds=(0, 1), replacements=3)

    @classmethod
    def full(cls) -> StabilityConfig:
        return cls(lr_factors=(0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0), steps=1000,
                   seeds=(0, 1, 2, 3, 4), replacements=6)


def coupled_stability(dataset: Dataset, rules=RULES, lrs=(0.01,), rho: float = 0.05,
                      steps: int = 200, seeds=(0,), batch_size: int = 1,
                      replace=None) -> StabilityResult:
    r"""Train every rule on :math:`S` and :math:`S'` with shared indices; record :math:`\delta_t`.

    Args:
        dataset: the original set :math:`S` (:mod:`ssam_theory.data`).
        rules: names of :data:`ssam_theory.RULES`, or ``{name: factory}`` with rule factories
            ``(lr, rho, **options) -> Optimizer`` (:data:`ssam_theory.RuleFactory`; ``None``
            values mean the package's own rule), e.g. to inject a rule under test.
        lrs: ``(E,)`` learning rates :math:`\eta > 0`; one batch row each.
        rho: :math:`\rho \ge 0` of the SAM-family rules (ignored by sgd).
        steps: :math:`T`.
        seeds: a count n (seeds 0 … n-1, as in :func:`ssam_theory.sweep`) or the seeds of the
            index sequences (:func:`ssam_theory.minibatch_indices`).
        batch_size: :math:`b` (1 is Hardt et al.'s setting).
        replace: ``(K,)`` pairs ``(i*, k)``: training row ``i*`` replaced by pool row ``k``;
            default :func:`default_replacements` with ``K = 1``.

    Returns:
        A :class:`StabilityResult`; ``iterates`` start at :math:`w_0 = 0`.
    """
    if not isinstance(dataset, Dataset) or dataset.replaced is not None:
        raise TypeError(f"dataset must be an original ssam_theory.data.Dataset, got {dataset!r}")
    factories = _factories(rules)
    rules = tuple(factories)
    lrs = _positive_grid("lrs", lrs)
    rho = v.as_real("rho", rho, low=0.0)
    steps = v.as_count("steps", steps, low=1)
    seeds = _seeds(seeds)
    batch_size = v.as_count("batch_size", batch_size, low=1)
    pairs = _replace_pairs(dataset, default_replacements(dataset, 1) if replace is None
                           else replace)
    R, E, S, K = len(rules), lrs.size, len(seeds), len(pairs)
    delta = np.empty((R, E, S, K, steps + 1))
    L = np.empty((R, E, S, K))
    diverged = np.empty((R, E, S, K), dtype=bool)
    count = None
    for r, rule in enumerate(rules):
        # rows (E, S, {S, S′_1, …, S′_K}): the run on S once per seed
        tr, shape, base = coupled_run(dataset, rule, factories[rule], lrs, np.full(E, rho),
                                       seeds, pairs, steps, batch_size, record=True,
                                       record_loss=False, compact=True)
        its = tr.iterates.reshape(steps + 1, *shape, dataset.d)
        at = tr.diverged_at.reshape(shape)
        t = np.arange(steps + 1)[:, None, None, None]
        # row diverged at step τ: its result w_{τ+1} was discarded (δ = ∞ from t = τ + 1)
        gone = (at >= 0) & (t > at)
        delta[r] = np.moveaxis(_pair_distance(its[..., :1, :], its[..., 1:, :],
                                              gone[..., :1], gone[..., 1:]), 0, -1)
        diverged[r] = (at[..., :1] >= 0) | (at[..., 1:] >= 0)
        if dataset.task == "logistic":
            L[r] = dataset.lipschitz
        else:
            L[r] = _ls_lipschitz(dataset, pairs, its)
        if count is None:
            hits = np.stack([(base == i).sum(axis=-1) for i, _ in pairs], axis=1)  # (S, K, T)
            count = np.concatenate([np.zeros((S, K, 1)),
                                    np.cumsum(hits, axis=-1) / batch_size], axis=-1)
    bound = hardt_bound(lrs[None, :, None, None, None], L[..., None], count[None, None])
    return StabilityResult(dataset=dataset.summary(), rules=rules, lrs=lrs, seeds=seeds,
                           pairs=pairs, steps=steps, batch_size=batch_size, rho=rho,
                           delta=delta, count=count, L=L, bound=np.asarray(bound, dtype=float),
                           diverged=diverged, beta_example=dataset.beta_example,
                           hardt_max_lr=float(gd_max_lr(dataset.beta_example)))


@shared
def stability_experiment(config: StabilityConfig | None = None,
                         rules=None) -> dict[str, StabilityResult]:
    """:func:`coupled_stability` on every data set of ``config`` (default: full preset);
    ``rules`` (``{name: factory}``) replaces the package's rules of those names.

    Computed once per ``ssam-theory reproduce`` run for given arguments and shared by claim
    C13 and notebook 04 (:func:`ssam_theory._shared.shared`)."""
    config = StabilityConfig.full() if config is None else config
    out = {}
    for name in config.datasets:
        ds = load(name, seed=config.data_seed)
        hardt = float(gd_max_lr(ds.beta_example))
        out[name] = coupled_stability(
            ds, _factories(config.rules, rules), [f * hardt for f in config.lr_factors],
            rho=config.rho_beta / ds.beta_example, steps=config.steps, seeds=config.seeds,
            batch_size=config.batch_size,
            replace=default_replacements(ds, config.replacements, seed=config.data_seed))
    return out


@dataclass(frozen=True)
class RegimeResult:
    r"""Output of :func:`lr_regime`. Axes: rule R, radius P (``rhos``), learning rate E, seed S.

    Attributes:
        dataset: summary of :math:`S`; ``beta`` is the curvature of the training loss.
        rules, rhos, lrs, seeds, steps, batch_size, pair: the settings.
        train_loss, test_loss: ``(R, P, E, S)`` at :math:`w_T` (``inf`` if diverged).
        delta: ``(R, P, E, S)`` :math:`\delta_T = \|w_T - w'_T\|` for the pair ``pair``.
        diverged: ``(R, P, E, S)`` either run of the pair diverged.
        sharpness: ``(R, P, E, S)`` :math:`\lambda_{\max}\nabla^2 f_S(w_T)` (NaN if diverged).
        initial_loss: :math:`f_S(w_0)`, :math:`w_0 = 0`.
        usam_max_lr: ``(P,)`` :math:`2/(\beta(1+\rho\beta))` (``theory.usam_max_lr``).
        gd_max_lr: :math:`2/\beta` (``theory.gd_max_lr``).
    """

    dataset: dict
    rules: tuple[str, ...]
    rhos: np.ndarray
    lrs: np.ndarray
    seeds: tuple[int, ...]
    steps: int
    batch_size: int
    pair: tuple[int, int]
    train_loss: np.ndarray
    test_loss: np.ndarray
    delta: np.ndarray
    diverged: np.ndarray
    sharpness: np.ndarray
    initial_loss: float
    usam_max_lr: np.ndarray
    gd_max_lr: float

    def _mean(self, x):
        return np.where(self.diverged.any(axis=-1), np.inf, np.mean(
            np.where(self.diverged, 0.0, x), axis=-1))

    def mean_test_loss(self) -> np.ndarray:
        """``(R, P, E)`` mean over seeds (``inf`` if any seed diverged)."""
        return self._mean(self.test_loss)

    def mean_train_loss(self) -> np.ndarray:
        return self._mean(self.train_loss)

    def mean_delta(self) -> np.ndarray:
        return self._mean(self.delta)

    def stable(self) -> np.ndarray:
        r"""``(R, P, E)``: no seed diverged and the mean training loss at :math:`w_T` is below
        :math:`f_S(w_0)` (training made progress)."""
        return ~self.diverged.any(axis=-1) & (self.mean_train_loss() < self.initial_loss)


def lr_regime(dataset: Dataset, rules=RULES, lrs=(0.01,), rhos=(0.05,), steps: int = 300,
              seeds=(0,), batch_size: int = 32, replace=None) -> RegimeResult:
    r"""Train/test loss, :math:`\delta_T` and sharpness versus :math:`\eta` for every rule and ρ.

    Args:
        dataset: the original set :math:`S`.
        rules: names of :data:`ssam_theory.RULES`, or ``{name: factory}``.
        lrs: ``(E,)`` learning rates; rhos: ``(P,)`` radii.
        steps, seeds, batch_size: as in :func:`coupled_stability`.
        replace: one pair ``(i*, k)`` defining :math:`S'` for :math:`\delta_T`; default
            :func:`default_replacements` ``(dataset, 1)``.

    Returns:
        A :class:`RegimeResult`. Every configuration is one batch row; sgd (ρ-independent)
        is run once and shared across ρ.
    """
    if not isinstance(dataset, Dataset) or dataset.replaced is not None:
        raise TypeError(f"dataset must be an original ssam_theory.data.Dataset, got {dataset!r}")
    factories = _factories(rules)
    rules = tuple(factories)
    lrs = _positive_grid("lrs", lrs)
    rhos = v.as_finite_array("rhos", rhos, ndim=1)
    if np.any(rhos < 0):
        raise ValueError(f"rhos must be >= 0, got {rhos.tolist()}")
    steps = v.as_count("steps", steps, low=1)
    seeds = _seeds(seeds)
    batch_size = v.as_count("batch_size", batch_size, low=1)
    pair = _replace_pairs(dataset, default_replacements(dataset, 1) if replace is None
                          else [replace])[0]
    R, P, E, S = len(rules), rhos.size, lrs.size, len(seeds)
    train_land, test_land = dataset.landscape(), dataset.test_landscape()
    shape = (R, P, E, S)
    train_loss, test_loss, delta, sharp = (np.full(shape, np.nan) for _ in range(4))
    diverged = np.zeros(shape, dtype=bool)
    for r, rule in enumerate(rules):
        P_r = 1 if rule == "sgd" else P
        lr_c = np.tile(lrs, P_r)
        rho_c = np.repeat(rhos[:P_r] if rule != "sgd" else np.zeros(1), E)
        tr, cshape, _ = coupled_run(dataset, rule, factories[rule], lr_c, rho_c, seeds, [pair],
                                     steps, batch_size, record=False, record_loss=False)
        fin = tr.final.reshape(*cshape, dataset.d)[:, :, 0]  # (P_r·E, S, 2, d)
        div = tr.diverged.reshape(cshape)[:, :, 0].any(axis=-1)  # (P_r·E, S)
        w = fin[:, :, 0]
        with np.errstate(over="ignore", invalid="ignore"):
            tl = np.where(div, np.inf, train_land.loss(w.reshape(-1, dataset.d)).reshape(div.shape))
            te = np.where(div, np.inf, test_land.loss(w.reshape(-1, dataset.d)).reshape(div.shape))
        dl = _pair_distance(fin[:, :, 0], fin[:, :, 1], div, div)
        sh = np.full(div.shape, np.nan)
        for c, s in zip(*np.nonzero(~div)):
            sh[c, s] = np.linalg.eigvalsh(train_land.hessian(w[c, s]))[-1]
        for arr, val in ((train_loss, tl), (test_loss, te), (delta, dl), (sharp, sh),
                         (diverged, div)):
            arr[r] = np.broadcast_to(val.reshape(P_r, E, S), (P, E, S))
    return RegimeResult(dataset=dataset.summary(), rules=rules, rhos=rhos, lrs=lrs, seeds=seeds,
                        steps=steps, batch_size=batch_size, pair=pair, train_loss=train_loss,
                        test_loss=test_loss, delta=delta, diverged=diverged, sharpness=sharp,
                        initial_loss=float(train_land.loss(np.zeros(dataset.d))),
                        usam_max_lr=np.asarray(usam_max_lr(dataset.beta, rhos), dtype=float),
                        gd_max_lr=float(gd_max_lr(dataset.beta)))

