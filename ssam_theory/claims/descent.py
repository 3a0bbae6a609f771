r"""C15: USAM's guaranteed descent on β-smooth functions (Andriushchenko & Flammarion style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import theory as th
from ..landscapes import LeastSquares, Logistic, Quadratic
from ..trajectory import run
from ._base import Result, Row, Rules, fmt, make, verdict
from ._settings import Settings
from .quadratic import random_spectrum


@dataclass(frozen=True)
class C15Settings(Settings):
    """USAM's descent: ``quadratics`` random quadratics (d = 5, κ = 50), an indefinite
    quadratic, least squares and logistic regression (n = 80, d = 6); ``points`` random
    (η, ρ) in the region besides its corner, ``steps`` steps."""

    root: int = 15
    quadratics: int = 2
    points: int = 6
    steps: int = 200

    @classmethod
    def quick(cls) -> C15Settings:
        return cls()

    @classmethod
    def full(cls) -> C15Settings:
        return cls(quadratics=4, points=20, steps=1000)


def _problems(cfg: C15Settings):
    """β-smooth problems with β and a lower bound f_low ≤ f* (None: unbounded below)."""
    data, saddle, *spectra = cfg.seeds(2 + cfg.quadratics)
    rng = np.random.default_rng(data)
    out = []
    for s, seq in enumerate(spectra):
        spec, rot = seq.spawn(2)
        lam = random_spectrum(5, 50.0, 10.0, spec)
        out.append((f"quadratic #{s}", Quadratic.from_eigenvalues(lam, rot),
                    float(lam.max()), 0.0))
    lam = np.array([3.0, 1.0, -2.0, -0.5])
    out.append(("saddle diag(3, 1, −2, −0.5)", Quadratic.from_eigenvalues(lam, saddle), 3.0,
                None))
    n, d = 80, 6
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    ls = LeastSquares(X, y)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    out.append(("least squares", ls, float(np.linalg.eigvalsh(X.T @ X / n).max()),
                float(ls.loss(w_star))))
    Xl = rng.standard_normal((n, d))
    yl = np.sign(Xl @ rng.standard_normal(d))
    out.append(("logistic", Logistic(Xl, yl), float(np.linalg.eigvalsh(Xl.T @ Xl / (4 * n)).max()),
                0.0))
    return out


def check_c15(quick: bool = True, rules: Rules | None = None,
              settings: C15Settings | None = None) -> Result:
    """f(w_t) − f(w_{t+1}) ≥ 0.218·η‖∇f(w_t)‖² for ρ ≤ 1/(2β), η ≤ 1/(4β); min-grad bound.

    Runs USAM at the corner (ρ, η) = (1/(2β), 1/(4β)) and at random interior points, from
    random starts; the per-step ratio (f_t − f_{t+1})/(η‖g_t‖²) is taken where it is above
    rounding (η‖g_t‖² ≥ 1e-9·(|f_t| + 1): f is computed to ~1e-16 relative). Also
    min_{t<T} ‖g_t‖² ≤ (f(w₀) − f_low)/(0.218ηT) with f_low ≤ f* (bounded problems).
    Outside the region (η = 1.5/β, ρ = 1/(2β)) the guarantee's coefficient is negative;
    the measured minimum there is reported as evidence, not asserted.
    """
    cfg = settings or C15Settings.of(quick)
    rows = []
    steps = cfg.steps
    problems = _problems(cfg)
    for (label, f, beta, f_low), seq in zip(problems, cfg.seeds(len(problems) + 1)[1:]):
        rng = np.random.default_rng(seq)
        k = cfg.points
        u = rng.uniform(0.05, 1.0, (2, k))
        rho = np.concatenate([[0.5], 0.5 * u[0]]) / beta
        lr = np.concatenate([[0.25], 0.25 * u[1]]) / beta
        W0 = rng.standard_normal((k + 1, f.dim))
        tr = run(make(rules, "usam", lr=lr, rho=rho), f, W0, steps)
        dec = tr.loss[:-1] - tr.loss[1:]
        scale = lr[None, :] * tr.grad_norm**2
        sane = np.isfinite(dec) & (scale >= 1e-9 * (np.abs(tr.loss[:-1]) + 1))
        ratio = np.where(sane, dec / np.where(sane, scale, 1.0), np.inf)
        min_ratio = float(np.min(ratio))
        coef = th.usam_descent_coefficient(lr, rho, beta)
        bound_ok = True
        if f_low is not None:
            gap = tr.loss[0] - f_low
            bound = th.usam_min_grad_sq_bound(np.maximum(gap, 0.0), lr, steps)
            bound_ok = bool(np.all(np.min(tr.grad_norm**2, axis=0) <= bound * (1 + 1e-9)))
        # outside the region: η = 1.5/β
        tr_out = run(make(rules, "usam", lr=1.5 / beta, rho=0.5 / beta), f, W0[0], steps)
        d_out = tr_out.loss[:-1] - tr_out.loss[1:]
        s_out = (1.5 / beta) * tr_out.grad_norm**2
        ok_out = np.isfinite(d_out) & (s_out >= 1e-9 * (np.abs(tr_out.loss[:-1]) + 1))
        out_min = float(np.min(d_out[ok_out] / s_out[ok_out])) if ok_out.any() else None
        rows.append(dict(problem=label, beta=beta, min_ratio=min_ratio,
                         outside_region_diverged=bool(tr_out.diverged),
                         bounded_below=f_low is not None,
                         min_guaranteed_coefficient=float(coef.min()),
                         steps_checked=int(sane.sum()), min_grad_bound_ok=bound_ok,
                         diverged=int(tr.diverged.sum()),
                         outside_region_min_ratio=out_min))
    # on the saddle f is unbounded below and USAM's iterates grow without bound (every step
    # still descends): leaving ‖w‖ ≤ 1e12 there is not a failure; elsewhere it would be
    def row_ok(r):
        return (r["min_ratio"] >= 0.218 and r["min_grad_bound_ok"]
                and (not r["diverged"] or not r["bounded_below"]))

    ok = all(row_ok(r) for r in rows)
    worst = min(r["min_ratio"] for r in rows)
    outside = [r["outside_region_min_ratio"] for r in rows
               if r["outside_region_min_ratio"] is not None]
    predicted = ("f_t − f_{t+1} ≥ 0.218·η‖g_t‖² (exact corner constant 7/32 = 0.21875) for "
                 "ρ ≤ 1/(2β), η ≤ 1/(4β); min‖g‖² ≤ (f₀ − f*)/(0.218ηT)")
    measured = (f"min ratio {worst:.4f} over {sum(r['steps_checked'] for r in rows)} steps on "
                f"{len(rows)} problems (quadratics, saddle, LS, logistic); min-grad bound "
                f"{sum(r['min_grad_bound_ok'] for r in rows)}/{len(rows)}; outside (η=1.5/β): "
                f"min ratio {fmt(min(outside))}")
    ev = dict(rows=rows)
    if not ok:
        ev["counterexample"] = next(r for r in rows if not row_ok(r))
    table = [Row(f"{r['problem']} (β = {fmt(r['beta'], 3)}), corner + {cfg.points} random "
                 "(η, ρ)", "descent ratio ≥ 0.218" + ("; min-grad bound" if r["bounded_below"]
                                                      else ""),
                 f"min ratio {r['min_ratio']:.4f}" + ("; bound met" if r["min_grad_bound_ok"]
                                                     else "; bound FAILED")
                 * bool(r["bounded_below"]), row_ok(r)) for r in rows]
    if outside:
        table.append(Row("outside the region: η = 1.5/β, ρ = 1/(2β)", "no guarantee",
                         f"min ratio {fmt(min(outside))}", None))
    key = f"min descent ratio {worst:.4f} ≥ 0.218 over {len(rows)} problems"
    return Result(predicted, measured, verdict(ok), ev, key=key, rows=tuple(table))
