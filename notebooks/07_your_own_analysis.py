# %% [markdown]
# # Your own analysis: a landscape by formula, a threshold from sympy, a new claim (and C19)
#
# The template to copy for a new question. Every step uses the package's public API:
#
# 1. define a landscape by its formula (`st.Symbolic`): gradient and Hessian come from sympy;
# 2. sweep η × ρ for one rule and classify every run (`st.sweep(..., saddle=...)`);
# 3. derive a threshold in sympy, here, from the same formula, and overlay it;
# 4. state the expectation as a `Claim` and let its check decide;
# 5. the same questions on a network: escape from the diagonal linear network's saddle (C19).

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
FORMULA = "a*x**2/2 - b*y**2/2 + c*y**4/4"  # a saddle at 0 with quartic walls
PARAMS = {"a": 1.0, "b": 2.0, "c": 1.0}
RULE = "usam"
N_LR = 16 if QUICK else 80  # learning rates of the sweep
N_RHO = 14 if QUICK else 60  # radii of the sweep
SEEDS = 2  # random starts per (η, ρ); the map shows the first (seed 0 starts alike for any SEEDS)
STEPS = 300 if QUICK else 2000  # steps per run

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

import ssam_theory as st
from ssam_theory import network, theory
from ssam_theory.claims import Claim, Result, Row
from ssam_theory.plotting import (
    RULE_STYLE,
    measured,
    outcome_handles,
    outcome_map,
    rule_label,
    save_figure,
    theory_contour,
    theory_line,
    use_style,
)

use_style()
NB = "07_your_own_analysis"

# %% [markdown]
# ## 1. A landscape by formula
#
# Variables are the free symbols sorted by name (here x, y); keywords bind the parameters.

# %%
f = st.Symbolic(FORMULA, **PARAMS)
saddle = np.zeros(f.dim)
print(f, "variables:", f.variables)
print("gradient at the saddle:", f.grad(saddle), " Hessian:", f.hessian(saddle).tolist())

# %% [markdown]
# ## 2. A threshold derived in sympy from the same formula
#
# Linearise one USAM step along y at the saddle: y' = y − η ∂_y f(y + ρ ∂_y f(y)). Its
# derivative at y = 0 is the multiplier; the saddle attracts along y where |multiplier| < 1.

# %%
x, y = sp.symbols("x y", real=True)  # st.Symbolic's variables are real symbols
eta, rho = sp.symbols("eta rho", positive=True)
expr = f.expr.subs({s: PARAMS[s.name] for s in f.expr.free_symbols if s.name in PARAMS})
fy = sp.diff(expr, y).subs(x, 0)  # ∂_y f on the y axis
step = y - eta * fy.subs(y, y + rho * fy)
multiplier = sp.simplify(sp.diff(step, y).subs(y, 0))
print("USAM multiplier along y:", multiplier)
# the catalogue's C09 formula gives the same expression with b = 2
assert sp.simplify(multiplier - theory.usam_saddle_multiplier.subs(b=PARAMS["b"])
                   .subs({theory.eta: eta, theory.rho: rho})) == 0
rho_threshold = sp.solve(sp.Eq(multiplier, 1), rho)  # ρ = 1/b
print("attraction starts at ρ =", rho_threshold)
multiplier_np = sp.lambdify((eta, rho), multiplier, "numpy")

# %% [markdown]
# ## 3. Sweep η × ρ with outcomes, threshold overlaid
#
# Escaped: left the ball of radius 0.5 around the saddle (the basins y² = b/c lie outside it).

# %%
lr = np.linspace(0.02, 1.0, N_LR)
rhos = np.linspace(0.02, 1.5, N_RHO)
sw = st.sweep(f, RULE, lr, rhos, STEPS, seeds=SEEDS, saddle=saddle, escape_radius=0.5,
              progress=False)
codes = sw.outcome[..., 0]  # first seed; the fractions over seeds are in sw.fraction(...)

fig, ax = plt.subplots(figsize=(5.5, 4.2))
outcome_map(ax, lr, rhos, codes, st.Outcome, legend=False)
L, R = np.meshgrid(np.linspace(lr[0], lr[-1], 200), np.linspace(rhos[0], rhos[-1], 200),
                   indexing="ij")
(line,) = theory_contour(ax, L[:, 0], R[0], np.abs(multiplier_np(L, R)), 1.0,
                         "|multiplier| = 1 (sympy, this notebook)")
present = [o.name for o in st.Outcome if np.any(codes == o)]
ax.legend(handles=[*outcome_handles(present), line], loc="lower right", fontsize=7)
ax.set_title(f"{rule_label(RULE)} on {f.formula()}", fontsize=8)
save_figure(fig, NB, "phase")

# %% [markdown]
# ## 4. A new claim, checked
#
# A `Claim` holds a statement, a source tag and a `check(quick, rules)` that returns a
# `Result` computed from runs. Here: just below ρ = 1/b USAM escapes from every start; just
# above (and for η below the period-doubling edge) it is trapped.

# %%
B = PARAMS["b"]


def check_my_claim(quick=True, rules=None):
    below, above = 0.9 / B, 1.1 / B
    res = st.sweep(f, RULE, [0.1], [below, above], STEPS, seeds=4, saddle=saddle,
                   escape_radius=0.5, progress=False)
    esc = res.fraction(st.Outcome.ESCAPED)[0]
    trap = res.fraction(st.Outcome.TRAPPED)[0]
    ok_below, ok_above = esc[0] == 1.0, trap[1] == 1.0
    rows = [Row(f"ρ = 0.9/b = {below:.3f}", "escaped", f"escaped {esc[0]:.0%}", ok_below),
            Row(f"ρ = 1.1/b = {above:.3f}", "trapped", f"trapped {trap[1]:.0%}", ok_above)]
    verdict = "holds" if ok_below and ok_above else "violated"
    evidence = {} if verdict == "holds" else {"counterexample": {"escaped": esc.tolist(),
                                                                 "trapped": trap.tolist()}}
    return Result("escape below ρ = 1/b, trapped above", f"escaped {esc[0]:.0%} below, "
                  f"trapped {trap[1]:.0%} above", verdict, evidence, rows=rows)


my_claim = Claim("X01", "USAM's saddle threshold on my landscape",
                 r"USAM escapes the saddle of $f$ iff $\rho < 1/b$ (small $\eta$).",
                 "derived", f"{FORMULA} with {PARAMS}, η = 0.1", check_my_claim)
result = my_claim.run(quick=QUICK)
print(my_claim.id, result.verdict, "|", result.measured)
for row in result.rows:
    print("  ", row)

# %% [markdown]
# ## 5. C19: escape from the saddle of a diagonal linear network
#
# f(u, v) = Σᵢ(⟨u⊙v, xᵢ⟩ − yᵢ)²/(2n) has a strict saddle at the origin with
# λ_neg = −‖Xᵀy‖_∞/n. From w₀ = α z/‖z‖ we count the steps until the loss falls below 0.8 f(0)
# for good. Dashed: the linearised prediction, escape steps growing like ln(1/α)/ln m with
# SGD's m = 1 + ηb and USAM's C09 multiplier (anchored at the largest α). SAM and NSSAM stay
# trapped (plotted at the step budget).

# %%
cfg = network.EscapeConfig.quick() if QUICK else network.EscapeConfig.full()
runs = network.escape_experiment(cfg)["sparse_regression"]  # C19's runs (computed once)
b, a, lr_net = runs["b"], runs["a"], runs["lr"]
rho_net = cfg.rho_factors[0] / b
alphas = np.asarray(cfg.alphas)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, col in zip(axes, (cfg.batch_sizes.index(None), len(cfg.batch_sizes) - 1)):
    batch = cfg.batch_sizes[col]
    for rule in st.RULES:
        steps = runs["steps"][rule][col, 0]  # (α, seed) at the first ρ of cfg.rho_factors
        T = np.where(steps < 0, cfg.steps, steps)
        med = np.median(T, axis=1)
        measured(ax, alphas, med, rule_label(rule), rule=rule)
        m = network.predicted_multiplier(rule, lr_net, rho_net, b, a)
        if rule in ("sgd", "usam"):
            pred = med[-1] + np.log(alphas[-1] / alphas) / np.log(m)
            theory_line(ax, alphas, pred, f"{rule_label(rule)} ln(1/α)/ln m, m = {m:.3f}",
                        color=RULE_STYLE[rule]["color"])
    ax.set_xscale("log")
    ax.set_xlabel(r"initial scale $\alpha$")
    ax.set_title(f"sparse regression, {'full batch' if batch is None else f'batch {batch}'}, "
                 f"ηb = {cfg.lr_factor}, ρb = {cfg.rho_factors[0]}", fontsize=8)
axes[0].set_ylabel("steps to escape (median over seeds)")
axes[0].legend(fontsize=6)
save_figure(fig, NB, "network_escape")

# %% [markdown]
# The claim C19 judges these runs (paired over seeds, sign tests with Holm's correction) and
# checks the linearised multipliers on both sides of ρ = 1/b:
# `ssam-theory check --quick --only C19`, or `st.claims.run_checks(["C19"])`.
