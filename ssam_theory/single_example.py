r"""Claim C18: on a linear model with one example per step, SSAM and NSSAM are SGD and USAM
(least squares) is SGD with a rescaled step; the measurement of the trajectories' distance.

References:
    Tan et al., arXiv:2401.07250.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v
from ._shared import shared
from .coupling import _factories, _lean_coupled
from .data import Dataset
from .rules import build
from .theory import usam_max_lr

__all__ = ["single_example_gap"]


@shared
def single_example_gap(dataset: Dataset, rules=None, lr_factor: float = 0.5,
                       rho_beta: float = 0.5, steps: int = 200, seeds: int = 4,
                       root_seed: int = 0, compare=("ssam", "nssam", "usam")
                       ) -> dict[str, np.ndarray]:
    r"""Claim C18: with one example per step, the distance of every rule's trajectory to its
    predicted twin, relative to the trajectory's scale.

    ``ssam``, ``nssam``: to SGD's; ``usam`` (least squares only): to SGD's with step
    ``theory.usam_example_lr`` :math:`\eta(1+\rho\|x_{i_t}\|^2)` at step t, run by the sgd
    factory one step at a time. :math:`\eta` = ``lr_factor`` · ``usam_max_lr`` at the
    per-example :math:`\beta` (every run contracts: no rounding is amplified), :math:`\rho`
    = ``rho_beta``/:math:`\beta`, ``seeds`` index sequences (``SeedSequence(root_seed)``).

    ``compare`` names the rules to measure (a subset of ``ssam``, ``nssam``, ``usam``); only
    those and SGD are run. Computed once per ``ssam-theory reproduce`` run for given arguments
    and shared by claim C18 and notebook 06 (:func:`ssam_theory._shared.shared`).

    Returns:
        ``{rule: (T+1,)}`` :math:`\max_{\rm rows}\|w_t - \hat w_t\|/\max_\tau\|\hat w_\tau\|`,
        and ``"moved"``: :math:`\max\|\hat w_T - w_0\|` of SGD (0 would make it trivial).
    """
    from .theory import usam_example_lr
    from .trajectory import minibatch_indices

    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset, got {dataset!r}")
    compare = tuple(compare)
    if not compare or not set(compare) <= {"ssam", "nssam", "usam"}:
        raise ValueError(f"compare must name some of 'ssam', 'nssam', 'usam', got {compare!r}")
    fac = _factories(("sgd", "ssam", "nssam", "usam"), rules)
    beta = dataset.beta_example
    rho = v.as_real("rho_beta", rho_beta, low=0.0) / beta
    lr = v.as_real("lr_factor", lr_factor, low=0.0, low_open=True) * usam_max_lr(beta, rho)
    steps, n = v.as_count("steps", steps, low=1), v.as_count("seeds", seeds, low=1)
    idx = np.stack([minibatch_indices(dataset.n, 1, steps, s)
                    for s in np.random.SeedSequence(root_seed).spawn(n)], axis=1)  # (T, n, 1)
    land = dataset.landscape()
    runs = {r: _lean_coupled(land, build(fac[r], np.full(n, lr), np.full(n, rho)), idx,
                             steps)[0] for r in ("sgd", *compare)}
    out = {}
    if dataset.task == "least_squares" and "usam" in compare:
        W, twin = np.zeros((n, dataset.d)), [np.zeros((n, dataset.d))]
        sq = np.einsum("ij,ij->i", dataset.X, dataset.X)
        for t in range(steps):
            opt = build(fac["sgd"], usam_example_lr(lr, rho, sq[idx[t, :, 0]]), np.zeros(n))
            W, _ = opt.step(W, None, lambda x, i=idx[t]: land.grad(x, i))
            twin.append(W)
        out["usam"] = _rel_gap(runs["usam"], np.stack(twin))
    for r in ("ssam", "nssam"):
        if r in compare:
            out[r] = _rel_gap(runs[r], runs["sgd"])
    out["moved"] = float(np.sqrt(np.einsum("bd,bd->b", runs["sgd"][-1], runs["sgd"][-1])).max())
    return out


def _rel_gap(a, ref):
    diff = np.sqrt(np.einsum("tbd,tbd->tb", a - ref, a - ref)).max(axis=1)
    scale = np.sqrt(np.einsum("tbd,tbd->tb", ref, ref)).max()
    return diff / scale if scale > 0 else diff
