# %% [markdown]
# # Expansiveness and uniform stability (C08, C13)
#
# The paper bounds SAM's generalization error through uniform stability, and uniform stability
# through how much one step can pull two iterates apart — its *expansiveness*
# sup ‖G(w) − G(v)‖/‖w − v‖ (Hardt, Recht & Singer, arXiv:1509.01240).
#
# * C08: on ½ wᵀHw, GD's step expands by max|1 − ηλ|, USAM's by max|1 − η(λ + ρλ²)|; SAM's is
#   unbounded near the minimizer; SSAM's and NSSAM's are measured here.
# * C13: for SGD on convex, β-smooth, L-Lipschitz per-example losses with η ≤ 2/β, two data
#   sets differing in one example and a shared index sequence keep
#   ‖w_T − w′_T‖ ≤ 2ηL·#{t : i_t = i*}. We measure δ_T for every rule and its ratio to this
#   bound.

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
N_LR = 12 if QUICK else 60  # learning rates of the expansiveness curves
PAIRS = 64 if QUICK else 2000  # random pairs (w, v) per learning rate / distance
N_DIST = 8 if QUICK else 40  # distances to the minimizer
EIGENVALUES = [10.0, 4.0, 1.0]  # spectrum of the random quadratic
RHO = 0.05
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import linear, theory
from ssam_theory.plotting import (
    PALETTE,
    RULE_STYLE,
    measured,
    rule_label,
    save_figure,
    theory_line,
    use_style,
)

use_style()
NB = "04_expansiveness"
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## One-step expansiveness on a quadratic (C08)
#
# For each rule and η, `st.expansiveness` applies one step to pairs w, v = w + εu (u a random
# unit vector, ε = 10⁻⁶‖w‖, w at distance r from the minimizer) and returns
# ‖G(w) − G(v)‖/‖w − v‖ per pair; the largest over the pairs is a lower estimate of the local
# Lipschitz constant.


# %%
def pairs(n, radius):
    """n random points at distance `radius` from 0 and their ε-neighbours."""
    W = rng.standard_normal((n, len(EIGENVALUES)))
    W *= radius / np.linalg.norm(W, axis=1, keepdims=True)
    U = rng.standard_normal(W.shape)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return W, W + 1e-6 * radius * U


f = st.Quadratic.from_eigenvalues(EIGENVALUES, seed=SEED)
lam = np.array(EIGENVALUES)
lrs = np.linspace(0.005, 0.3, N_LR)
W, V = pairs(N_LR * PAIRS, 1.0)
lr_rows = np.repeat(lrs, PAIRS)
sup_lr = {rule: st.expansiveness(st.optimizer(rule, lr=lr_rows, rho=RHO), f, W, V)
          .reshape(N_LR, PAIRS).max(axis=1) for rule in st.RULES}

dists = np.geomspace(1e-4, 10.0, N_DIST)
Wd, Vd = zip(*(pairs(PAIRS, r) for r in dists))
Wd, Vd = np.concatenate(Wd), np.concatenate(Vd)
lr_fixed = 0.05
sup_dist = {rule: st.expansiveness(st.optimizer(rule, lr=lr_fixed, rho=RHO), f, Wd, Vd)
            .reshape(N_DIST, PAIRS).max(axis=1) for rule in st.RULES}

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.2))
for rule in st.RULES:
    measured(ax, lrs, sup_lr[rule], rule_label(rule), rule=rule, line=False)
lr_fine = np.linspace(lrs[0], lrs[-1], 400)
gd = np.max(theory.gd_expansiveness(lr_fine[:, None], lam[None, :]), axis=1)
usam = np.max(theory.usam_expansiveness(lr_fine[:, None], RHO, lam[None, :]), axis=1)
theory_line(ax, lr_fine, gd, "GD max|1 − ηλ|", color=RULE_STYLE["sgd"]["color"])
theory_line(ax, lr_fine, usam, "USAM max|1 − η(λ + ρλ²)|", color=RULE_STYLE["usam"]["color"])
ax.axhline(1.0, color=PALETTE["grey"], linewidth=0.8)
ax.set_yscale("log")
ax.set_xlabel(r"learning rate $\eta$")
ax.set_ylabel(r"$\sup\, \|G(w) - G(v)\| / \|w - v\|$")
ax.set_title(f"One step at ‖w‖ = 1, ρ = {RHO}, λ(H) = {tuple(EIGENVALUES)}")
ax.legend(loc="upper left", fontsize=7)

for rule in st.RULES:
    measured(ax2, dists, sup_dist[rule], rule_label(rule), rule=rule)
gd_fixed = np.max(theory.gd_expansiveness(lr_fixed, lam))
usam_fixed = np.max(theory.usam_expansiveness(lr_fixed, RHO, lam))
theory_line(ax2, dists, np.full_like(dists, gd_fixed), "GD (any distance)",
            color=RULE_STYLE["sgd"]["color"])
theory_line(ax2, dists, np.full_like(dists, usam_fixed), "USAM (any distance)",
            color=RULE_STYLE["usam"]["color"])
ax2.set_xscale("log")
ax2.set_yscale("log")
ax2.set_xlabel(r"distance to the minimizer $\|w\|$")
ax2.set_ylabel(r"$\sup\, \|G(w) - G(v)\| / \|w - v\|$")
ax2.set_title(f"η = {lr_fixed}: SAM's expansiveness grows without bound near the minimum")
ax2.legend(loc="upper right", fontsize=7)
save_figure(fig, NB, "one_step")

# %% [markdown]
# ## Parameter divergence on neighbouring data sets (C13)
#
# `linear.stability_experiment` trains every rule on S and on S′ (one example replaced) with
# the same index sequence (b = 1), from w₀ = 0, on four data sets, at learning rates in units
# of Hardt et al.'s threshold 2/β (β the per-example smoothness), ρ = 0.5/β. The bound
# 2ηL·#{t : i_t = i*} is `theory.hardt_bound` evaluated on the run's own index count.

# %%
config = linear.StabilityConfig.quick() if QUICK else linear.StabilityConfig.full()
stability = linear.stability_experiment(config)
for name, r in stability.items():
    print(f"{name:<24} n = {r.dataset['n']:4d}  d = {r.dataset['d']:3d}  "
          f"β_example = {r.beta_example:8.3f}  2/β = {r.hardt_max_lr:.4g}")

# %%
names = list(stability)
fig, axes = plt.subplots(2, len(names), figsize=(4.0 * len(names), 7.2))
for j, name in enumerate(names):
    r = stability[name]
    e = int(np.argmin(np.abs(r.lrs - 0.5 * r.hardt_max_lr)))  # η = 2/β · 0.5
    steps = np.arange(r.steps + 1)
    ax = axes[0, j]
    for i, rule in enumerate(r.rules):
        measured(ax, steps, r.delta[i, e].mean(axis=(0, 1)), f"{rule_label(rule)} mean δ_t",
                 rule=rule, marker=None, linewidth=2.4 - 0.4 * i)
    theory_line(ax, steps, r.bound[r.rules.index("sgd"), e].mean(axis=(0, 1)),
                "SGD bound 2ηL·#{i_t = i*} (mean)")
    ax.set_yscale("log")
    ax.set_xlabel(r"step $t$")
    ax.set_ylabel(r"$\delta_t = \|w_t - w'_t\|$")
    ax.set_title(f"{name}, η = {r.lrs[e] / r.hardt_max_lr:.2g}·2/β")
    if j == 0:
        ax.legend(loc="lower right", fontsize=6.5)

    ax = axes[1, j]
    worst = r.max_finite_ratio()  # NaN where every run of (rule, η) diverged
    for i, rule in enumerate(r.rules):
        measured(ax, r.lrs / r.hardt_max_lr, worst[i], f"{rule_label(rule)} max δ_T/bound",
                 rule=rule, markersize=7 - i)
    ax.axhline(1.0, color=PALETTE["black"], linestyle="--",
               label="theory: SGD's δ_T ≤ bound for η ≤ 2/β")
    ax.axvline(1.0, color=PALETTE["grey"], linestyle=":", label="η = 2/β")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel(r"$\eta\, /\, (2/\beta)$")
    ax.set_ylabel(r"$\max\ \delta_T \,/\, 2\eta L \#\{t: i_t = i^*\}$")
    if j == 0:
        ax.legend(loc="lower left", fontsize=6.5)
fig.suptitle(f"Coupled runs on neighbouring data sets ({config.steps} steps, b = 1, "
             f"{len(config.seeds)} seeds × {config.replacements} replaced examples; "
             "diverged runs omitted)")
save_figure(fig, NB, "divergence")
