r"""Threshold claims on convex quadratics :math:`f(w) = \tfrac12 w^\top H w`: C01–C03, C06, C16.

Threshold claims are checked just below and just above the predicted threshold, at
:math:`(1 \mp \delta)` times it, on seeded random spectra, several :math:`\rho` and several
random starts. ``converged`` means :math:`\|w_T\| \le 10^{-6}\|w_0\|` (C01–C03) and
``diverged`` that :func:`ssam_theory.run` flagged the row (:math:`\|w\| > 10^{12}`). The
number of steps comes from the predicted per-step contraction :math:`q`: shrinking by
:math:`10^{-6}` takes :math:`\ln 10^{6} / (-\ln q)` steps, and at :math:`\eta = (1-\delta)
\cdot\text{threshold}` the top direction contracts by about :math:`1 - 2\delta` (GD:
:math:`|1 - \eta\lambda| = 1 - 2\delta`), so :math:`\delta = 0.02` needs a few hundred
steps; growing by :math:`10^{12}` above the threshold needs :math:`\ln 10^{13}/(2\delta)`.

The helpers here (random spectra and starts, step counts) are shared with
:mod:`ssam_theory.claims.stability` (C04, C05, C17).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import theory as th
from ..landscapes import Quadratic
from ..trajectory import run
from ._base import Result, Row, Rules, fmt, make, verdict
from ._settings import Settings

DELTA = 0.02  # relative distance to the threshold on each side
CONVERGED = 1e-6  # ‖w_T‖/‖w_0‖ below this: converged
MAX_STEPS = 60_000  # cap: a check needing more steps than this reports the shortfall
RHOS = (0.01, 0.1, 0.4)  # ρλ_max = 0.1, 1, 4 with λ_max = 10


def random_spectrum(d: int, kappa: float, lam_max: float, seed) -> np.ndarray:
    """``d`` eigenvalues log-uniform in ``[lam_max/kappa, lam_max]``, both ends included.

    ``seed`` is anything :func:`numpy.random.default_rng` takes (an int or a SeedSequence).
    """
    rng = np.random.default_rng(seed)
    lam = lam_max / kappa ** rng.uniform(0, 1, d)
    lam[0], lam[1] = lam_max, lam_max / kappa
    return np.sort(lam)[::-1]


def unit_starts(d: int, n: int, seed) -> np.ndarray:
    """``n`` Gaussian starts of unit norm, ``(n, d)``."""
    W = np.random.default_rng(seed).standard_normal((n, d))
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def steps_for(rate, target: float = 16.8) -> int:
    """Steps to shrink by e^{-target} (default ≈ ln 1e6 + 3) at contraction ``rate``, +20 %."""
    rate = float(np.max(rate))
    if rate >= 1:
        return MAX_STEPS
    return int(min(MAX_STEPS, np.ceil(1.2 * target / -np.log(rate)) + 50))


def divergence_steps(delta: float = DELTA) -> int:
    """Steps for a growth of 1e13 at a per-step factor 1 + δ (above a threshold)."""
    return int(np.ceil(np.log(1e13) / np.log1p(delta))) + 50


@dataclass(frozen=True)
class Instance:
    """One seeded problem: a spectrum λ (λ_max = 10), its rotated quadratic and unit starts."""

    index: int
    kappa: float
    lam: np.ndarray
    f: Quadratic
    starts: np.ndarray


@dataclass(frozen=True)
class ThresholdSettings(Settings):
    """Random spectra (κ ∈ ``kappas``, ``per_kappa`` each, dimension ``dim``), ``n_starts``
    unit starts each, radii ``rhos``; seeds spawned from ``root``. Each threshold claim
    has its subclass, with its own root seed (``ROOT``) and full-mode start count."""

    root: int = 0
    kappas: tuple[float, ...] = (10.0, 100.0)
    per_kappa: int = 2
    dim: int = 6
    n_starts: int = 2
    rhos: tuple[float, ...] = RHOS

    ROOT: ClassVar[int] = 0
    FULL_STARTS: ClassVar[int] = 4

    @classmethod
    def quick(cls) -> ThresholdSettings:
        return cls(cls.ROOT)

    @classmethod
    def full(cls) -> ThresholdSettings:
        return cls(cls.ROOT, kappas=(10.0, 100.0, 1000.0), per_kappa=3, dim=10,
                   n_starts=cls.FULL_STARTS)

    def instances(self) -> list[Instance]:
        out = []
        kappas = [k for k in self.kappas for _ in range(self.per_kappa)]
        for i, (k, seq) in enumerate(zip(kappas, self.seeds(len(kappas)))):
            spec, rot, start = seq.spawn(3)
            lam = random_spectrum(self.dim, k, 10.0, spec)
            out.append(Instance(i, float(k), lam, Quadratic.from_eigenvalues(lam, seed=rot),
                                unit_starts(self.dim, self.n_starts, start)))
        return out


def _threshold_runs(rules, name, instances, rhos, lr_of, rate_of, delta=DELTA):
    """Run ``name`` at η = (1 ∓ δ)·lr_of(λ, ρ) on every instance, ρ and start.

    Every (ρ, side, start) of an instance is one row of a single batched run (rows are
    independent, bit for bit), as long as the slowest ρ needs.

    Returns a list of dicts, one per (instance, ρ, side, start), with the outcome.
    """
    rows = []
    for inst in instances:
        n = len(inst.starts)
        thr = np.array([float(lr_of(inst.lam, rho)) for rho in rhos])
        steps = max(max(steps_for(rate_of(inst.lam, rho, (1 - delta) * t))
                        for rho, t in zip(rhos, thr)), divergence_steps(delta))
        # row order: ρ, then side (below, above), then start
        lr = (thr[:, None, None] * np.array([1 - delta, 1 + delta])[None, :, None]
              * np.ones(n)).ravel()
        rho = np.repeat(np.asarray(rhos, dtype=float), 2 * n)
        opt = make(rules, name, lr=lr, rho=rho)
        tr = run(opt, inst.f, np.tile(inst.starts, (2 * len(rhos), 1)), steps)
        ratio = np.linalg.norm(tr.final, axis=1)  # ‖w_0‖ = 1
        for i in range(lr.size):
            k, side = divmod(i, 2 * n)
            conv = bool(not tr.diverged[i] and ratio[i] <= CONVERGED)
            rows.append(dict(instance=inst.index, kappa=inst.kappa,
                             lam_max=float(inst.lam.max()), rho=rhos[k], lr=float(lr[i]),
                             threshold=float(thr[k]), side="below" if side < n else "above",
                             start=side % n, steps=steps, final_norm_ratio=float(ratio[i]),
                             converged=conv, diverged=bool(tr.diverged[i])))
    return rows


def _sides(runs) -> tuple[int, int, int, int]:
    """(converged below, runs below, diverged above, runs above)."""
    below = [r for r in runs if r["side"] == "below"]
    above = [r for r in runs if r["side"] == "above"]
    return (sum(r["converged"] for r in below), len(below),
            sum(r["diverged"] for r in above), len(above))


def _side_text(runs) -> str:
    nb, b, na, a = _sides(runs)
    return f"converged {nb}/{b} below, diverged {na}/{a} above"


def _side_ok(runs) -> bool:
    nb, b, na, a = _sides(runs)
    return nb == b and na == a


def _threshold_result(runs, what: str, predicted: str, rows, key_rule: str) -> Result:
    nb, b, na, a = _sides(runs)
    ok = nb == b and na == a
    n_inst = len({r["instance"] for r in runs if "instance" in r})
    measured = (f"{what}: converged {nb}/{b} at (1-δ)·threshold, diverged "
                f"{na}/{a} at (1+δ)·threshold (δ={DELTA}, {n_inst} spectra)")
    evidence = dict(delta=DELTA, converged_tol=CONVERGED, rows=runs)
    if not ok:
        bad = ([r for r in runs if r["side"] == "below" and not r["converged"]]
               + [r for r in runs if r["side"] == "above" and not r["diverged"]])
        evidence["counterexample"] = bad[0]
        evidence["failures"] = len(bad)
    key = f"{key_rule}: {nb + na}/{b + a} runs on the predicted side (δ = {DELTA:.0%})"
    return Result(predicted, measured, verdict(ok), evidence, key=key, rows=tuple(rows))


def _per_rho_rows(runs, rhos, threshold_text) -> list[Row]:
    """One row per ρ: the predicted threshold and both sides' outcomes."""
    out = []
    for rho in rhos:
        sel = [r for r in runs if r["rho"] == rho and "instance" in r]
        out.append(Row(f"ρ = {rho}, η = (1∓δ)η*", threshold_text(rho), _side_text(sel),
                       _side_ok(sel)))
    return out


class C01Settings(ThresholdSettings):
    """C01's spectra and starts (GD: ρ is unused)."""

    ROOT = 1


class C02Settings(ThresholdSettings):
    """C02's spectra, starts and radii."""

    ROOT = 2


class C03Settings(ThresholdSettings):
    """C03's spectra, starts and radii."""

    ROOT = 3
    FULL_STARTS = 3


@dataclass(frozen=True)
class C06Settings(ThresholdSettings):
    """C06's spectra, starts and radii, and the two measuring windows after a transient."""

    transient: int = 1500
    window: int = 1500

    ROOT = 6

    @classmethod
    def full(cls) -> C06Settings:
        return cls(cls.ROOT, kappas=(10.0, 100.0, 1000.0), per_kappa=3, dim=10, n_starts=3,
                   transient=4000, window=4000)


# ------------------------------------------------------------------------------- C01

def check_c01(quick: bool = True, rules: Rules | None = None,
              settings: ThresholdSettings | None = None) -> Result:
    """GD converges at η = (1 − δ)·2/λ_max and diverges at (1 + δ)·2/λ_max."""
    cfg = settings or C01Settings.of(quick)
    inst = cfg.instances()
    runs = _threshold_runs(rules, "sgd", inst, [0.0],
                           lambda lam, rho: th.gd_max_lr(lam.max()),
                           lambda lam, rho, lr: np.max(th.gd_expansiveness(lr, lam)))
    rows = []
    for k in cfg.kappas:
        sel = [r for r in runs if r["kappa"] == k]
        rows.append(Row(f"κ = {fmt(k)}, η = (1∓δ)·2/λ_max", "converge below, diverge above",
                        _side_text(sel), _side_ok(sel)))
    lam_max = inst[0].lam.max()
    return _threshold_result(runs, "GD", f"η* = 2/λ_max = {fmt(th.gd_max_lr(lam_max))} "
                                         f"(λ_max = {fmt(lam_max)})", rows,
                             f"2/λ_max = {fmt(th.gd_max_lr(lam_max))}")


# ------------------------------------------------------------------------------- C02

def _usam_rate(lam, rho, lr):
    return np.max(th.usam_expansiveness(lr, rho, lam))


def check_c02(quick: bool = True, rules: Rules | None = None,
              settings: ThresholdSettings | None = None) -> Result:
    """USAM's threshold η* = 2/(λ_max + ρλ_max²), and its curvature form λ*(η, ρ)."""
    cfg = settings or C02Settings.of(quick)
    inst = cfg.instances()
    runs = _threshold_runs(rules, "usam", inst, cfg.rhos,
                           lambda lam, rho: th.usam_max_lr(lam.max(), rho), _usam_rate)
    # the curvature form: at η, USAM tolerates λ* = usam_max_curvature(η, ρ); spectra scaled
    # to λ_max = (1 ∓ δ)λ* converge / diverge
    lr = 0.05
    curv = []
    for it in inst[:2]:
        for rho in cfg.rhos:
            lam_star = th.usam_max_curvature(lr, rho)
            for side, s in (("below", 1 - DELTA), ("above", 1 + DELTA)):
                lam_s = it.lam / it.lam.max() * lam_star * s
                f = Quadratic(it.f.H / it.lam.max() * lam_star * s)
                steps = max(steps_for(_usam_rate(lam_s, rho, lr)), divergence_steps())
                tr = run(make(rules, "usam", lr=lr, rho=rho), f, it.starts[0], steps)
                nrm = float(np.linalg.norm(tr.final))
                curv.append(dict(curvature_instance=it.index, rho=rho, lr=lr,
                                 lam_star=lam_star, side=side, lam_max=float(lam_s.max()),
                                 steps=steps, final_norm_ratio=nrm,
                                 converged=bool(not tr.diverged and nrm <= CONVERGED),
                                 diverged=bool(tr.diverged)))
    rows = _per_rho_rows(runs, cfg.rhos, lambda r: f"η* = {fmt(th.usam_max_lr(10.0, r))}")
    for rho in cfg.rhos:
        sel = [r for r in curv if r["rho"] == rho]
        rows.append(Row(f"ρ = {rho}, η = {lr}, λ_max = (1∓δ)λ*",
                        f"λ* = {fmt(th.usam_max_curvature(lr, rho))}", _side_text(sel),
                        _side_ok(sel)))
    return _threshold_result(
        runs + curv, "USAM",
        "η* = 2/(λ_max + ρλ_max²) = "
        + ", ".join(f"{fmt(th.usam_max_lr(10.0, r))} (ρ={r})" for r in cfg.rhos)
        + f"; λ* at η={lr}: " + ", ".join(fmt(th.usam_max_curvature(lr, r)) for r in cfg.rhos),
        rows, "2/(λ_max+ρλ_max²) and λ*")


# ------------------------------------------------------------------------------- C03

def _ssam_rate(lam, rho, lr):
    """Predicted asymptotic contraction of SSAM (:func:`ssam_theory.theory.ssam_contraction`):
    the slowest over the spectrum."""
    return np.max(th.ssam_contraction(lr, rho, lam, lam.max()))


def check_c03(quick: bool = True, rules: Rules | None = None,
              settings: ThresholdSettings | None = None) -> Result:
    """SSAM's threshold is GD's 2/λ_max for every ρ; on an eigenvector its step is GD's."""
    cfg = settings or C03Settings.of(quick)
    inst = cfg.instances()
    runs = _threshold_runs(rules, "ssam", inst, cfg.rhos,
                           lambda lam, rho: th.gd_max_lr(lam.max()), _ssam_rate)
    # eigen-aligned iterates: one SSAM step equals one GD step; relative tolerance 1e-13
    # (γ is a ratio of two norms and multiplies g̃: a few ulps of rounding, no more)
    aligned = []
    for it, seq in zip(inst, cfg.seeds(len(inst) + 1)[1:]):
        _, V = np.linalg.eigh(it.f.H)
        W = V.T * np.random.default_rng(seq).uniform(0.5, 2.0, it.lam.size)[:, None]
        for rho in cfg.rhos:
            lr = 0.9 * th.gd_max_lr(it.lam.max())
            w_s, _ = make(rules, "ssam", lr=lr, rho=rho).step(W, None, it.f.grad)
            w_g, _ = make(rules, "sgd", lr=lr, rho=0.0).step(W, None, it.f.grad)
            err = np.linalg.norm(w_s - w_g, axis=1) / np.linalg.norm(W, axis=1)
            aligned.append(float(err.max()))
    aligned_ok = max(aligned) <= 1e-13
    rows = _per_rho_rows(runs, cfg.rhos, lambda r: "η* = 2/λ_max = 0.2")
    rows.append(Row("eigenvector starts, η = 0.9·2/λ_max", "SSAM step = GD step",
                    f"max rel. diff {max(aligned):.1e}", aligned_ok))
    res = _threshold_result(runs, "SSAM", "2/λ_max", rows, "2/λ_max = 0.2 for every ρ")
    ext = [f"{fmt(1 + r * 10.0)}x" for r in cfg.rhos]
    predicted = ("η* = 2/λ_max = 0.2 for every ρ (USAM's 2/(λ(1+ρλ)) times "
                 + ", ".join(ext) + "); aligned step = GD step")
    measured = res.measured + f"; aligned: max rel. diff from GD {max(aligned):.1e}"
    ev = dict(res.evidence, aligned_max_rel_diff=max(aligned))
    ok = res.verdict == "holds" and aligned_ok
    if not aligned_ok and "counterexample" not in ev:
        ev["counterexample"] = {"aligned_max_rel_diff": max(aligned)}
    return Result(predicted, measured, verdict(ok), ev, key=res.key, rows=res.rows)


# ------------------------------------------------------------------------------- C06

def window_runs(rules, name, f, W0, lr, rho, t_transient, window):
    """Run ``t_transient`` steps, then two windows of ``window`` steps (a restart is exact:
    the rules here carry no state). Returns the three iterates, the run flags, final loss."""
    opt = make(rules, name, lr=lr, rho=rho)
    tr0 = run(opt, f, W0, t_transient)
    tr1 = run(opt, f, tr0.final, window)
    tr2 = run(opt, f, tr1.final, window)
    diverged = tr0.diverged | tr1.diverged | tr2.diverged
    return tr0.final, tr1.final, tr2.final, diverged, tr2.loss[-1]


def check_c06(quick: bool = True, rules: Rules | None = None,
              settings: C06Settings | None = None) -> Result:
    """NSSAM converges below 2/λ_max (no C04 floor) and diverges above.

    Convergence of NSSAM is slow near the minimizer (C17: direction i contracts by
    1 − 2(λ_i/λ_max)², so κ = 1000 means 1 − 2e-6 per step), so "converges" is measured as
    a sustained geometric decrease: ‖w‖ shrinks over two consecutive windows, with a
    per-step rate < 1 in each, and the loss ends below SAM's C04 floor at the same (η, ρ).
    """
    cfg = settings or C06Settings.of(quick)
    runs = []
    for it in cfg.instances():
        n = len(it.starts)
        thr = th.gd_max_lr(it.lam.max())
        # one batched run per instance: rows ρ × side (below, above) × start
        lr = np.tile(np.repeat([(1 - DELTA) * thr, (1 + DELTA) * thr], n), len(cfg.rhos))
        rr = np.repeat(np.asarray(cfg.rhos, dtype=float), 2 * n)
        w1, w2, w3, div, loss = window_runs(
            rules, "nssam", it.f, np.tile(it.starts, (2 * len(cfg.rhos), 1)), lr, rr,
            cfg.transient, cfg.window)
        n1, n2, n3 = (np.linalg.norm(w, axis=1) for w in (w1, w2, w3))
        for i in range(lr.size):
            k, j = divmod(i, 2 * n)
            rho = cfg.rhos[k]
            floor = th.sam_loss_floor((1 - DELTA) * thr, rho, it.lam.max())
            with np.errstate(divide="ignore", invalid="ignore"):
                r1 = float((n2[i] / n1[i]) ** (1 / cfg.window)) if n1[i] > 0 else 0.0
                r2 = float((n3[i] / n2[i]) ** (1 / cfg.window)) if n2[i] > 0 else 0.0
            conv = bool(not div[i] and r1 < 1 and r2 < 1 and loss[i] < floor)
            runs.append(dict(instance=it.index, kappa=it.kappa, rho=rho, lr=float(lr[i]),
                             side="below" if j < n else "above",
                             steps=cfg.transient + 2 * cfg.window, rate_window1=r1,
                             rate_window2=r2, final_norm=float(n3[i]),
                             final_loss=float(loss[i]), sam_floor=floor,
                             converged=conv, diverged=bool(div[i])))
    nb, b, na, a = _sides(runs)
    ok = nb == b and na == a
    slowest = max(r["rate_window2"] for r in runs if r["side"] == "below")
    measured = (f"NSSAM: contracting (loss below SAM's floor) {nb}/{b} at (1−δ)·2/λ_max"
                f" (slowest rate {slowest:.7f}/step), diverged {na}/{a} at (1+δ)·2/λ_max"
                f" (κ ≤ {fmt(max(cfg.kappas))})")
    rows = _per_rho_rows(runs, cfg.rhos,
                         lambda r: "η* = 2/λ_max = 0.2; below: loss < SAM's floor")
    ev = dict(delta=DELTA, rows=runs)
    if not ok:
        bad = ([r for r in runs if r["side"] == "below" and not r["converged"]]
               + [r for r in runs if r["side"] == "above" and not r["diverged"]])
        ev["counterexample"] = bad[0]
    key = f"2/λ_max = 0.2, no floor: {nb + na}/{b + a} runs on the predicted side"
    return Result("η* = 2/λ_max = 0.2 (no floor below it)", measured, verdict(ok), ev,
                  key=key, rows=tuple(rows))


# ------------------------------------------------------------------------------- C16

@dataclass(frozen=True)
class C16Settings(Settings):
    """The paper's quadratic experiment: ``instances`` random spectra (d = 5, κ = 10,
    λ_max = 10), radii ``rhos``."""

    root: int = 16
    instances: int = 2
    rhos: tuple[float, ...] = (0.05, 0.1, 0.3)

    @classmethod
    def quick(cls) -> C16Settings:
        return cls()

    @classmethod
    def full(cls) -> C16Settings:
        return cls(instances=4)


def check_c16(quick: bool = True, rules: Rules | None = None,
              settings: C16Settings | None = None) -> Result:
    """The paper's quadratic experiment: η between USAM's and GD's thresholds."""
    cfg = settings or C16Settings.of(quick)
    runs = []
    for i, seq in enumerate(cfg.seeds(cfg.instances)):
        spec, rot, start = seq.spawn(3)
        lam = random_spectrum(5, 10.0, 10.0, spec)
        f = Quadratic.from_eigenvalues(lam, seed=rot)
        w0 = unit_starts(5, 1, start)[0]
        for rho in cfg.rhos:
            lo, hi = th.usam_max_lr(lam.max(), rho), th.gd_max_lr(lam.max())
            lr = float(np.sqrt(lo * hi))  # inside (2/(λ(1+ρλ)), 2/λ)
            steps = steps_for(_ssam_rate(lam, rho, lr), np.log(1e10))
            out = {name: run(make(rules, name, lr=lr, rho=rho), f, w0, steps)
                   for name in ("ssam", "usam", "sam")}
            floor = th.sam_loss_floor(lr, rho, lam.max())
            ssam_ok = (not out["ssam"].diverged) and np.linalg.norm(out["ssam"].final) <= 1e-6
            sam_loss = float(out["sam"].loss[-1])
            runs.append(dict(instance=i, rho=rho, lr=lr, steps=steps,
                             ssam_final_loss=float(out["ssam"].loss[-1]),
                             ssam_converged=bool(ssam_ok),
                             usam_diverged=bool(out["usam"].diverged),
                             usam_diverged_at=int(out["usam"].diverged_at),
                             sam_final_loss=sam_loss, sam_floor=floor,
                             sam_plateau=bool(abs(sam_loss / floor - 1) <= 1e-6)))
    good = [r["ssam_converged"] and r["usam_diverged"] and r["sam_plateau"] for r in runs]
    ok = all(good)
    ex = runs[0]
    rows = []
    for rho in cfg.rhos:
        sel = [r for r in runs if r["rho"] == rho]
        err = max(abs(r["sam_final_loss"] / r["sam_floor"] - 1) for r in sel)
        rows.append(Row(
            f"ρ = {rho}, η = √(η*_USAM·2/λ) (≈ {fmt(sel[0]['lr'], 3)})",
            "SSAM → 0, USAM diverges, SAM loss = floor",
            f"SSAM → 0 in {sum(r['ssam_converged'] for r in sel)}/{len(sel)}, USAM diverged "
            f"{sum(r['usam_diverged'] for r in sel)}/{len(sel)}, SAM |loss/floor − 1| ≤ "
            f"{err:.0e}", all(g for r, g in zip(runs, good) if r["rho"] == rho)))
    predicted = ("at η ∈ (2/(λ(1+ρλ)), 2/λ): SSAM → 0, USAM diverges, SAM at floor λ₁c²/2 "
                 f"(e.g. ρ={ex['rho']}, η={fmt(ex['lr'])}: floor {fmt(ex['sam_floor'])})")
    measured = (f"{sum(good)}/{len(runs)} configs as predicted: SSAM loss "
                f"≤ {max(r['ssam_final_loss'] for r in runs):.1e}, USAM diverged "
                f"{sum(r['usam_diverged'] for r in runs)}/{len(runs)}, SAM loss/floor − 1 ≤ "
                f"{max(abs(r['sam_final_loss'] / r['sam_floor'] - 1) for r in runs):.1e}")
    ev = dict(rows=runs)
    if not ok:
        ev["counterexample"] = next(r for r, g in zip(runs, good) if not g)
    key = f"SSAM → 0, USAM diverges, SAM on its floor: {sum(good)}/{len(runs)} configs"
    return Result(predicted, measured, verdict(ok), ev, key=key, rows=tuple(rows))
