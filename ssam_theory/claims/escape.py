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

from .._shared import shared
from ..escape import (
    QuarticSaddle,
    attraction_diagram,
    escape_steps_grid,
    predicted_outcome,
    start_seeds,
)
from ..landscapes import Beale, NoisyQuadratic, Quadratic
from ..sweep import Outcome
from ._base import Result, Row, Rules, fmt
from ._stats import decide_holm, paired_escapes, paired_verdict

ALPHA = 0.05  # family-wise level of each claim's tests (Holm)
MARGIN = 0.5  # a cell differs when at least half of its starts changed outcome class


# ------------------------------------------------------------------------------ C11a

def saddle_cases():
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


@shared
def attraction(quick: bool = True, rules: Rules | None = None, config=None) -> dict:
    """C11a's measurements: phase diagrams, cell classes, prediction agreement (computed once
    per ``reproduce`` run and shared with notebook 05's figures)."""
    cfg = config or (AttractionConfig.quick() if quick else AttractionConfig.full())
    seeds = start_seeds(1100, cfg.seeds)
    out = {}
    for label, f, s, a, b, radius in saddle_cases():
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


# ------------------------------------------------------------------------------ C11b

HEADLINE = (("ssam", "usam"), ("nssam", "sam"))  # renormalized rule vs its base
VERSUS_SGD = (("ssam", "sgd"), ("nssam", "sgd"), ("usam", "sgd"), ("sam", "sgd"))


@dataclass(frozen=True)
class EscapeSpeedConfig:
    """C11b: starts per setting, step budget, noise (σ per example, minibatch size)."""

    starts: int
    budget: int
    sigma: float = 0.1
    batch_size: int = 4

    @classmethod
    def quick(cls):
        return cls(starts=20, budget=300)

    @classmethod
    def full(cls):
        return cls(starts=200, budget=4000)


def _speed_settings(cfg):
    """(label, landscape, saddle, escape radius, η, batch size, ((setting label, ρ), …)) of
    the settings where no rule is held, grouped by landscape (one sweep per rule and group).

    ηb = 0.1 and ρb ∈ {0.5, 0.05}: below 1/b USAM's saddle does not attract; at ρb = 0.05
    the starts (‖∇f‖ ≈ 0.1b) also lie outside SAM's trap ‖∇f‖ < ρb (C10), so the SAM-base
    pair is compared there too.
    """
    out = []
    for label, f, s, _, b, radius in saddle_cases():
        if label == "½(0.1x²−y²)":
            continue
        out.append((label, f, s, radius, 0.1 / b, None,
                    tuple((f"{label}, ρb={rb}", rb / b) for rb in (0.5, 0.05))))
    noisy = [("noisy ½(x²−y²)", NoisyQuadratic(np.diag([1.0, -1.0]), n=256, sigma=cfg.sigma,
                                               seed=11), np.zeros(2), 1.0),
             ("noisy quartic walls", QuarticSaddle(a=[1.0, 0.5], b=1.0, c=1.0, n=256,
                                                   sigma=cfg.sigma, seed=11),
              np.zeros(3), QuarticSaddle(a=[1.0, 0.5]).basin)]
    for label, f, s, radius in noisy:
        out.append((label, f, s, radius, 0.1, cfg.batch_size,
                    tuple((f"{label} σ={cfg.sigma} B={cfg.batch_size}, ρb={rb}", rb)
                          for rb in (0.5, 0.05))))
    return out


@shared
def escape_speed(quick: bool = True, rules: Rules | None = None, config=None) -> dict:
    """C11b's measurements: paired escape steps of all rules per setting and their tests.

    ``settings[label]["steps"]`` holds every start's escape step per rule (budget + 1 where
    it did not escape): notebook 05 plots them (the result is computed once per
    ``reproduce`` run and shared).
    """
    cfg = config or (EscapeSpeedConfig.quick() if quick else EscapeSpeedConfig.full())
    seeds = start_seeds(1101, cfg.starts)
    settings, headline, vs_sgd = {}, [], []
    for _, f, s, radius, lr, batch, grid in _speed_settings(cfg):
        runs = escape_steps_grid(f, s, lr, [rho for _, rho in grid], cfg.budget, seeds, rules,
                                 escape_radius=radius, batch_size=batch)
        for (label, rho), es in zip(grid, runs):
            runs_, tests = paired_escapes(es, cfg.budget, label, HEADLINE + VERSUS_SGD)
            for t in tests.values():
                (headline if (t["a"], t["b"]) in HEADLINE else vs_sgd).append(t)
            settings[label] = dict(
                lr=lr, rho=rho, batch_size=batch, tests=tests, escaped=runs_["escaped"],
                median_steps={n: float(np.median(x)) for n, x in runs_["steps"].items()},
                steps=runs_["steps"])
    decide_holm(headline, ALPHA)
    decide_holm(vs_sgd, ALPHA)
    return dict(settings=settings, starts=cfg.starts, budget=cfg.budget, alpha=ALPHA)


def check_c11b(quick: bool = True, rules: Rules | None = None) -> Result:
    r"""C11b: where the saddle does not attract, does the renormalized rule escape sooner?

    Settings: the saddles of C11a (:math:`\tfrac12(x^2 - y^2)`, Beale, quartic walls), and
    with gradient noise :class:`ssam_theory.NoisyQuadratic` diag(1, −1) and the noisy
    quartic-walls saddle (σ per example, minibatch B, the same minibatches for every rule);
    :math:`\eta b = 0.1`, :math:`\rho b \in \{0.5, 0.05\}` (below 1/b: USAM's saddle does
    not attract). The same starts (``SeedSequence``) for every rule; escape step = the
    first step outside the ball of an escaped run (:func:`ssam_theory.sweep`).

    Tests: per setting, SSAM vs USAM and NSSAM vs SAM (the renormalized rule against its
    base), one-sided Wilcoxon signed-rank in both directions, Holm over all of them (and,
    separately, each rule vs SGD, reported). Verdict: violated if the renormalized rule is
    significantly slower in some setting (counterexample), holds if it is significantly
    faster in some setting and slower in none, inconclusive otherwise.
    """
    ev = escape_speed(quick, rules)
    # the per-start steps are the figure's data; the evidence keeps the tests and medians
    ev = dict(ev, settings={k: {n: x for n, x in st_.items() if n != "steps"}
                            for k, st_ in ev["settings"].items()})
    rows, faster, slower = [], [], []
    for label, st_ in ev["settings"].items():
        for pair in ("ssam vs usam", "nssam vs sam"):
            t = st_["tests"][pair]
            if t["faster"]:
                faster.append(t)
            if t["slower"]:
                slower.append(t)
            res = "faster" if t["faster"] else "slower" if t["slower"] else "no difference"
            rows.append((label, pair, t, res))
    sgd_txt = []
    for label, st_ in ev["settings"].items():
        for pair in ("ssam vs sgd", "nssam vs sgd"):
            t = st_["tests"][pair]
            if t["faster"] or t["slower"]:
                sgd_txt.append(f"{pair} {'faster' if t['faster'] else 'slower'} "
                               f"({label}, ×{t['ratio']:.2f})")
    ev["versus_sgd"] = sgd_txt
    verdict = paired_verdict(
        ev, faster, slower,
        lambda t: dict(setting=t["setting"], pair=f"{t['a']} vs {t['b']}",
                       median_steps=[t["median_a"], t["median_b"]], ratio=t["ratio"],
                       p_holm=t["p_slower_holm"]),
        "no paired comparison differs significantly after Holm's correction")
    # aggregate rows: one per setting (both pairs in one row)
    out_rows = []
    for label in ev["settings"]:
        parts, flags = [], []
        for lab, pair, t, res in rows:
            if lab != label:
                continue
            parts.append(f"{pair}: {t['median_a']:.0f} vs {t['median_b']:.0f} steps, ×"
                         f"{t['ratio']:.2f} [{t['ratio_ci'][0]:.2f}, {t['ratio_ci'][1]:.2f}]"
                         f", p_Holm {min(t['p_faster_holm'], t['p_slower_holm']):.1e} ({res})")
            flags.append(None if res == "no difference" else res == "faster")
        known = [x for x in flags if x is not None]
        out_rows.append(Row(label, "renormalized rule escapes sooner",
                            "; ".join(parts), None if not known else all(known)))
    h = ev["settings"][next(iter(ev["settings"]))]["tests"]["ssam vs usam"]
    predicted = ("SSAM escapes sooner than USAM and NSSAM sooner than SAM from the same "
                 "starts (one-sided Wilcoxon, Holm α=0.05), ρb < 1")
    measured = (f"renormalized rule significantly faster in {len(faster)}, slower in "
                f"{len(slower)} of {len(rows)} comparisons ({ev['starts']} paired starts); "
                f"e.g. {next(iter(ev['settings']))}: SSAM {h['median_a']:.0f} vs USAM "
                f"{h['median_b']:.0f} steps; vs SGD: " + (", ".join(sgd_txt) or "no difference"))
    key = f"faster in {len(faster)}, slower in {len(slower)} of {len(rows)} paired tests"
    return Result(predicted, measured, verdict, ev, key=key, rows=out_rows)


# ------------------------------------------------------------------------------ C11c

@dataclass(frozen=True)
class NoiseEscapeConfig:
    """C11c: quartic-walls saddle, ηb = 0.1; ρb and noise σ grids; starts; budget."""

    starts: int
    budget: int
    rho_b: tuple
    sigma: tuple
    batch_size: int = 4

    @classmethod
    def quick(cls):
        return cls(starts=16, budget=500, rho_b=(0.5, 1.5, 3.0), sigma=(0.0, 0.1, 0.5))

    @classmethod
    def full(cls):
        return cls(starts=150, budget=5000, rho_b=(0.25, 0.5, 0.9, 1.1, 1.5, 3.0),
                   sigma=(0.0, 0.03, 0.1, 0.3, 1.0))


@shared
def noise_escape(quick: bool = True, rules: Rules | None = None, config=None) -> dict:
    """C11c's measurements: escape steps of all rules per (ρ, σ) cell on quartic walls (one
    sweep per rule and σ over the ρ grid; computed once per ``reproduce`` run and shared with
    notebook 05's figure)."""
    cfg = config or (NoiseEscapeConfig.quick() if quick else NoiseEscapeConfig.full())
    seeds = start_seeds(1102, cfg.starts)
    b = 1.0
    cells, tests = [], []
    for sigma in cfg.sigma:
        f = (QuarticSaddle(a=[1.0], b=b, c=1.0) if sigma == 0 else
             QuarticSaddle(a=[1.0], b=b, c=1.0, n=256, sigma=sigma, seed=12))
        runs = escape_steps_grid(f, f.saddle, 0.1 / b, [rb / b for rb in cfg.rho_b],
                                 cfg.budget, seeds, rules, escape_radius=f.basin,
                                 batch_size=None if sigma == 0 else cfg.batch_size)
        for rb, es in zip(cfg.rho_b, runs):
            runs_, cell_tests = paired_escapes(es, cfg.budget, f"ρb={rb}, σ={sigma}", HEADLINE)
            cell = dict(rho_b=rb, sigma=sigma, **runs_, tests=cell_tests)
            tests.extend(cell_tests.values())
            sam_family = [cell["escaped"][n] for n in ("sam", "usam", "ssam", "nssam")]
            cell["nothing_helps"] = bool(max(sam_family) < 0.5)
            cells.append(cell)
    decide_holm(tests, ALPHA)
    return dict(cells=cells, starts=cfg.starts, budget=cfg.budget, lr=0.1 / b, b=b,
                batch_size=cfg.batch_size)


def check_c11c(quick: bool = True, rules: Rules | None = None) -> Result:
    r"""C11c: noise at the quartic-walls saddle, as ρ crosses 1/b: where renormalization helps.

    :math:`f = \tfrac12 x^2 - \tfrac12 y^2 + \tfrac14 y^4` (b = c = 1), escape = reaching
    the basin :math:`\|w\| > \sqrt{b/3c}` downhill; :math:`\eta b = 0.1`; per-example noise σ
    (minibatch 4, the same minibatches for every rule; σ = 0 deterministic);
    :math:`\rho b` on both sides of 1 (above it USAM's and SSAM's saddle attracts: only
    noise can move them). Per cell (ρ, σ): escape steps of all five rules from the same
    starts; SSAM vs USAM and NSSAM vs SAM paired (Wilcoxon, both directions, Holm over all
    cells). Renormalization *helps* in a cell where the renormalized rule is significantly
    faster, *hurts* where significantly slower; *nothing helps* where no SAM-family rule
    escapes from half of the starts within the budget. Verdict: violated if it hurts in some
    cell (counterexample), holds if it helps in some cell and hurts in none, inconclusive
    otherwise.
    """
    ev = noise_escape(quick, rules)
    helps, hurts, rows = [], [], []
    for c in ev["cells"]:
        flags, parts = [], []
        for pair, t in c["tests"].items():
            if t["faster"]:
                helps.append(t)
            if t["slower"]:
                hurts.append(t)
            res = "helps" if t["faster"] else "hurts" if t["slower"] else "="
            flags.append(None if res == "=" else res == "helps")
            parts.append(f"{pair} {t['median_a']:.0f}/{t['median_b']:.0f} ({res})")
        esc = ", ".join(f"{n} {c['escaped'][n]:.0%}" for n in c["escaped"])
        known = [x for x in flags if x is not None]
        rows.append(Row(f"ρb={c['rho_b']}, σ={c['sigma']}",
                        "renormalized rule escapes sooner",
                        f"escaped {esc}; median steps " + "; ".join(parts)
                        + ("; nothing helps" if c["nothing_helps"] else ""),
                        None if not known else all(known)))
    nothing = [f"ρb={c['rho_b']}, σ={c['sigma']}" for c in ev["cells"] if c["nothing_helps"]]
    ev["nothing_helps"] = nothing
    verdict = paired_verdict(
        ev, helps, hurts,
        lambda t: dict(cell=t["setting"], pair=f"{t['a']} vs {t['b']}",
                       median_steps=[t["median_a"], t["median_b"]], p_holm=t["p_slower_holm"]),
        "no cell separates a renormalized rule from its base (Holm, α=0.05)")
    helped = sorted({t["setting"] for t in helps})
    predicted = ("renormalization speeds escape where the base rule escapes slowly (ρb < 1); "
                 "for ρb > 1 the saddle attracts USAM and SSAM alike: only noise frees them")
    measured = (f"helps in {len(helps)}, hurts in {len(hurts)} of "
                f"{2 * len(ev['cells'])} paired comparisons (helps at "
                f"{', '.join(helped) or 'none'}); nothing helps at "
                f"{', '.join(nothing) or 'no cell'}")
    key = f"helps {len(helps)}, hurts {len(hurts)}, nothing helps in {len(nothing)} cells"
    return Result(predicted, measured, verdict, ev, key=key, rows=rows)
