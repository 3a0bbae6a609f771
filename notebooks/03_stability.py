# %% [markdown]
# # Stable learning rates on quadratics (C01–C06, C16, C17)
#
# On f(w) = ½ wᵀHw every rule's stability is a question about the top eigenvalue λ_max:
#
# * GD converges iff η < 2/λ_max (C01); USAM is GD on the curvature λ + ρλ², so it needs
#   η(λ_max + ρλ²_max) < 2 (C02);
# * SSAM (C03) and NSSAM (C06) keep GD's range η < 2/λ_max for every ρ;
# * SAM never reaches the minimizer: it settles into a 2-cycle ±c·v₁ (C04) whose gradient norm
#   puts λ₁ exactly at SAM's edge of stability (C05);
# * near the minimizer NSSAM creeps along flat directions at 1 − 2(λ_i/λ_max)² per step (C17).
#
# Every dashed curve is a formula of `ssam_theory.theory` (sympy, lambdified); every marker or
# solid line is measured from the package's update rules.

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
N_LR = 12 if QUICK else 90  # learning rates in the phase diagrams
N_RHO = 8 if QUICK else 60  # radii in the phase diagrams
SWEEP_STEPS = 300 if QUICK else 2000  # steps per configuration of the phase diagrams
CURVE_STEPS = 150 if QUICK else 400  # steps of the loss curves (C16) and the 2-cycle (C04)
FLAT_STEPS = 2000 if QUICK else 40000  # steps of NSSAM near the minimizer (C17)
EIGENVALUES = [10.0, 4.0, 1.0]  # spectrum of the random quadratic of the phase diagrams
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import theory
from ssam_theory.plotting import (
    PALETTE,
    RULE_STYLE,
    measured,
    outcome_handles,
    outcome_map,
    rule_label,
    save_figure,
    theory_line,
    use_style,
)

use_style()
NB = "03_stability"

# %% [markdown]
# ## Phase diagrams: outcome of every (η, ρ) for every rule
#
# A random rotation of the spectrum (10, 4, 1); each cell is one run from the same start.
# The sweep engine labels it converged, bounded (neither converged nor diverged: SAM's cycle)
# or diverged.

# %%
f = st.Quadratic.from_eigenvalues(EIGENVALUES, seed=SEED)
lam_max = max(EIGENVALUES)
lrs = np.linspace(0.004, 0.3, N_LR)
rhos = np.geomspace(1e-3, 1.0, N_RHO)
w0 = np.ones(f.dim)
sweeps = {rule: st.sweep(f, rule, lr=lrs, rho=rhos, steps=SWEEP_STEPS, seeds=1, w0=w0,
                       progress=False)
          for rule in st.RULES}

# %%
rho_line = np.geomspace(rhos[0], rhos[-1], 400)
boundary = {
    "sgd": (np.full_like(rho_line, theory.gd_max_lr(lam_max)), "η = 2/λ_max (C01)"),
    "sam": (np.full_like(rho_line, theory.gd_max_lr(lam_max)), "η = 2/λ_max"),
    "usam": (theory.usam_max_lr(lam_max, rho_line), "η(λ_max + ρλ²_max) = 2 (C02)"),
    "ssam": (np.full_like(rho_line, theory.gd_max_lr(lam_max)), "η = 2/λ_max (C03)"),
    "nssam": (np.full_like(rho_line, theory.gd_max_lr(lam_max)), "η = 2/λ_max (C06)"),
}
fig, axes = plt.subplots(2, 3, figsize=(12, 7.2), sharey=True)
for ax, rule in zip(axes.flat, st.RULES):
    sw = sweeps[rule]
    outcome_map(ax, sw.lr, sw.rho, sw.outcome[:, :, 0], st.Outcome, log_rho=True,
                legend=False)
    eta_line, text = boundary[rule]
    theory_line(ax, eta_line, rho_line, text, color=PALETTE["black"], linewidth=2)
    ax.set_xlim(lrs[0], lrs[-1])
    ax.set_title(rule_label(rule))
    ax.legend(loc="lower left", fontsize=7)
axes[1, 2].axis("off")
axes[1, 2].legend(handles=outcome_handles(["CONVERGED", "BOUNDED", "DIVERGED"]),
                  loc="center", title=f"outcome after {SWEEP_STEPS} steps")
fig.suptitle(f"Phase diagrams on ½ wᵀHw, H a random rotation of diag{tuple(EIGENVALUES)} "
             f"(SGD ignores ρ)")
save_figure(fig, NB, "phase_diagrams")

# %% [markdown]
# The largest stable learning rate at each ρ, read off the sweeps (the largest η of the grid
# that did not diverge), against the theory.

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for size, rule in zip([10, 8, 6, 5, 3], st.RULES):  # nested sizes: coinciding sets stay visible
    sw = sweeps[rule]
    stable = sw.outcome[:, :, 0] != st.Outcome.DIVERGED
    top = np.array([sw.lr[s].max() if s.any() else np.nan for s in stable.T])
    measured(ax, sw.rho, top, rule_label(rule), rule=rule, line=False, markersize=size,
             markerfacecolor="none" if size > 6 else None)
theory_line(ax, rho_line, theory.usam_max_lr(lam_max, rho_line),
            "USAM η = 2/(λ_max + ρλ²_max)", color=RULE_STYLE["usam"]["color"])
theory_line(ax, rho_line, np.full_like(rho_line, theory.gd_max_lr(lam_max)),
            "GD, SSAM, NSSAM η = 2/λ_max")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel(r"radius $\rho$")
ax.set_ylabel(r"largest stable learning rate $\eta_{\max}$")
ax.set_title(f"Stable range on ½ wᵀHw, λ_max = {lam_max:g} (grid step "
             f"{lrs[1] - lrs[0]:.3f} in η)")
ax.legend(loc="lower left")
save_figure(fig, NB, "max_lr")

# %% [markdown]
# ## Loss curves at several learning rates (C16)
#
# H = diag(10, 1), ρ = 0.1: USAM is stable only for η < 2/(λ + ρλ²) = 0.1. SSAM converges up
# to GD's 2/λ = 0.2; SAM stalls at the loss of its 2-cycle, λ₁c²/2 (C04).

# %%
f2 = st.Quadratic(np.diag([10.0, 1.0]))
lam1, rho2 = 10.0, 0.1
curve_lrs = [0.05, 0.15, 0.19]
fig, axes = plt.subplots(1, len(curve_lrs), figsize=(13, 3.8), sharey=True)
for ax, lr in zip(axes, curve_lrs):
    for rule in st.RULES:
        tr = st.run(st.optimizer(rule, lr=lr, rho=rho2), f2, np.array([1.0, 1.0]), CURVE_STEPS)
        steps = np.arange(CURVE_STEPS + 1)
        loss = np.where(tr.loss > 0, tr.loss, np.nan)
        label = rule_label(rule) + (" (diverged)" if tr.diverged else "")
        measured(ax, steps, loss, label, rule=rule, marker=None)
    floor = theory.sam_loss_floor(lr, rho2, lam1)
    theory_line(ax, [0, CURVE_STEPS], [floor, floor], "SAM floor λ₁c²/2 (C04)",
                color=RULE_STYLE["sam"]["color"])
    ax.set_yscale("log")
    ax.set_ylim(1e-30, 1e4)
    ax.set_xlabel(r"step $t$")
    ax.set_title(f"η = {lr} (USAM limit {theory.usam_max_lr(lam1, rho2):.2f}, "
                 f"GD limit {theory.gd_max_lr(lam1):.2f})")
axes[0].set_ylabel(r"loss $f(w_t)$")
axes[0].legend(loc="lower left", fontsize=7)
fig.suptitle(f"Loss curves on ½ wᵀ diag(10, 1) w, ρ = {rho2}")
save_figure(fig, NB, "loss_curves")

# %% [markdown]
# ## SAM's 2-cycle (C04) and its edge of stability (C05)
#
# Left: the component of w along the top eigenvector v₁ flips sign every step and settles at
# ±c, c = ηρλ₁/(2 − ηλ₁). Right: the amplitude of the limit cycle over a range of η, measured
# and predicted.

# %%
cycle_lrs = np.linspace(0.02, 0.195, 8 if QUICK else 36)
sam = st.run(st.optimizer("sam", lr=cycle_lrs, rho=rho2), f2, np.array([1.0, 1.0]),
             CURVE_STEPS, record_iterates=True)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
shown = [int(np.argmin(np.abs(cycle_lrs - x))) for x in (0.06, 0.12, 0.18)]
colors = [PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"]]
for k, color in zip(shown, colors):
    lr = cycle_lrs[k]
    steps = np.arange(CURVE_STEPS + 1)
    ax.plot(steps, sam.iterates[:, k, 0], color=color, linewidth=0.8, marker=".",
            label=f"measured: η = {lr:.3f}")
    c = theory.sam_cycle_amplitude(lr, rho2, lam1)
    ax.axhline(c, color=color, linestyle="--", linewidth=1.2, label=f"theory: ±c, η = {lr:.3f}")
    ax.axhline(-c, color=color, linestyle="--", linewidth=1.2)
ax.set_xlim(0, 40)
ax.set_ylim(-1.05, 1.05)
ax.set_xlabel(r"step $t$")
ax.set_ylabel(r"$w_t \cdot v_1$")
ax.set_title(f"SAM on diag(10, 1), ρ = {rho2}: the top component")
ax.legend(loc="upper right", fontsize=7, ncol=2)

amplitude = np.abs(sam.final[:, 0])
lr_fine = np.linspace(cycle_lrs[0], cycle_lrs[-1], 300)
measured(ax2, cycle_lrs, amplitude, "|w_T · v₁| after the run", rule="sam", line=False)
theory_line(ax2, lr_fine, theory.sam_cycle_amplitude(lr_fine, rho2, lam1),
            "c = ηρλ₁/(2 − ηλ₁)")
ax2.set_yscale("log")
ax2.set_xlabel(r"learning rate $\eta$")
ax2.set_ylabel(r"cycle amplitude $c$")
ax2.set_title(f"Amplitude of SAM's 2-cycle ({CURVE_STEPS} steps)")
ax2.legend(loc="upper left")
save_figure(fig, NB, "sam_cycle")

# %% [markdown]
# SAM's edge of stability λ_edge(η, ρ, ‖g‖) — the positive root of ηλ + ηρλ²/‖g‖ = 2 —
# evaluated at the gradient norm measured along each SAM trajectory. It sinks from near 2/η
# towards λ₁ and stays there: at the 2-cycle λ₁ sits exactly on SAM's edge (C05).

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9))
for k, color in zip(shown, colors):
    lr = cycle_lrs[k]
    edge = theory.sam_edge(lr, rho2, sam.grad_norm[:, k])
    ax.plot(np.arange(CURVE_STEPS), edge, color=color,
            label=f"measured: λ_edge(η, ρ, ‖g_t‖), η = {lr:.3f}")
    # GD's edge curvature 2/η is gd_max_lr's formula 2/x read at x = η
    ax.axhline(theory.gd_max_lr(lr), color=color, linestyle=":", linewidth=1,
               label=f"2/η, η = {lr:.3f}")
ax.axhline(lam1, color=PALETTE["black"], linestyle="--", label="theory: λ₁ = 10 (C05)")
ax.set_yscale("log")
ax.set_xlabel(r"step $t$")
ax.set_ylabel(r"$\lambda_{\mathrm{edge}}$")
ax.set_title("SAM's edge along its trajectories")
ax.legend(loc="upper right", fontsize=7)

edge_end = theory.sam_edge(cycle_lrs, rho2, sam.grad_norm[-1])
measured(ax2, cycle_lrs, edge_end, "λ_edge at the final ‖g‖", rule="sam", line=False)
theory_line(ax2, lr_fine, np.full_like(lr_fine, lam1), "λ₁ (edge at the 2-cycle, C05)")
ax2.plot(lr_fine, theory.gd_max_lr(lr_fine), ":", color=PALETTE["grey"], label="2/η (GD's edge)")
ax2.set_yscale("log")
ax2.set_xlabel(r"learning rate $\eta$")
ax2.set_ylabel(r"$\lambda_{\mathrm{edge}}$")
ax2.set_title("At the cycle, λ₁ is exactly on SAM's edge")
ax2.legend(loc="upper right")
save_figure(fig, NB, "sam_edge")

# %% [markdown]
# ## NSSAM along flat directions (C17)
#
# Close to the minimizer (‖w‖ ≪ ρ) NSSAM's step no longer depends on η or ρ along the flat
# directions: the component along eigenvalue λ_i shrinks by 1 − 2(λ_i/λ_max)² per step — much
# slower than GD's 1 − ηλ_i. We plot the measured per-step rate 1 − w_i(t+1)/w_i(t) against
# the distance ‖w_t‖/ρ, for three learning rates.

# %%
flat_lrs = np.array([0.05, 0.1, 0.19])
rho3 = 0.05
fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), sharey=False)
for ax, lam_flat, steps in zip(axes, [0.1, 1.0], [FLAT_STEPS, FLAT_STEPS // 20]):
    # the λ_i = 1 direction contracts 100 times faster: fewer steps before underflow
    f3 = st.Quadratic(np.diag([lam1, lam_flat]))
    tr = st.run(st.optimizer("nssam", lr=flat_lrs, rho=rho3), f3, np.array([0.03, 1.0]),
                steps, record_iterates=True)
    its = tr.iterates
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = 1 - its[1:, :, 1] / its[:-1, :, 1]
    dist = np.linalg.norm(its[:-1], axis=-1) / rho3
    for k, color in zip(range(flat_lrs.size), colors):
        ax.plot(dist[:, k], rate[:, k], color=color, label=f"measured: η = {flat_lrs[k]}")
        ax.axhline(1 - theory.gd_expansiveness(flat_lrs[k], lam_flat), color=color,
                   linestyle=":", linewidth=1, label=f"GD's rate ηλ_i, η = {flat_lrs[k]}")
    ax.axhline(1 - theory.nssam_contraction(lam_flat, lam1), color=PALETTE["black"],
               linestyle="--", label="theory: 2(λ_i/λ_max)² (C17)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"distance to the minimizer $\|w_t\| / \rho$")
    ax.set_ylabel(r"rate $1 - w_{t+1,i} / w_{t,i}$")
    ax.set_title(f"NSSAM on diag({lam1:g}, {lam_flat:g}), ρ = {rho3}, direction λ_i = "
                 f"{lam_flat:g}")
    ax.legend(loc="center right", fontsize=7)
save_figure(fig, NB, "nssam_flat")
