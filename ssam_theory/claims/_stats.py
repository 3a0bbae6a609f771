"""Paired statistics of the claims, one implementation each: Holm's correction, sign-test
median intervals, one-sided Wilcoxon signed-rank tests on paired escape steps."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["decide_holm", "holm", "median_ci", "paired_escapes", "paired_test", "paired_verdict"]


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control)."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    m = p.size
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def median_ci(x, level: float = 0.95) -> tuple[float, float, float]:
    """Median of ``x`` and its distribution-free interval (order statistics, sign test)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    k = int(stats.binom.ppf((1 - level) / 2, n, 0.5))  # P(B ≤ k) ≈ (1 − level)/2
    lo, hi = (x[k - 1], x[n - k]) if k >= 1 else (-np.inf, np.inf)
    return float(np.median(x)), float(lo), float(hi)


def paired_test(t_a, t_b, budget: int) -> dict:
    """Is rule a faster (fewer steps) than rule b over paired starts? Both one-sided p's.

    Times ``inf`` (no escape) count as ``budget + 1``; zero differences are dropped
    (Wilcoxon's convention); with fewer than 6 non-zero pairs no test has power: p = 1.
    """
    a = np.minimum(np.asarray(t_a, dtype=float), budget + 1)
    b = np.minimum(np.asarray(t_b, dtype=float), budget + 1)
    ratio = np.log(np.maximum(a, 1)) - np.log(np.maximum(b, 1))
    d = a - b
    nz = d[d != 0]
    if nz.size >= 6:
        # exact null distribution without ties (n ≤ 50), else the normal approximation with
        # tie correction (scipy's permutation fallback for ties is far slower, same answer)
        exact = np.unique(np.abs(nz)).size == nz.size and nz.size <= 50
        method = "exact" if exact else "approx"
        p_less = float(stats.wilcoxon(nz, alternative="less", method=method).pvalue)
        p_greater = float(stats.wilcoxon(nz, alternative="greater", method=method).pvalue)
    else:
        p_less = p_greater = 1.0
    med, lo, hi = median_ci(ratio)
    return dict(p_faster=p_less, p_slower=p_greater, ratio=float(np.exp(med)),
                ratio_ci=[float(np.exp(lo)), float(np.exp(hi))], pairs=int(a.size),
                nonzero=int(nz.size), faster_pairs=int((d < 0).sum()),
                slower_pairs=int((d > 0).sum()),
                median_a=float(np.median(a)), median_b=float(np.median(b)),
                escaped_a=float(np.mean(np.isfinite(t_a))),
                escaped_b=float(np.mean(np.isfinite(t_b))))


def decide_holm(tests: list[dict], alpha: float) -> None:
    """Holm over both directions of every :func:`paired_test` in ``tests`` (in place):
    adds ``p_faster_holm``, ``p_slower_holm`` and the flags ``faster``, ``slower`` (≤ alpha)."""
    ps = [t["p_faster"] for t in tests] + [t["p_slower"] for t in tests]
    adj = holm(ps) if ps else np.array([])
    n = len(tests)
    for i, t in enumerate(tests):
        t["p_faster_holm"], t["p_slower_holm"] = float(adj[i]), float(adj[n + i])
        t["faster"] = bool(adj[i] <= alpha)
        t["slower"] = bool(adj[n + i] <= alpha)


def paired_escapes(es, budget: int, setting: str, pairs) -> tuple[dict, dict]:
    """One setting's paired escape steps ``es``: ``({"escaped": fraction per rule, "steps":
    censored steps per rule (budget + 1 where it did not escape)}, {"a vs b": paired test})``."""
    tests = {}
    for a_, b_ in pairs:
        t = paired_test(es.steps[a_], es.steps[b_], budget)
        t.update(setting=setting, a=a_, b=b_)
        tests[f"{a_} vs {b_}"] = t
    return (dict(escaped={n: float(np.isfinite(x).mean()) for n, x in es.steps.items()},
                 steps={n: np.minimum(x, budget + 1).tolist() for n, x in es.steps.items()}),
            tests)


def paired_verdict(ev: dict, better: list, worse: list, counterexample, reason: str) -> str:
    """Violated if some paired test shows the renormalized rule significantly worse (the first
    one, through ``counterexample(test)``, is the counterexample); else holds if some test
    shows it better; else inconclusive with ``reason``."""
    if worse:
        ev["counterexample"] = counterexample(worse[0])
        return "violated"
    if better:
        return "holds"
    ev["reason"] = reason
    return "inconclusive"
