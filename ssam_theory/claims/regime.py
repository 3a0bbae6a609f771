r"""Claims on the learning-rate regime of linear models: C14a (stability), C14b (risk) and
C18 (one example per step).

The measurements come from :mod:`ssam_theory.regime` and :mod:`ssam_theory.single_example`;
the verdicts, with their statistics (paired one-sided tests from ``scipy.stats``, Holm's
correction, confidence intervals), are decided here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import stats

from .. import _validate as v
from ..data import TIGHT
from ..regime import RegimeConfig, departure_factor, regime_experiment
from ..single_example import single_example_gap
from ._base import Result, Row, Rules
from ._stats import holm

ALPHA = 0.05  # family-wise error rate of every Holm-corrected family below
_CACHE: dict = {}


def experiment(config: RegimeConfig) -> dict:
    """The runs behind C14a and C14b for ``config`` with the package's own rules
    (:func:`ssam_theory.regime.regime_experiment`: computed once per process, and once per
    ``reproduce`` run across processes)."""
    return _runs(config, None)


def _runs(config: RegimeConfig, rules: Rules | None):
    """The experiment of C14a and C14b, run once per config for the package's own rules."""
    if rules is not None:
        return regime_experiment(config, rules)
    if config not in _CACHE:
        _CACHE.clear()
        _CACHE[config] = regime_experiment(config)
    return _CACHE[config]


def _wilcoxon_less(d) -> float:
    """One-sided Wilcoxon signed-rank p-value for median(d) < 0 (zeros dropped)."""
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    exact = d.size <= 25 and np.unique(np.abs(d)).size == d.size
    return float(stats.wilcoxon(d, alternative="less",
                                method="exact" if exact else "approx").pvalue)


def _t_ci(d):
    """Mean of d and its 95% t confidence interval."""
    d = np.asarray(d, dtype=float)
    m = float(d.mean())
    # a diverged run enters as ±1e300: no finite interval then
    if d.size < 2 or not np.all(np.abs(d) < 1e150):
        return m, (m, m) if d.size < 2 else (np.nan, np.nan)
    h = float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
    return m, (m - h, m + h)


def _u(x, unit) -> str:
    return "∞" if not np.isfinite(x) else f"{x / unit:.3g}"


def _config(quick, config):
    return config or (RegimeConfig.quick() if quick else RegimeConfig.full())


# ------------------------------------------------------------------------------------ C14a

def check_c14a(quick: bool = True, rules: Rules | None = None,
               config: RegimeConfig | None = None) -> Result:
    r"""C14a [paper, central claim; stability reading]: SSAM's stable regime extends USAM's.

    On each data set (:func:`ssam_theory.regime.regime_runs`: coupled runs on :math:`S`,
    :math:`S'`, minibatches of :math:`b`, :math:`\beta` the largest minibatch smoothness
    used, :math:`\rho\beta` fixed, many seeds):

    1. **Bound below the condition** (must hold): SGD for :math:`\eta \le 2/\beta` and USAM
       for :math:`\eta \le 2/(\beta(1+\rho\beta))` keep
       :math:`\delta_t \le 2\eta L(1+\rho\beta)\sum m_\tau/b` at every t on every seed
       (``theory.usam_stability_bound``, derived there; :math:`\rho = 0` for SGD).
    2. **Departure**: a seed has departed at :math:`\eta` when its run is unstable (least
       squares: diverged, growth exponent > 0; logistic: :math:`\eta\kappa \ge 2` along the
       run) or, where SGD is stable, :math:`\delta_T(\text{rule})/\delta_T(\text{SGD})` lies
       outside :math:`[1/c, c]`, :math:`c = 1 + \rho\beta`
       (:func:`~ssam_theory.regime.departure_factor`). A rule's departure point is the first
       grid :math:`\eta` where most seeds have departed.
    3. **Clearly above**: at USAM's departure point most SSAM seeds have not departed, and the
       paired discordant seeds favour SSAM (exact one-sided sign test, Holm over the data
       sets where USAM departs, level 0.05).

    Verdict: ``violated`` if a bound of 1 is broken, or on a data set USAM departs and SSAM is
    not clearly above, or SSAM departs where USAM does not; ``holds`` if SSAM is clearly above
    on every data set where USAM departs (at least one); ``inconclusive`` if neither departs
    anywhere in the :math:`\eta` range (premise absent).

    Args:
        quick: :meth:`RegimeConfig.quick` or :meth:`RegimeConfig.full`.
        rules: injected rule factories ``{name: factory}``.
        config: explicit settings instead of a preset.

    Returns:
        A :class:`Result` with one row per data set.
    """
    config = _config(quick, config)
    runs = _runs(config, rules)
    c = departure_factor(config.rho_beta)
    ev = {"c": c, "rho_beta": config.rho_beta, "batch_size": config.batch_size,
          "steps": config.steps, "seeds": config.seeds, "datasets": {}}
    bound_fail, tests = None, {}
    for name, r in runs.items():
        dep = r.departed(c)
        edge, unstable = r.edge(dep), r.edge(r.unstable())
        iu, iss = r.rules.index("usam"), r.rules.index("ssam")
        ok = r.respects_bound()
        for rule in ("sgd", "usam"):
            below = r.lrs <= r.condition(rule) * (1 + 1e-12)  # grid points at the condition
            bad = np.argwhere(~ok[r.rules.index(rule)][below])
            if bad.size and bound_fail is None:
                e, s = bad[0]
                bound_fail = {"dataset": name, "rule": rule, "lr_over_unit":
                              float(r.lrs[below][e] / r.unit), "seed": int(s)}
        info = {k: r.dataset[k] for k in ("n", "d", "beta", "beta_example", "L")}
        info.update(beta_batch=r.beta, batch_size=r.batch_size, unit=r.unit, rho=r.rho,
                    usam_condition_over_unit=r.usam_condition / r.unit,
                    lr_over_unit=(r.lrs / r.unit).tolist(), pair=list(r.pair),
                    informative_seeds=int(r.informative().sum()),
                    bound_respected={x: bool(ok[r.rules.index(x)][
                        r.lrs <= r.condition(x) * (1 + 1e-12)].all()) for x in ("sgd", "usam")},
                    departure_over_unit={x: [float(y / r.unit) for y in edge[i]]
                                         for i, x in enumerate(r.rules)},
                    unstable_over_unit={x: [float(y / r.unit) for y in unstable[i]]
                                        for i, x in enumerate(r.rules)},
                    median_ratio={x: np.nanmedian(np.where(np.isnan(r.ratio()[i]), np.inf,
                                                           r.ratio()[i]), axis=-1).tolist()
                                  for i, x in enumerate(r.rules)})
        u_dep, s_dep = np.isfinite(edge[iu, 1]), np.isfinite(edge[iss, 1])
        if u_dep:
            e = int(np.flatnonzero(r.lrs == edge[iu, 1])[0])
            n10 = int((dep[iu, e] & ~dep[iss, e]).sum())
            n01 = int((dep[iss, e] & ~dep[iu, e]).sum())
            p = (float(stats.binomtest(n10, n10 + n01, 0.5, alternative="greater").pvalue)
                 if n10 + n01 else 1.0)
            tests[name] = p
            info.update(sign_test={"usam_only": n10, "ssam_only": n01, "p": p},
                        ssam_inside_at_usam_departure=bool(dep[iss, e].mean() <= 0.5))
        info["status"] = ("no departure" if not (u_dep or s_dep) else
                          "ssam departs, usam not" if not u_dep else None)
        ev["datasets"][name] = info
    adj = dict(zip(tests, holm(list(tests.values())))) if tests else {}
    rows, bad_sets, good_sets = [], [], []
    for name, info in ev["datasets"].items():
        if name in adj:
            clear = info["ssam_inside_at_usam_departure"] and adj[name] < ALPHA
            info["sign_test"]["p_holm"] = float(adj[name])
            info["status"] = "ssam clearly above" if clear else "ssam not clearly above"
        (good_sets if info["status"] == "ssam clearly above" else
         bad_sets if info["status"] != "no departure" else []).append(name)
        du, ds_ = info["departure_over_unit"]["usam"], info["departure_over_unit"]["ssam"]
        vu, vs = info["unstable_over_unit"]["usam"], info["unstable_over_unit"]["ssam"]
        rows.append(Row(
            f"{name} (n={info['n']}, d={info['d']}, b={info['batch_size']}, "
            f"β={info['beta_batch']:.3g})",
            f"USAM bound holds ≤ {info['usam_condition_over_unit']:.3g}; SSAM departs above "
            f"USAM (η/(2/β))",
            f"departure USAM {du[0]:.3g}–{du[1]:.3g}, SSAM {ds_[0]:.3g}–{ds_[1]:.3g}; "
            f"unstable USAM {vu[0]:.3g}–{vu[1]:.3g}, SSAM {vs[0]:.3g}–{vs[1]:.3g}; "
            f"{info['status']}",
            None if info["status"] == "no departure" else info["status"] == "ssam clearly above"))
    if bound_fail is not None:
        verdict = "violated"
        ev["counterexample"] = {"part": "bound below the condition", **bound_fail}
    elif bad_sets:
        verdict = "violated"
        ev["counterexample"] = {"part": "departure", "dataset": bad_sets[0],
                                **ev["datasets"][bad_sets[0]]["departure_over_unit"]}
    elif good_sets:
        verdict = "holds"
    else:
        verdict = "inconclusive"
        ev["reason"] = "no rule departs from SGD's stability in the η range (premise absent)"
    t = ev["datasets"].get(TIGHT)
    key = (f"tight set: USAM departs {t['departure_over_unit']['usam'][1]:.3g}, SSAM "
           f"{t['departure_over_unit']['ssam'][1]:.3g} (×2/β; cond. "
           f"{t['usam_condition_over_unit']:.3g})" if t else rows[0].measured[:80])
    predicted = (f"δ_t ≤ 2ηL(1+ρβ)Σm/b below 2/(β(1+ρβ)) (USAM) and 2/β (SGD); SSAM's departure "
                 f"from δ_T(SGD) (band ×{c:.3g}) or stability lies clearly above USAM's")
    measured = "; ".join(f"{row.setting.split(' ')[0]}: {row.measured}" for row in rows)
    return Result(predicted, measured, verdict, ev, key=key[:80], rows=rows)


# ------------------------------------------------------------------------------------ C14b

def check_c14b(quick: bool = True, rules: Rules | None = None,
               config: RegimeConfig | None = None, budget_factor: int | None = None) -> Result:
    r"""C14b [paper, central claim; risk reading]: SAM beats SGD in test risk only in a
    limited learning-rate range; SSAM's range reaches higher.

    The runs of C14a on the four data sets (not the tight one). Every cell (data set, rule,
    :math:`\eta`): the paired differences over seeds of the test loss at :math:`w_T` (rule
    minus SGD; a diverged run counts as larger than any finite loss), a one-sided Wilcoxon
    signed-rank test (rule < SGD), the mean difference with its 95% t interval, Holm's
    correction over all cells. The test risk is reported split into optimization error
    :math:`f_S(w_T) - \min f_S` and generalization gap, and so is USAM's and SSAM's lead over
    SGD where USAM's is largest: whether a rule wins by optimizing faster within the budget
    :math:`T` or by generalizing better. Since a fixed budget favours the rule that optimizes
    faster, the data sets where USAM or SSAM wins are run again (SGD, USAM and SSAM; half the
    seeds, at least 8) with ``budget_factor`` times the steps (their own Holm family) and
    checked the same way.

    Verdict: ``inconclusive`` if neither USAM nor SSAM beats SGD in any cell (premise absent);
    else ``holds`` if on every data set where one of them wins the highest winning
    :math:`\eta` of SSAM exceeds USAM's (0 when USAM never wins), at both budgets;
    ``violated`` otherwise.

    Args:
        quick, rules, config: as in :func:`check_c14a`.
        budget_factor: the longer budget, in multiples of ``config.steps``; default 8 with the
            full preset, none (1) in quick mode.

    Returns:
        A :class:`Result` with one row per data set and budget.
    """
    config = _config(quick, config)
    factor = (1 if quick else 8) if budget_factor is None else \
        v.as_count("budget_factor", budget_factor, low=1)
    runs = {k: r for k, r in _runs(config, rules).items() if k != TIGHT}
    ev = {"alpha": ALPHA, "seeds": config.seeds, "steps": config.steps}
    ev["datasets"], rows, cells, any_win = _risk_table(runs)
    decisive = [n for n, i in ev["datasets"].items() if i["usam_or_ssam_wins"]]
    if factor > 1 and decisive:
        long_cfg = replace(config, datasets=tuple(decisive), steps=factor * config.steps,
                           rules=("sgd", "usam", "ssam"), seeds=max(8, config.seeds // 2))
        ev["long"] = {"steps": long_cfg.steps, "budget_factor": factor}
        ev["long"]["datasets"], long_rows, _, _ = _risk_table(
            regime_experiment(long_cfg, rules))
        rows += long_rows
    bad = [(n, ev["datasets"][n]) for n in ev["datasets"] if ev["datasets"][n]["ok"] is False]
    bad += [(n, ev["long"]["datasets"][n]) for n in ev.get("long", {}).get("datasets", {})
            if ev["long"]["datasets"][n]["ok"] is False]
    if not decisive:
        verdict = "inconclusive"
        ev["reason"] = ("neither USAM nor SSAM beats SGD beyond noise in any cell (premise "
                        "absent)" + ("; SAM/NSSAM do somewhere" if any_win else ""))
    elif bad:
        verdict = "violated"
        ev["counterexample"] = {"dataset": bad[0][0], "steps": bad[0][1]["steps"],
                                **bad[0][1]["top_win_over_unit"]}
    else:
        verdict = "holds"
    predicted = ("USAM's test-risk advantage over SGD confined to small η; SSAM's reaches "
                 f"higher (Holm over {cells} cells, α = {ALPHA})" + (
                     f"; again with {factor}× the steps" if "long" in ev else ""))
    measured = "; ".join(
        f"{name}{suffix}: {info['measured']}"
        for table, suffix in ((ev["datasets"], ""),
                              (ev.get("long", {}).get("datasets", {}),
                               f" (T = {factor * config.steps})"))
        for name, info in table.items())

    def reach(info):
        t = info["top_win_over_unit"]
        return "/".join(f"{t[k]:.3g}" if t[k] else "—" for k in ("usam", "ssam"))

    shown = bad[0][0] if bad else (decisive[0] if decisive else None)
    key = "nobody beats SGD beyond noise" if shown is None else (
        f"{shown}: USAM/SSAM beat SGD up to η/(2/β) {reach(ev['datasets'][shown])}" + (
            f" (×{factor} steps: {reach(ev['long']['datasets'][shown])})" if "long" in ev
            else ""))
    return Result(predicted, measured, verdict, ev, key=key, rows=rows)


def _risk_table(runs):
    r"""The risk cells of ``runs`` (``{data set: RegimeRuns}``): per data set the per-cell
    statistics, the highest winning :math:`\eta` of each rule, the lead split and whether SSAM
    reaches higher than USAM (``ok``; ``None`` where neither wins); Holm over all cells.
    Returns ``(info by data set, rows, number of cells, whether any rule wins anywhere)``."""
    cells, table = [], {}
    for name, r in runs.items():
        j = r.rules.index("sgd")
        big = np.where(np.isfinite(r.test_loss), r.test_loss, 1e300)
        info = {k: r.dataset[k] for k in ("n", "d", "beta", "beta_example", "L")}
        info.update(steps=r.steps, beta_batch=r.beta, lr_over_unit=(r.lrs / r.unit).tolist(),
                    min_train_loss=r.min_train_loss, rules={})
        for i, rule in enumerate(r.rules):
            d = {"test": [], "opt_error": [], "gen_gap": [], "diff": [], "diff_ci": [], "p": []}
            for e in range(r.lrs.size):
                for k, x in (("test", r.test_loss), ("opt_error", r.opt_error()),
                             ("gen_gap", r.gen_gap())):
                    d[k].append(_t_ci(x[i, e]))
                if rule != "sgd":
                    m, ci = _t_ci(big[i, e] - big[j, e])
                    d["diff"].append(m)
                    d["diff_ci"].append(ci)
                    d["p"].append(_wilcoxon_less(big[i, e] - big[j, e]))
                    cells.append((name, rule, e))
            info["rules"][rule] = d
        table[name] = info
    adj = holm([table[n]["rules"][ru]["p"][e] for n, ru, e in cells])
    for (n, ru, _e), p in zip(cells, adj):
        table[n]["rules"][ru].setdefault("p_holm", []).append(float(p))
    rows, any_win = [], False
    for name, info in table.items():
        r = runs[name]
        top = {}
        for rule in r.rules:
            if rule == "sgd":
                continue
            w = np.asarray(info["rules"][rule]["p_holm"]) < ALPHA
            info["rules"][rule]["beats_sgd"] = w.tolist()
            top[rule] = float(r.lrs[w].max() / r.unit) if w.any() else 0.0
        info["top_win_over_unit"] = top
        any_win |= any(top.values())
        info["usam_or_ssam_wins"] = bool(top["usam"] or top["ssam"])
        info["ok"] = top["ssam"] > top["usam"] if info["usam_or_ssam_wins"] else None
        info["lead"] = lead = _lead(r, info["rules"]["usam"]["beats_sgd"])
        measured = "highest η/(2/β) beating SGD: " + ", ".join(
            f"{k.upper()} {'none' if not x else f'{x:.3g}'}" for k, x in top.items())
        if lead is not None:
            measured += (f"; lead over SGD at η/(2/β) = {lead['lr_over_unit']:.3g} (test = "
                         "optimization + gap): " + ", ".join(
                             f"{k.upper()} {part['test']:+.3g} = {part['opt_error']:+.3g} "
                             f"{'-' if part['gen_gap'] < 0 else '+'} {abs(part['gen_gap']):.3g}"
                             for k, part in lead.items() if k != "lr_over_unit"))
        info["measured"] = measured
        rows.append(Row(f"{name} (n={info['n']}, d={info['d']}), T = {r.steps}",
                        "SSAM's highest winning η above USAM's", measured, info["ok"]))
    return table, rows, len(cells), any_win


def _lead(r, usam_wins):
    """Where USAM's test-risk lead over SGD is largest among the cells where it wins and no
    run diverged: each rule's mean paired difference to SGD there (USAM and SSAM), of the test
    loss and of its two parts, optimization error and generalization gap; ``None`` without
    such a cell."""
    j, u = r.rules.index("sgd"), r.rules.index("usam")
    test, opt, gap = r.test_loss, r.opt_error(), r.gen_gap()
    with np.errstate(invalid="ignore"):
        lead = (test[u] - test[j]).mean(axis=-1)
    sane = np.isfinite(test[[j, u, r.rules.index("ssam")]]).all(axis=(0, 2))
    wins = np.flatnonzero(np.asarray(usam_wins) & sane)
    if wins.size == 0:
        return None
    e = int(wins[np.argmin(lead[wins])])
    out = {"lr_over_unit": float(r.lrs[e] / r.unit)}
    for rule in ("usam", "ssam"):
        i = r.rules.index(rule)
        out[rule] = {k: float((x[i, e] - x[j, e]).mean()) for k, x in
                     (("test", test), ("opt_error", opt), ("gen_gap", gap))}
    return out


# ------------------------------------------------------------------------------------- C18

# Each step adds rounding of a few ulps of ‖w‖; all runs contract (η at half of USAM's
# per-example condition), so over T = 200 steps the relative distance stays ≲ T·1e-16 = 2e-14.
# 1e-12 leaves a margin of 50 and still flags any real difference (γ off by 1e-6 gives ~1e-7).
C18_TOL = 1e-12


def check_c18(quick: bool = True, rules: Rules | None = None,
              steps: int | None = None) -> Result:
    r"""C18 [derived]: with one example per step on a linear model, SSAM and NSSAM are SGD and
    USAM on least squares is SGD with step :math:`\eta(1+\rho\|x_i\|^2)`.

    Derivation. The per-example loss is :math:`\ell_i(w) = \phi_i(x_i^\top w)` (least squares
    :math:`\phi_i(s) = (s - y_i)^2/2`, logistic :math:`\log(1 + e^{-y_i s})`, no ℓ2 term), so
    :math:`g = \nabla\ell_i(w) = \phi_i'(x_i^\top w)\,x_i` is parallel to :math:`x_i`, and so is
    every perturbation :math:`e = c\,g` (:math:`c = \rho` or :math:`\rho/\|g\|`): then
    :math:`\tilde g = \phi_i'(x_i^\top w + c\,\phi_i'\|x_i\|^2)\,x_i`. As :math:`\phi_i` is
    convex, :math:`\phi_i'` is non-decreasing, so :math:`\phi_i'(s + c\phi_i'(s)\|x_i\|^2)`
    has the sign of :math:`\phi_i'(s)` (or is 0 only with it): :math:`\tilde g = a\,g`,
    :math:`a > 0`, and :math:`\gamma\tilde g = (\|g\|/\|\tilde g\|)\tilde g = g`. Where
    :math:`g = 0` the perturbation is 0 and :math:`\gamma = 1`: again :math:`g`. For least
    squares :math:`\phi_i'' = 1`, :math:`\tilde g = (1 + \rho\|x_i\|^2)g` for USAM
    (``theory.usam_example_lr``). Exact in real arithmetic; measured to rounding error.

    Checked on the four data sets (:func:`ssam_theory.single_example.single_example_gap`):
    ``holds`` if every distance stays below ``C18_TOL`` (relative to the trajectory's scale),
    ``violated`` otherwise, ``inconclusive`` if the runs did not move (trivial identity).

    Args:
        quick: 200 steps (quick) or 1000.
        rules: injected rule factories ``{name: factory}``.
        steps: explicit number of steps.

    Returns:
        A :class:`Result` with one row per data set and identity.
    """
    from ..data import DATASETS, load

    steps = steps or (200 if quick else 1000)
    rows, ev, worst, counter, moved = [], {"tolerance": C18_TOL, "steps": steps,
                                            "datasets": {}}, 0.0, None, 0.0
    for name in DATASETS:
        ds = load(name)
        gap = single_example_gap(ds, rules, steps=steps)
        moved = max(moved, gap.pop("moved"))
        ev["datasets"][name] = {k: float(g.max()) for k, g in gap.items()}
        for rule, g in gap.items():
            m = float(g.max())
            worst = max(worst, m)
            twin = "SGD at η(1+ρ‖xᵢ‖²)" if rule == "usam" else "SGD"
            ok = m <= C18_TOL
            if not ok and counter is None:
                counter = {"dataset": name, "rule": rule, "relative_distance": m,
                           "step": int(np.argmax(g > C18_TOL))}
            rows.append(Row(f"{name}, {rule} (b = 1)", f"= {twin} (≤ {C18_TOL:g})",
                            f"max relative distance {m:.2g}", ok))
    ev["moved"] = moved
    if moved == 0.0:
        verdict = "inconclusive"
        ev["reason"] = "the runs did not move: the identity is trivial"
    elif counter is not None:
        verdict = "violated"
        ev["counterexample"] = counter
    else:
        verdict = "holds"
    predicted = ("b = 1, linear model: SSAM, NSSAM = SGD; USAM (least squares) = SGD with step "
                 "η(1+ρ‖xᵢ‖²); exact")
    measured = (f"largest relative distance over {len(rows)} whole trajectories "
                f"({steps} steps): {worst:.2g}")
    return Result(predicted, measured, verdict, ev, key=f"max relative distance {worst:.2g}",
                  rows=rows)
