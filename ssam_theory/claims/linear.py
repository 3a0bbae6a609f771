r"""Claims on linear models: C13 (Hardt et al.'s stability bound) and C14 (the paper's
learning-rate window).

The experiments (coupled runs on neighbouring data sets, the learning-rate regime) live in
:mod:`ssam_theory.linear` and return measurements; the verdicts are decided here.
"""

from __future__ import annotations

import numpy as np

from ..linear import BOUND_ATOL, BOUND_RTOL, StabilityConfig, stability_experiment
from ._base import Result, Rules


def _num(x):
    """A JSON-safe float (``None`` for inf/NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


def _fmt(x) -> str:
    return "inf" if not np.isfinite(x) else f"{x:.3g}"


# η ≤ 2/β is tested on grid points built as factor·(2/β); factor 1.0 reproduces 2/β exactly,
# the relative slack 1e-12 only guards against rounding in that product.
_AT_THRESHOLD = 1e-12


def check_c13(quick: bool = True, rules: Rules | None = None,
              config: StabilityConfig | None = None) -> Result:
    r"""C13 [peer: Hardt, Recht & Singer, arXiv:1509.01240]: the uniform-stability bound of SGD.

    Statement checked (the verdict): for SGD with :math:`\eta \le 2/\beta` (per-example
    :math:`\beta`) on every data set (convex per-example losses), every seed and every
    replaced index, :math:`\delta_t \le 2\eta L\,\#\{\tau < t : i_\tau = i^*\}` at every t.
    ``holds`` if no run breaks it, ``violated`` with the first counterexample otherwise,
    ``inconclusive`` if :math:`i^*` was never drawn (the bound would be trivially 0 = 0).
    Evidence only (not in the verdict): :math:`\delta_T` of every rule, its ratio to the bound
    and to the bound's expectation :math:`2\eta L T/n`, and SGD beyond :math:`2/\beta`.

    Args:
        quick: the quick preset (:meth:`StabilityConfig.quick`) or the full one.
        config: explicit settings instead of a preset.
        rules: injected rule factories ``{name: factory}`` (see :mod:`ssam_theory.claims`).

    Returns:
        A :class:`Result`; the evidence holds ``counterexample`` when violated and ``reason``
        when inconclusive.
    """
    config = config or (StabilityConfig.quick() if quick else StabilityConfig.full())
    results = stability_experiment(config, rules)
    evidence = {"config": {k: (list(x) if isinstance(x, tuple) else x)
                           for k, x in config.__dict__.items()}, "datasets": {}}
    counter, runs, informative, parts, worst = None, 0, 0, [], 0.0
    for name, r in results.items():
        j = r.rules.index("sgd")
        within = r.lrs <= r.hardt_max_lr * (1 + _AT_THRESHOLD)
        ok = r.respects_bound()
        ratio = r.ratio()
        n_runs = int(ok[j][within].size)
        runs += n_runs
        informative += int((r.count[..., -1] > 0).sum()) * int(within.sum())
        fin = ratio[j][within]
        fin = fin[np.isfinite(fin)]
        worst_here = float(fin.max()) if fin.size else float("nan")
        if fin.size:
            worst = max(worst, worst_here)
        bad = np.argwhere(~ok[j] & within[:, None, None])
        if bad.size and counter is None:
            e, s, k = bad[0]
            limit = r.bound[j, e, s, k] * (1 + BOUND_RTOL) + BOUND_ATOL
            t = int(np.argmax(r.delta[j, e, s, k] > limit))
            counter = {"dataset": name, "lr": float(r.lrs[e]), "seed": r.seeds[s],
                       "pair": list(r.pairs[k]), "t": t,
                       "delta": _num(r.delta[j, e, s, k, t]),
                       "bound": _num(r.bound[j, e, s, k, t])}
        Ebound = r.expected_bound()
        mean_delta_T = r.mean_delta()[..., -1]  # (R, E)
        per_rule = {}
        for ri, rule in enumerate(r.rules):
            rows = []
            for e, lr in enumerate(r.lrs):
                rat = ratio[ri, e][np.isfinite(ratio[ri, e])]
                rows.append({
                    "lr": float(lr), "lr_over_hardt": float(lr / r.hardt_max_lr),
                    "mean_delta_T": _num(mean_delta_T[ri, e]),
                    "mean_bound_T": _num(r.bound[ri, e, ..., -1].mean()),
                    "expected_bound_T": _num(Ebound[ri, e]),
                    "mean_delta_over_expected_bound": _num(mean_delta_T[ri, e]
                                                           / Ebound[ri, e]),
                    "max_ratio": _num(rat.max()) if rat.size else None,
                    "mean_ratio": _num(rat.mean()) if rat.size else None,
                    "respects_fraction": float(ok[ri, e].mean()),
                    "diverged_fraction": float(r.diverged[ri, e].mean()),
                    "L_mean": float(r.L[ri, e].mean()),
                })
            per_rule[rule] = rows
        # with b = 1 every per-example gradient is a multiple of x_i, so the renormalized
        # step γ∇ℓ_i(w + e) equals ∇ℓ_i(w) in exact arithmetic: ssam/nssam ≡ sgd
        # (runs with η ≤ 2/β only: beyond it rounding differences grow with the iterates)
        same = {}
        for ri, rule in enumerate(r.rules):
            if rule in ("ssam", "nssam") and within.any():
                with np.errstate(invalid="ignore"):
                    diff = np.abs(r.delta[ri][within] - r.delta[j][within])
                same[rule] = _num(np.nanmax(np.where(np.isfinite(diff), diff, np.nan))
                                  if np.isfinite(diff).any() else np.nan)
        evidence["datasets"][name] = {
            **{k: r.dataset[k] for k in ("n", "d", "beta", "beta_example", "L")},
            "hardt_max_lr": r.hardt_max_lr,
            "L_used": ("max_i ||x_i|| (exact Lipschitz constant)" if r.dataset["L"] else
                       "max per-example gradient norm along both coupled trajectories"),
            "sgd_runs_within_hardt": n_runs,
            "sgd_respects_all_within": bool(ok[j][within].all()),
            "sgd_respects_beyond": {f"{lr / r.hardt_max_lr:.3g}": float(ok[j, e].mean())
                                    for e, lr in enumerate(r.lrs) if not within[e]},
            "sgd_max_ratio_within": _num(worst_here),
            "max_abs_delta_difference_from_sgd_within": same,
            "rules": per_rule,
        }
        parts.append(f"{name} (n={r.dataset['n']}, d={r.dataset['d']}, "
                     f"β_ex={r.beta_example:.3g}): max δ_T/bound {_fmt(worst_here)}")
    if counter is not None:
        verdict = "violated"
    elif informative == 0 or runs == 0:
        verdict = "inconclusive"
    else:
        verdict = "holds"
    evidence["counterexample"] = counter
    if verdict == "inconclusive":
        evidence["reason"] = "the replaced example was never drawn: every bound is 0 = 0"
    predicted = ("SGD with η ≤ 2/β (per-example β), shared indices on S, S′: "
                 "δ_t ≤ 2ηL·#{t : i_t = i*} at every t, on every seed")
    measured = (f"SGD η ≤ 2/β: {runs} coupled runs, "
                f"{'all respect the bound' if counter is None else 'bound broken'}; "
                + "; ".join(parts))
    if counter is not None:
        measured += (f"; counterexample {counter['dataset']} η={counter['lr']:.3g} "
                     f"t={counter['t']}: δ={counter['delta']} > {counter['bound']}")
    return _result(predicted, measured, verdict, evidence)


def _result(predicted, measured, verdict, evidence) -> Result:
    ev = dict(evidence)
    if verdict != "violated" and ev.get("counterexample") is None:
        ev.pop("counterexample", None)
    return Result(predicted, measured, verdict, ev)
