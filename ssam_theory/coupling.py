r"""Coupled runs on neighbouring data sets: the machinery of :mod:`ssam_theory.linear` (C13)
and :mod:`ssam_theory.regime` (C14a, C14b, C18).

Both runs of a pair, on :math:`S` and on :math:`S'` (training row :math:`i^*` replaced by pool
row :math:`k`, :func:`ssam_theory.data.neighbour`), share one minibatch index sequence
(:func:`ssam_theory.run` with ``indices=``). They are trained in *one* batch: the landscape
holds the training rows followed by the pool rows used as replacements, and the :math:`S'` row
of a pair reads index :math:`n + k` wherever the :math:`S` row reads :math:`i^*`. Landscapes
are row-local, so this equals separate runs on :math:`S` and :math:`S'` bit for bit (tested),
and on identical data a pair gives :math:`\delta_t = 0` exactly.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v
from .data import Dataset
from .landscapes import LeastSquares, Logistic
from .rules import build, rule_factories
from .trajectory import DIVERGENCE_NORM, minibatch_indices, run

__all__ = ["coupled_indices", "coupled_run", "default_replacements"]


def _factories(rules, injected=None) -> dict:
    """``{name: factory}`` for ``rules`` (names or a mapping), with ``injected`` factories
    (a mapping, e.g. a claim's wrong rule) replacing the package's own by name."""
    table = rule_factories(rules)
    if injected:
        table = {**table, **{k: f for k, f in rule_factories(injected).items() if k in table}}
    return table


def _positive_grid(name, values) -> np.ndarray:
    arr = v.as_finite_array(name, values, ndim=1)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {arr.tolist()}")
    return arr


def _seeds(seeds) -> tuple[int, ...]:
    """Seeds as everywhere in the package (:func:`ssam_theory.sweep`): a count ``n >= 1``
    means seeds ``0 … n-1``; a sequence lists the seeds themselves."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return tuple(range(v.as_count("seeds", int(seeds), low=1)))
    seeds = tuple(v.as_count("seeds", int(s) if isinstance(s, np.integer) else s)
                  for s in seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    return seeds


def _replace_pairs(ds: Dataset, replace) -> tuple[tuple[int, int], ...]:
    pairs = tuple((v.as_count("replace index", int(i)), v.as_count("replace pool row", int(k)))
                  for i, k in replace)
    if not pairs:
        raise ValueError("replace must name at least one (index, pool row) pair")
    for i, k in pairs:
        if i >= ds.n or k >= ds.X_pool.shape[0]:
            raise ValueError(f"replace pair ({i}, {k}) out of range: index < {ds.n}, "
                             f"pool row < {ds.X_pool.shape[0]}")
    return pairs


def default_replacements(ds: Dataset, count: int, seed: int = 0) -> tuple[tuple[int, int], ...]:
    """``count`` distinct replaced indices :math:`i^*` (seeded) with pool rows 0, 1, ..."""
    count = v.as_count("count", count, low=1)
    if count > min(ds.n, ds.X_pool.shape[0]):
        raise ValueError(f"count must be <= min(n, n_pool) = "
                         f"{min(ds.n, ds.X_pool.shape[0])}, got {count}")
    idx = np.random.default_rng(seed).choice(ds.n, size=count, replace=False)
    return tuple((int(i), k) for k, i in enumerate(idx))


def _augmented(ds: Dataset, pairs):
    """Training rows then the pool rows used: one landscape for S and every S′."""
    pool_rows = sorted({k for _, k in pairs})
    where = {k: ds.n + j for j, k in enumerate(pool_rows)}
    X = np.vstack([ds.X, ds.X_pool[pool_rows]])
    y = np.concatenate([ds.y, ds.y_pool[pool_rows]])
    land = LeastSquares(X, y) if ds.task == "least_squares" else Logistic(X, y)
    return land, where


def coupled_indices(ds: Dataset, pairs, seeds, steps, batch_size):
    r"""Index sequences of the coupled pairs.

    Returns:
        ``(base, primed, where)``: ``base[s]`` of shape ``(steps, b)`` are the indices of
        seed ``s`` (:func:`ssam_theory.minibatch_indices` on :math:`S`); ``primed[s, j]`` the
        same sequence with :math:`i^*_j` mapped to the replacement's row ``where[k_j]`` of the
        augmented landscape.
    """
    _, where = _augmented(ds, pairs)
    base = np.stack([minibatch_indices(ds.n, batch_size, steps, s) for s in seeds])
    primed = np.stack([[np.where(b == i, where[k], b) for i, k in pairs] for b in base])
    return base, primed, where


def _row_indices(base, primed, C, compact):
    """The indices ``(steps, rows, b)`` of :func:`coupled_run`'s rows and their shape
    ``(C, S, K, 2)`` (``compact``: ``(C, S, 1 + K)``), from :func:`coupled_indices`."""
    if compact:  # (S, 1 + K, steps, b) → rows (C, S, 1 + K)
        idx = np.concatenate([base[:, None], primed], axis=1)
    else:  # (S, K, 2, steps, b) → rows (C, S, K, 2)
        idx = np.stack([np.broadcast_to(base[:, None], primed.shape), primed], axis=2)
    shape = (C, *idx.shape[:-2])
    steps, b = idx.shape[-2:]
    idx = np.broadcast_to(idx[None], (C, *idx.shape)).reshape(-1, steps, b)
    return np.ascontiguousarray(idx.transpose(1, 0, 2)), shape


def coupled_run(ds, rule, factory, lrs, rhos, seeds, pairs, steps, batch_size, record,
                record_loss=True, compact=False):
    r"""One batched run of ``rule`` on :math:`S` and every :math:`S'` with shared indices.

    Rows are ordered (configuration c of ``lrs``/``rhos``, seed, replaced pair, {S, S′});
    ``factory`` builds the rule (:data:`ssam_theory.RuleFactory`). With ``compact`` they are
    (c, seed, {S, S′_1, …, S′_K}) instead: the run on :math:`S`, the same for every pair of
    a seed, is made once (rows are independent, so its numbers are the same either way).

    Returns:
        ``(trajectory, shape, base_indices)``: the :func:`ssam_theory.run` result of the
        whole batch, its row shape ``(C, S, K, 2)`` (``compact``: ``(C, S, 1 + K)``) and the
        index sequences of :math:`S`.
    """
    land, _ = _augmented(ds, pairs)
    base, primed, _ = coupled_indices(ds, pairs, seeds, steps, batch_size)
    C = len(lrs)
    idx, shape = _row_indices(base, primed, C, compact)
    per_c = int(np.prod(shape[1:]))
    lr_rows = np.repeat(np.asarray(lrs, dtype=np.float64), per_c)
    rho_rows = np.repeat(np.asarray(rhos, dtype=np.float64), per_c)
    opt = build(factory, lr_rows, rho_rows, label=f"rules[{rule!r}]")
    tr = run(opt, land, np.zeros(ds.d), steps, indices=idx, record_iterates=record,
             record_loss=record_loss)
    return tr, shape, base


def _pair_distance(a, b, div_a, div_b):
    r""":math:`\|a - b\|` over the last axis, ``inf`` where ``div_a | div_b``. Computed in
    blocks along the first axis (time): the same sum per element as one call, without a
    temporary the size of all iterates."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape)[:-1])
    block = max(1, 2**17 // max(1, int(np.prod(out.shape[1:])) * a.shape[-1]))
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, out.shape[0], block):
            diff = a[i:i + block] - b[i:i + block]
            out[i:i + block] = np.sqrt(np.einsum("...i,...i->...", diff, diff))
    return np.where(div_a | div_b, np.inf, out)


def _one_blas_thread():
    """Context: BLAS on one thread. The products and factorizations of these experiments are
    small, and a second BLAS thread costs more CPU (waking, spinning) than it saves; each
    output element is still computed by one thread in the same order (same values, tested)."""
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    return threadpool_limits(1, user_api="blas")


def _lean_coupled(land, opt, idx, steps):
    """Iterates ``(T+1, rows, d)`` from 0 and the step whose result overflowed (-1 if none).

    The same :meth:`~ssam_theory.Optimizer.step` calls as :func:`ssam_theory.run` (rows are
    independent, so a row's numbers do not depend on the others), without recording the full
    loss at every step. A row whose norm exceeds ``DIVERGENCE_NORM`` is frozen."""
    rows = idx.shape[1]
    W = np.zeros((rows, land.dim))
    its = np.empty((steps + 1, rows, land.dim))
    its[0] = W
    at = np.full(rows, -1)
    state = opt.init(W)
    frozen = False
    for t in range(steps):
        with np.errstate(all="ignore"):
            new, state = opt.step(W, state, lambda x, i=idx[t]: land.grad(x, i))
            bad = ~(np.sqrt(np.einsum("bi,bi->b", new, new)) <= DIVERGENCE_NORM)
        if frozen or bad.any():
            at[bad & (at < 0)] = t
            frozen = True
            new = np.where((at >= 0)[:, None], W, new)
        W = its[t + 1] = new
    return its, at
