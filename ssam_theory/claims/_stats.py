"""Paired statistics of the claims, one implementation each: Holm's correction, sign-test
median intervals, one-sided Wilcoxon signed-rank tests on paired escape steps."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["holm", "median_ci", "paired_test"]


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


