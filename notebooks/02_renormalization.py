# %% [markdown]
# # Renormalization: γ and ‖g̃‖/‖g‖ along trajectories (C07)
#
# SSAM and NSSAM rescale the surrogate gradient g̃ = ∇f(w + e) by γ = ‖g‖/‖g̃‖. Claim C07: on a
# convex differentiable f, with e = c·∇f(w) (c ≥ 0, which covers both bases), ‖g̃‖ ≥ ‖g‖, so
# γ ≤ 1 everywhere and the authors' truncation γ ← min(1, γ) changes nothing; near saddles
# γ > 1 happens, and there truncation does change the iterates.
#
# We record γ and ‖g̃‖/‖g‖ at every step of many runs from random starts: two convex
# landscapes (a rotated quadratic and a logistic regression), two non-convex ones (the
# quadratic saddle ½(x² − y²) and Beale's function near its saddle (0, 1)).

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
STEPS = 60 if QUICK else 400  # steps per run
STARTS = 16 if QUICK else 256  # random starting points per landscape
LR, RHO = 0.02, 0.05  # η and ρ of every run (below 2/λ_max on all four landscapes)
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import data
from ssam_theory.plotting import PALETTE, RULE_STYLE, band, save_figure, use_style

use_style()
NB = "02_renormalization"
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## Landscapes and starting points

# %%
logistic = data.synthetic_logistic(seed=SEED)
landscapes = {
    "convex quadratic, λ = (10, 1, 0.1)": st.Quadratic.from_eigenvalues([10.0, 1.0, 0.1],
                                                                      seed=SEED),
    # fast=True: BLAS products (rounding-level differences from the default; 3x faster here)
    f"logistic regression (n = {logistic.n}, d = {logistic.d})": st.Logistic(
        logistic.X, logistic.y, fast=True),
    "quadratic saddle ½(x² − y²)": st.Quadratic(np.diag([1.0, -1.0])),
    "Beale, near the saddle (0, 1)": st.Beale(),
}
convex = list(landscapes)[:2]
nonconvex = list(landscapes)[2:]
starts = {
    name: (f.saddle + 0.05 * rng.standard_normal((STARTS, 2)) if isinstance(f, st.Beale)
           else rng.standard_normal((STARTS, f.dim)))
    for name, f in landscapes.items()
}

# %%
rules = ("ssam", "nssam")
runs = {(name, rule): st.run(st.optimizer(rule, lr=LR, rho=RHO), f, starts[name], STEPS,
                             record_loss=False)
        for name, f in landscapes.items() for rule in rules}
for (name, rule), tr in runs.items():
    print(f"{rule:>5} on {name:<40} max γ = {np.nanmax(tr.gamma):8.4f}   "
          f"min ‖g̃‖/‖g‖ = {np.nanmin(tr.ratio):8.4f}   steps with γ > 1: "
          f"{np.mean(tr.gamma > 1):6.1%}")

# %% [markdown]
# ## γ and ‖g̃‖/‖g‖ along the trajectories
#
# Lines: median over the starts; bands: 5–95 % of the starts; dotted: the largest γ over the
# starts at each step. The dashed line γ = 1 is C07's bound on convex landscapes.


# %%
def convex_figure(names, title):
    fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 5.6), sharex=True)
    for j, name in enumerate(names):
        for rule in rules:
            tr = runs[(name, rule)]
            steps = np.arange(STEPS)
            label = f"{RULE_STYLE[rule]['label']} median (band 5–95 %)"
            band(axes[0, j], steps, tr.ratio, label, rule=rule)
            band(axes[1, j], steps, tr.gamma, label, rule=rule)
            axes[1, j].plot(steps, np.nanmax(tr.gamma, axis=1), ":",
                            color=RULE_STYLE[rule]["color"],
                            label=f"measured: {RULE_STYLE[rule]['label']} max over starts")
        for ax in axes[:, j]:
            ax.axhline(1.0, color=PALETTE["black"], linestyle="--", linewidth=1.2,
                       label="theory (convex): γ ≤ 1, ‖g̃‖/‖g‖ ≥ 1")
        axes[0, j].set_title(name)
        axes[0, j].set_ylabel(r"$\|\tilde g\| / \|g\|$")
        axes[1, j].set_ylabel(r"$\gamma = \|g\| / \|\tilde g\|$")
        axes[1, j].set_xlabel(r"step $t$")
    axes[0, 0].legend(loc="best")
    axes[1, 0].legend(loc="best")
    fig.suptitle(title)
    return fig


fig = convex_figure(convex, f"Convex landscapes: γ ≤ 1 at every step (η = {LR}, "
                                     f"ρ = {RHO}, {STARTS} starts)")
save_figure(fig, NB, "convex")

# %% [markdown]
# Near saddles the picture changes: γ exceeds 1 (top: median, 5–95 % band and maximum over
# the starts), and a sizeable fraction of the starts sees γ > 1 at a given step (bottom). On
# Beale's function NSSAM is drawn into the saddle, where ‖g‖ → 0 while ‖g̃‖ stays near
# ρ|λ| — so γ → 0 there.

# %%
fig, axes = plt.subplots(2, 2, figsize=(8.4, 5.6), sharex=True)
for j, name in enumerate(nonconvex):
    for rule in rules:
        tr = runs[(name, rule)]
        steps = np.arange(STEPS)
        color = RULE_STYLE[rule]["color"]
        band(axes[0, j], steps, tr.gamma, f"{RULE_STYLE[rule]['label']} median (band 5–95 %)",
             rule=rule)
        axes[0, j].plot(steps, np.nanmax(tr.gamma, axis=1), ":", color=color,
                        label=f"measured: {RULE_STYLE[rule]['label']} max over starts")
        axes[1, j].plot(steps, np.mean(tr.gamma > 1, axis=1), color=color,
                        label=f"measured: {RULE_STYLE[rule]['label']}")
    axes[0, j].axhline(1.0, color=PALETTE["black"], linestyle="--", linewidth=1.2,
                       label="theory (convex only): γ ≤ 1")
    axes[0, j].set_yscale("log")
    axes[0, j].set_ylim(1e-2, None)
    axes[0, j].set_title(name)
    axes[0, j].set_ylabel(r"$\gamma = \|g\| / \|\tilde g\|$")
    axes[1, j].set_ylabel(r"fraction of starts with $\gamma > 1$")
    axes[1, j].set_ylim(-0.02, 1.02)
    axes[1, j].set_xlabel(r"step $t$")
axes[0, 0].legend(loc="upper right")
axes[1, 0].legend(loc="upper right")
fig.suptitle(f"Non-convex landscapes: γ > 1 near saddles (η = {LR}, ρ = {RHO}, "
             f"{STARTS} starts)")
save_figure(fig, NB, "nonconvex")

# %% [markdown]
# ## What truncation changes
#
# Run SSAM with and without `truncate=True` from the same starts and compare the iterates.
# On the convex landscapes γ never exceeds 1, so min(1, γ) = γ and the two runs agree bit for
# bit; near the saddles they part.

# %%
gaps = {}
pairs = {}
for name, f in landscapes.items():
    plain = st.run(st.optimizer("ssam", lr=LR, rho=RHO), f, starts[name], STEPS,
                   record_iterates=True, record_loss=False)
    clipped = st.run(st.optimizer("ssam", lr=LR, rho=RHO, truncate=True), f, starts[name],
                     STEPS, record_iterates=True, record_loss=False)
    diff = plain.iterates - clipped.iterates
    gaps[name] = np.max(np.sqrt(np.einsum("tbi,tbi->tb", diff, diff)), axis=1)
    pairs[name] = (plain, clipped)
    print(f"{name:<40} max over starts and steps of ‖w − w_trunc‖ = {gaps[name].max():.3g}")

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.6, 3.9))
colors = [PALETTE["blue"], PALETTE["green"], PALETTE["orange"], PALETTE["vermillion"]]
for (name, gap), color in zip(gaps.items(), colors):
    ax.plot(np.arange(gap.size), gap, color=color, label=f"measured: {name}")
ax.set_yscale("symlog", linthresh=1e-16)
ax.set_ylim(bottom=-1e-17)
ax.set_yticks([0, 1e-16, 1e-12, 1e-8, 1e-4, 1, 1e4])
ax.set_xlabel(r"step $t$")
ax.set_ylabel(r"$\max_{\mathrm{starts}} \|w_t - w_t^{\mathrm{trunc}}\|$")
ax.set_title("SSAM with vs without truncation\n(both convex landscapes: exactly 0 at every step)")
ax.legend(loc="center right")

for name, color in zip(nonconvex, colors[2:]):
    plain, clipped = pairs[name]
    saddle = getattr(landscapes[name], "saddle", np.zeros(2))
    for tr, style, kind in ((plain, "-", "SSAM"), (clipped, "--", "SSAM, truncated γ")):
        dist = np.linalg.norm(tr.iterates - saddle, axis=-1)
        ax2.plot(np.arange(STEPS + 1), np.median(dist, axis=1), style, color=color,
                 label=f"measured: {kind}, {name.split(',')[0].split(' ½')[0]}")
ax2.set_yscale("log")
ax2.set_xlabel(r"step $t$")
ax2.set_ylabel(r"median distance to the saddle $\|w_t - w_s\|$")
ax2.set_title("Near saddles γ > 1, so truncation shortens the steps")
ax2.legend(loc="best")
save_figure(fig, NB, "truncation")
