r"""Claims C11a–c: does SSAM mitigate getting stuck at saddles? Attraction, speed, noise.

The paper says SSAM "mitigates getting stuck at saddle points". Three testable readings,
each with its own verdict, all measured with :mod:`ssam_theory.escape` (outcomes of
:func:`ssam_theory.sweep`: *escaped* = left the ball downhill, nothing blew up; a blow-up
or an uphill exit is *diverged*, never an escape):

* C11a (attraction): where does the saddle hold SSAM compared with USAM, its base rule?
* C11b (escape speed): where the saddle does not attract, does SSAM leave sooner?
* C11c (noise): with gradient noise, as :math:`\rho` crosses :math:`1/b`, where does the
  renormalization help and where does nothing help?

Statistics: paired over the same random starts (and minibatches); one-sided Wilcoxon
signed-rank tests (:func:`scipy.stats.wilcoxon`), Holm's correction over every test of a
claim; effect size: the median ratio of escape steps with a distribution-free 95% interval
(sign-test inversion). A start that did not escape within the budget counts as escaping at
budget + 1 (a censored time; ranks keep it slowest), and pairs where both did not escape tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..escape import (
    QuarticSaddle,
    attraction_diagram,
    predicted_outcome,
    start_seeds,
)
from ..landscapes import Beale, Quadratic
from ..sweep import Outcome
from ._base import Result, Row, Rules, fmt

ALPHA = 0.05  # family-wise level of each claim's tests (Holm)
MARGIN = 0.5  # a cell differs when at least half of its starts changed outcome class


# ------------------------------------------------------------------------------ statistics

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
        p_less = float(stats.wilcoxon(nz, alternative="less").pvalue)
        p_greater = float(stats.wilcoxon(nz, alternative="greater").pvalue)
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


def _decide(tests: list[dict], key: str = "headline"):
    """Holm over both directions of every test in ``tests``; mark significant ones."""
    ps = [t["p_faster"] for t in tests] + [t["p_slower"] for t in tests]
    adj = holm(ps) if ps else np.array([])
    n = len(tests)
    for i, t in enumerate(tests):
        t["p_faster_holm"], t["p_slower_holm"] = float(adj[i]), float(adj[n + i])
        t["faster"] = bool(adj[i] <= ALPHA)
        t["slower"] = bool(adj[n + i] <= ALPHA)


# ------------------------------------------------------------------------------ C11a

def _saddle_cases():
    """(label, landscape, saddle, a, b, escape radius) of C11a and C11b."""
    quartic = QuarticSaddle(a=[1.0, 0.5], b=1.0, c=1.0)
    beale = Beale()
    lam = np.linalg.eigvalsh(beale.hessian(beale.saddle))
    return [
        ("½(x²−y²)", Quadratic(np.diag([1.0, -1.0])), np.zeros(2), 1.0, 1.0, 1.0),
        ("½(0.1x²−y²)", Quadratic(np.diag([0.1, -1.0])), np.zeros(2), 0.1, 1.0, 1.0),
        ("Beale", beale, beale.saddle.copy(), float(lam[-1]), float(-lam[0]), 1.0),
        ("quartic walls", quartic, quartic.saddle, 1.0, 1.0, quartic.basin),
    ]


@dataclass(frozen=True)
class AttractionConfig:
    """Grid of C11a: ηb from 0.05 to 4 and ρb from 0.1 to 10 (log-spaced), per landscape."""

    n_lr: int
    n_rho: int
    seeds: int
    steps: int

    @classmethod
    def quick(cls):
        return cls(n_lr=10, n_rho=8, seeds=3, steps=500)

    @classmethod
    def full(cls):
        return cls(n_lr=28, n_rho=24, seeds=12, steps=3000)


def _boundary_cells(name, L, R, a, b, rel=0.1):
    """Predicted outcome codes, and the cells whose prediction changes within ±10% in η or
    ρ (excluded from the agreement: a finite budget cannot resolve them)."""
    base = predicted_outcome(name, L, R, a, b)
    edge = np.zeros(base.shape, dtype=bool)
    for fl in (1 - rel, 1 + rel):
        for fr in (1 - rel, 1 + rel):
            edge |= predicted_outcome(name, L * fl, R * fr, a, b) != base
    return base, edge


def attraction(quick: bool = True, rules: Rules | None = None, config=None) -> dict:
    """C11a's measurements: phase diagrams, cell classes, prediction agreement."""
    cfg = config or (AttractionConfig.quick() if quick else AttractionConfig.full())
    seeds = start_seeds(1100, cfg.seeds)
    out = {}
    for label, f, s, a, b, radius in _saddle_cases():
        lrs = np.geomspace(0.05, 4.0, cfg.n_lr) / b
        rhos = np.geomspace(0.1, 10.0, cfg.n_rho) / b
        d = attraction_diagram(f, s, lrs, rhos, cfg.steps, seeds, rules,
                               escape_radius=radius)
        fr = d.fractions

        def stuck(n, fr=fr):
            return fr[n]["trapped"] + fr[n]["bounded"] + fr[n]["converged"]

        esc_gain = fr["ssam"]["escaped"] - fr["usam"]["escaped"]
        stuck_gain = stuck("usam") - stuck("ssam")
        frees = (esc_gain >= MARGIN) & (stuck_gain >= MARGIN)  # SSAM leaves, USAM held
        holds = (-esc_gain >= MARGIN) & (-stuck_gain >= MARGIN)  # SSAM held, USAM leaves
        L, R = np.meshgrid(lrs, rhos, indexing="ij")
        agree = {}
        for name in ("usam", "ssam"):
            pred, edge = _boundary_cells(name, L, R, a, b)
            meas = np.select([stuck(name) >= 0.5, fr[name]["escaped"] >= 0.5,
                              fr[name]["diverged"] >= 0.5],
                             [Outcome.TRAPPED, Outcome.ESCAPED, Outcome.DIVERGED], -1)
            ok = (pred == meas)[~edge]
            held_ok = ((pred == Outcome.TRAPPED) == (meas == Outcome.TRAPPED))[~edge]
            agree[name] = dict(agreement=float(ok.mean()) if ok.size else float("nan"),
                               held_agreement=float(held_ok.mean()) if ok.size else 0.0,
                               cells=int(ok.size),
                               predicted_attracted=int((pred == Outcome.TRAPPED).sum()),
                               measured_attracted=int((meas == Outcome.TRAPPED).sum()),
                               predicted_escaped=int((pred == Outcome.ESCAPED).sum()),
                               measured_escaped=int((meas == Outcome.ESCAPED).sum()))
        n_esc = stuck("nssam") - stuck("sam")
        out[label] = dict(
            a=a, b=b, lr=lrs, rho=rhos, steps=cfg.steps, seeds=int(seeds.size),
            fractions={n: {k: x.tolist() for k, x in v.items()} for n, v in fr.items()},
            frees=int(frees.sum()), holds=int(holds.sum()), cells=int(frees.size),
            frees_rho_b=_span(R[frees] * b), holds_rho_b=_span(R[holds] * b),
            stable_but_stuck=int(((stuck("ssam") - stuck("usam") >= MARGIN)
                                  & (fr["usam"]["diverged"] >= MARGIN)).sum()),
            attracted_cells={n: int((stuck(n) >= 0.5).sum()) for n in fr},
            nssam_vs_sam=dict(less_stuck=int((n_esc <= -MARGIN).sum()),
                              more_stuck=int((n_esc >= MARGIN).sum())),
            prediction=agree,
            first_holds=(None if not holds.any() else
                         dict(lr=float(L[holds][0]), rho=float(R[holds][0]))))
    return out


def _span(x):
    return [float(np.min(x)), float(np.max(x))] if np.size(x) else None


def check_c11a(quick: bool = True, rules: Rules | None = None) -> Result:
    r"""C11a: the attraction phase diagrams of all five rules, SSAM's predicted from USAM's.

    Landscapes: :math:`\tfrac12(x^2 - y^2)`, :math:`\tfrac12(0.5x^2 - 2y^2)`, Beale's function
    (saddle (0, 1), curvatures ±27.75) and the quartic-walls saddle
    :math:`\tfrac12(x_1^2 + 0.5x_2^2) - \tfrac12 y^2 + \tfrac14 y^4` (escape = reaching its
    basin, :math:`R = \sqrt{b/3c}`); grid :math:`\eta b \in [0.05, 3]`,
    :math:`\rho b \in [0.1, 10]`; starts :math:`s + 0.1R z`, shared by all rules.

    Prediction (:func:`ssam_theory.escape.predicted_outcome`,
    :data:`ssam_theory.theory.ssam_saddle_multiplier`,
    :data:`ssam_theory.theory.ssam_escape_x_multiplier`), from the local curvatures a, b at
    the saddle: :math:`\gamma > 0` keeps USAM's direction, so SSAM keeps USAM's direction
    condition :math:`\rho b > 1` with GD's step lengths: attracted iff :math:`\rho b > 1`,
    :math:`\eta b < 2`, :math:`\eta a < 2`; elsewhere it leaves along y with
    :math:`\gamma = 1/|\rho b - 1|`, which escapes iff x stays stable,
    :math:`|1 - \eta a(1 + \rho a)/|\rho b - 1|| < 1`, else diverges. Each prediction row
    passes when the predicted attraction set (held or not) is the measured majority on
    ≥ 90% of the cells away from a predicted boundary (±10% in η or ρ); the agreement of
    the three-way outcome (held / escaped / diverged) is reported beside it (the quadratic
    model's escape-or-diverge split is exact on quadratics only: quartic walls and Beale
    tame a growing x-oscillation).

    Verdict rule, per landscape, cell by cell (a cell counts when at least half of its starts
    changed class): SSAM *frees* a cell if it escapes where USAM stays in the ball, and
    *holds* it if it stays where USAM escapes; a cell where SSAM stays and USAM blows up is a
    stability trade, neither. "SSAM mitigates trapping" holds on a landscape with freed cells
    and none held, is violated on one with a held cell; overall: violated if violated on any
    landscape (counterexample: the first held cell), holds if it holds somewhere,
    inconclusive if SSAM and USAM never differ in this way.
    """
    ev = attraction(quick, rules)
    rows, per = [], {}
    for label, e in ev.items():
        if e["holds"]:
            per[label] = "violated"
        elif e["frees"]:
            per[label] = "holds"
        else:
            per[label] = "none"
        fr_txt = "" if not e["frees"] else f" at ρb∈[{fmt(e['frees_rho_b'][0], 3)}, " \
                                           f"{fmt(e['frees_rho_b'][1], 3)}]"
        ho_txt = "" if not e["holds"] else f" at ρb∈[{fmt(e['holds_rho_b'][0], 3)}, " \
                                           f"{fmt(e['holds_rho_b'][1], 3)}]"
        rows.append(Row(f"{label}: SSAM vs USAM",
                        "fewer cells held (mitigates)",
                        f"frees {e['frees']}{fr_txt}, holds {e['holds']}{ho_txt} of "
                        f"{e['cells']}; stable-but-stuck {e['stable_but_stuck']}",
                        None if per[label] == "none" else per[label] == "holds"))
        for name in ("usam", "ssam"):
            p = e["prediction"][name]
            rows.append(Row(f"{label}: {name.upper()} outcomes",
                            f"held {p['predicted_attracted']}, escaped "
                            f"{p['predicted_escaped']} cells",
                            f"held {p['measured_attracted']}, escaped "
                            f"{p['measured_escaped']}; off-boundary ({p['cells']} cells): "
                            f"held agrees {p['held_agreement']:.0%}, outcome "
                            f"{p['agreement']:.0%}",
                            bool(p["held_agreement"] >= 0.9)))
    evidence = dict(landscapes=ev, per_landscape=per)
    worst = [k for k, x in per.items() if x == "violated"]
    good = [k for k, x in per.items() if x == "holds"]
    if worst:
        verdict = "violated"
        e = ev[worst[0]]
        evidence["counterexample"] = dict(landscape=worst[0], **e["first_holds"],
                                          note="SSAM stays in the ball where USAM escapes")
    elif good:
        verdict = "holds"
    else:
        verdict = "inconclusive"
        evidence["reason"] = ("SSAM and USAM never differ between escaping and staying in "
                              "any cell (premise absent)")
    frees = sum(e["frees"] for e in ev.values())
    held = sum(e["holds"] for e in ev.values())
    predicted = ("γ > 0 keeps USAM's direction: SSAM attracted iff ρb > 1, ηb < 2, ηa < 2 "
                 "(USAM: ρb > 1, ηb(ρb−1) < 2, η(a+ρa²) < 2): SSAM leaves where "
                 "1 < ρb < 2 and 2 < ηb < 2/(ρb−1), is held where ρb > 2 and USAM overshoots")
    measured = "; ".join(f"{k}: frees {e['frees']}, holds {e['holds']} cells ({per[k]})"
                         for k, e in ev.items())
    key = f"SSAM frees {frees} cells, holds {held} ({len(ev)} landscapes)"
    return Result(predicted, measured, verdict, evidence, key=key, rows=rows)
