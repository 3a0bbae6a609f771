# %% [markdown]
# # Saddles (C09–C12b)
#
# * C09: on f = ½(ax² − by²), USAM multiplies y by 1 − ηb(ρb − 1) per step: the saddle
#   *attracts* iff ρ > 1/b and ηb(ρb − 1) < 2.
# * C10: deterministic SAM's step points back toward a strict saddle wherever
#   ‖∇f(w)‖ < ρ|λ_neg|; for η ≤ 1/|λ_neg| the segment |y| ≤ ρ is a trap.
# * C11a–c: the paper says SSAM "mitigates getting stuck at saddles". γ > 0 keeps the
#   direction of USAM's step, so only the step length changes. C11a: the (η, ρ) attraction
#   diagrams of all five rules, SSAM's predicted from USAM's; C11b: paired escape times where
#   the saddle does not attract; C11c: escape times on a saddle with quartic walls as ρ
#   crosses 1/b and the noise grows.
# * C12: with gradient noise SAM's mean-square displacement along the negative curvature
#   trails SGD's by 2ηt²|λ|³ρ/B (Kim et al.), in their setting where SAM's noise is SGD's; with
#   the same minibatch for both gradients the gap is O(t) (C12b). Escape times of all rules
#   versus noise.
#
# Outcomes come from `st.sweep(..., saddle=s)`: *escaped* (left the ball ‖w − s‖ ≤ R
# downhill, f(w) < f(s), and nothing blew up), *diverged* (left uphill or blew up, including
# along a positive-curvature direction), *trapped* (ended within 10⁻³ of s), *bounded*
# (stayed in the ball: e.g. SAM circling the saddle).

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
# The phase diagrams and the C11a–c figures plot the claims' own runs
# (`ssam_theory.claims.escape`, quick or full settings): inside `ssam-theory reproduce` they
# are computed once, by whichever of this notebook and the claim checks gets there first.
PATH_STEPS = 300 if QUICK else 3000  # steps of the Beale paths
TRAP_STEPS = 200 if QUICK else 600  # steps of the SAM trap runs (C10)
# noisy runs for the MSD (C12): 5000 put the ±2 SE band of the gap within ±4% of it,
# invisible on the log axes
MSD_SEEDS = 1000 if QUICK else 5000
ESCAPE_RUNS = 100 if QUICK else 500  # runs per rule and noise level for escape times (C12)
# step budget of the escape runs: every run that escapes at all does so within ~600 steps
ESCAPE_STEPS = 600 if QUICK else 1000

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import theory
from ssam_theory.claims.escape import attraction, escape_speed, noise_escape, saddle_cases
from ssam_theory.diffusion import saddle_msd_settings
from ssam_theory.escape import predicted_outcome
from ssam_theory.plotting import (
    PALETTE,
    RULE_STYLE,
    outcome_handles,
    outcome_map,
    phase_diagram,
    rule_label,
    save_figure,
    theory_contour,
    theory_line,
    use_style,
)

use_style()
NB = "05_saddles"


# %% [markdown]
# ## Attraction phase diagrams on the quadratic saddle ½(x² − y²) (C09, C10, C11)
#
# C11a's runs: starts w₀ = 0.1·z, z ~ N(0, I), around the saddle, the same for every rule
# and cell; colour: fraction of the starts that escaped. Dashed: C09's USAM boundaries
# |1 − ηb(ρb − 1)| = 1 (y attracted inside) and |1 − η(a + ρa²)| = 1 (x unstable to the
# right), and C10's SAM trap limit η = 1/b.

# %%
c11a = attraction(quick=QUICK)  # {landscape: outcome fractions per rule over (η, ρ)}

# %%
def overlay(ax, rule, lr_fine, rho_fine, a, b):
    """The analytic boundaries of `ssam_theory.theory` that apply to `rule`."""
    L, R = np.meshgrid(lr_fine, rho_fine, indexing="ij")
    if rule in ("usam", "ssam", "nssam"):
        theory_contour(ax, lr_fine, rho_fine, np.abs(theory.usam_saddle_multiplier(L, R, b)),
                       1.0, "USAM: y attracted, |1 − ηb(ρb − 1)| < 1 (C09)",
                       color=PALETTE["orange"])
        theory_contour(ax, lr_fine, rho_fine, theory.usam_expansiveness(L, R, a), 1.0,
                       "USAM: x stable, |1 − η(a + ρa²)| < 1", color=PALETTE["purple"])
    if rule == "sam":
        eta_trap = theory.sam_trap_max_lr(b)
        theory_line(ax, [eta_trap, eta_trap], [rho_fine[0], rho_fine[-1]],
                    "SAM trap for η ≤ 1/b (C10)", color=PALETTE["orange"], linewidth=1.8)
    if rule in ("sgd", "sam", "ssam", "nssam"):
        gd = theory.gd_max_lr(a)
        theory_line(ax, [gd, gd], [rho_fine[0], rho_fine[-1]], "GD: x stable, η < 2/a",
                    color=PALETTE["purple"], linestyle=":")


def phase_figure(e, title, a, b):
    """Escaped fraction of every rule over C11a's (η, ρ) grid ``e``, with the boundaries."""
    fig, axes = plt.subplots(2, 3, figsize=(12.5, 7.4), sharex=True, sharey=True)
    lr, rho = np.asarray(e["lr"]), np.asarray(e["rho"])
    lr_fine = np.geomspace(lr[0], lr[-1], 400)
    rho_fine = np.geomspace(rho[0], rho[-1], 400)
    for ax, rule in zip(axes.flat, st.RULES):
        mesh = phase_diagram(ax, lr, rho, e["fractions"][rule]["escaped"], log_lr=True,
                             log_rho=True)
        overlay(ax, rule, lr_fine, rho_fine, a, b)
        ax.minorticks_off()  # log axes: decades suffice and draw much faster
        ax.set_xlim(lr[0], lr[-1])
        ax.set_ylim(rho[0], rho[-1])
        ax.set_title(rule_label(rule))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left", fontsize=6.5)
    axes[1, 2].axis("off")
    fig.colorbar(mesh, ax=axes[1, 2], location="left", fraction=0.5,
                 label=f"measured: fraction of {e['seeds']} starts that escaped")
    fig.suptitle(title)
    return fig


quad = c11a["½(x²−y²)"]
fig = phase_figure(quad, f"Escape from the saddle of ½(x² − y²) within {quad['steps']} steps "
                         f"(C11a's runs)", 1.0, 1.0)
save_figure(fig, NB, "quadratic_phase")

# %% [markdown]
# ## SAM's trap (C10)
#
# SAM's step points back toward the saddle wherever ‖∇f(w)‖ < ρ|λ_neg|: on ½(ax² − by²) the
# ellipse with semi-axes ρb/a along x and ρ along y. Along the negative-curvature direction
# alone (x = 0) SAM's map is the tent map |y'| = |(1 + ηb)|y| − ηρb|, which keeps |y| ≤ ρ for
# ever iff η ≤ 1/b. Left: |y_t|/ρ from y₀ = 0.3ρ, x₀ = 0. Right: which starts (x₀, y₀) are
# still in the unit ball after the run, against the theoretical ellipse.

# %%
trap_rho = 0.2
a, b = 1.0, 1.0
quad = st.Quadratic(np.diag([a, -b]))
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
trap_lrs = np.array([0.5, 0.9, 1.0, 1.2])
tr = st.run(st.optimizer("sam", lr=trap_lrs, rho=trap_rho), quad,
            np.array([0.0, 0.3 * trap_rho]), TRAP_STEPS, record_iterates=True,
            record_loss=False)
colors = [PALETTE["blue"], PALETTE["green"], PALETTE["orange"], PALETTE["vermillion"]]
for k, color in enumerate(colors):
    side = "≤" if trap_lrs[k] <= theory.sam_trap_max_lr(b) else ">"
    ax.plot(np.abs(tr.iterates[:, k, 1]) / trap_rho, color=color, linewidth=0.9,
            label=f"measured: η = {trap_lrs[k]} ({side} 1/b)")
ax.axhline(theory.sam_trap_radius(trap_rho, b, b) / trap_rho, color=PALETTE["black"],
           linestyle="--", label="theory: trap edge |y| = ρ (C10)")
ax.set_yscale("log")
ax.set_ylim(1e-3, 1e2)
ax.set_xlim(0, min(TRAP_STEPS, 200))
ax.set_xlabel(r"step $t$")
ax.set_ylabel(r"$|y_t| / \rho$")
ax.set_title(f"SAM on ½(x² − y²) along y, ρ = {trap_rho}")
ax.legend(loc="upper right", fontsize=7)

n_grid = 41 if QUICK else 101  # starts per axis (grid step 0.06ρ: the ellipse stays sharp)
grid = np.linspace(-3 * trap_rho, 3 * trap_rho, n_grid)
X0, Y0 = np.meshgrid(grid, grid, indexing="ij")
starts_grid = np.stack([X0.ravel(), Y0.ravel()], axis=1)
tr = st.run(st.optimizer("sam", lr=0.5, rho=trap_rho), quad, starts_grid, TRAP_STEPS,
            record_loss=False)
inside = (~tr.diverged) & (np.linalg.norm(tr.final, axis=1) <= 1.0)
ax2.pcolormesh(grid, grid, inside.reshape(n_grid, n_grid).T.astype(float), cmap="cividis",
               vmin=0, vmax=1, shading="nearest", rasterized=True)
theta = np.linspace(0, 2 * np.pi, 300)
rx, ry = theory.sam_trap_radius(trap_rho, b, a), theory.sam_trap_radius(trap_rho, b, b)
ax2.plot(rx * np.cos(theta), ry * np.sin(theta), "--", color=PALETTE["orange"], linewidth=2,
         label="theory: ‖∇f(w)‖ = ρ|λ_neg| (C10)")
ax2.plot([], [], "s", color=plt.get_cmap("cividis")(1.0),
         label=f"measured: start still within ‖w‖ ≤ 1 after {TRAP_STEPS} steps")
ax2.plot([], [], "s", color=plt.get_cmap("cividis")(0.0), label="measured: start escaped")
ax2.set_aspect("equal")
ax2.grid(False)
ax2.set_xlabel(r"$x_0$")
ax2.set_ylabel(r"$y_0$")
ax2.set_title(f"SAM, η = 0.5 ≤ 1/b, ρ = {trap_rho}: which starts stay")
ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=7)
save_figure(fig, NB, "sam_trap")

# %% [markdown]
# ## Beale's function (C11)
#
# Beale's saddle (0, 1) has Hessian eigenvalues ±27.75. C11a's runs: starts
# (0, 1) + 0.1·z. Dashed: the quadratic-saddle boundaries of C09 with a = b = 27.75 (the
# local curvature).

# %%
beale = st.Beale()
lam_neg, lam_pos = np.linalg.eigvalsh(beale.hessian(beale.saddle))
fig = phase_figure(c11a["Beale"], f"Escape from Beale's saddle (0, 1) within "
                                  f"{c11a['Beale']['steps']} steps (C11a's runs)",
                   lam_pos, -lam_neg)
save_figure(fig, NB, "beale_phase")

# %%
lr_path, rho_path = 0.01, 0.05
start_b = beale.saddle + np.array([0.05, -0.03])
xs, ys = np.meshgrid(np.linspace(-1.0, 3.5, 300), np.linspace(-0.5, 1.6, 300))
zs = beale.loss(np.stack([xs.ravel(), ys.ravel()], axis=1)).reshape(xs.shape)
fig, ax = plt.subplots(figsize=(7.2, 4.6))
ax.contour(xs, ys, np.log10(zs + 1e-3), levels=25, colors=PALETTE["grey"], linewidths=0.5)
for rule in st.RULES:
    tr = st.run(st.optimizer(rule, lr=lr_path, rho=rho_path), beale, start_b, PATH_STEPS,
                record_iterates=True, record_loss=False)
    path = tr.iterates
    ax.plot(path[:, 0], path[:, 1], color=RULE_STYLE[rule]["color"],
            label=f"measured: {rule_label(rule)}, ends at ({path[-1, 0]:.2f}, "
                  f"{path[-1, 1]:.2f})")
ax.plot(*beale.saddle, "kx", markersize=9, label="saddle (0, 1)")
ax.plot(*beale.minimizer, "k*", markersize=10, label="minimum (3, 0.5)")
ax.set_xlabel(r"$x$")
ax.set_ylabel(r"$y$")
ax.set_title(f"Beale from ({start_b[0]:.2f}, {start_b[1]:.2f}), η = {lr_path}, "
             f"ρ = {rho_path}, {PATH_STEPS} steps")
ax.legend(loc="lower left", fontsize=7)
save_figure(fig, NB, "beale_paths")

# %% [markdown]
# ## Gradient noise: mean-square displacement and escape times (C12)
#
# `st.NoisyQuadratic(diag(1, −|λ|), n, σ)`: per-example losses ½wᵀHw + ξ_iᵀw with centred tilts
# of variance σ² = 2|λ| per coordinate, so a minibatch of B examples adds noise of variance
# s = 2|λ|/B per step (covariance ∝ |H|/B). Start at the saddle; SGD and USAM share every
# minibatch (common random numbers). `st.saddle_msd` runs two noise settings
# (`ssam_theory.diffusion`):
#
# * **same minibatch** (the package's rules): both gradients of USAM's step see the minibatch,
#   so its noise
#   is scaled by (1 − ρ|λ|) as well as its drift (`theory.usam_saddle_msd`);
# * **Kim's setting**: perturbation from the full gradient, descent gradient with SGD's
#   minibatch noise, so SAM's noise is SGD's and only the drift differs
#   (`theory.usam_saddle_msd_kim`).
#
# Kim et al. (Thm 2): SAM's MSD along −|λ| trails SGD's by 2ηt²|λ|³ρ/B for small t. In their
# setting the gap is O(t²) and follows that formula; with the same minibatch it is O(t)
# (≈ 2ρ|λ|ηs·t), larger by a factor ≈ 2/(|λ|t) at small t. Log-log axes: slope 1 versus 2.
# Kim's formula is the continuous-time leading term: after k steps the exact gap is
# ηsρλ²t(t − η) + O(ηt³), below it by the factor 1 − 1/k at the first steps and above it once
# |λ|t is no longer small. The C12 check compares at |λ|t = 0.002 after 200–400 steps, where
# both corrections are below the standard error.

# %%
lam, lr_n, rho_n, batch = 1.0, 1e-3, 0.1, 4
sigma2 = 2 * lam  # per-example noise variance 2|λ| along v_neg: s = 2|λ|/B per step
noise = sigma2 / batch
K = 1000  # t = kη up to 1
noisy = st.NoisyQuadratic(np.diag([1.0, -lam]), n=256, sigma=np.sqrt(sigma2), seed=12)
idx = st.minibatch_indices(noisy.n, batch, K, seed=1200, rows=MSD_SEEDS)
sgd_n = st.optimizer("sgd", lr=lr_n)
usam_n = st.optimizer("usam", lr=lr_n, rho=rho_n)
msd = saddle_msd_settings(sgd_n, usam_n, noisy, idx)  # {setting: st.SaddleMSD}, SGD run once
k = np.arange(1, K + 1)  # measured curves: entry k of each SaddleMSD array, k = 1..K
t = k * lr_n
exact_msd = {"same_minibatch": theory.usam_saddle_msd(lr_n, rho_n, lam, noise, k),
             "kim": theory.usam_saddle_msd_kim(lr_n, rho_n, lam, noise, k)}
sgd_msd = theory.sgd_saddle_msd(lr_n, lam, noise, k)
label = {"same_minibatch": "same minibatch", "kim": "Kim's setting"}
color = {"same_minibatch": PALETTE["vermillion"], "kim": PALETTE["blue"]}

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
every = slice(K // 25 - 1, K, K // 25)
ax.plot(t[every], msd["kim"].msd_sgd[1:][every], "o", color=RULE_STYLE["sgd"]["color"],
        markersize=3, label=f"measured: SGD E y_t² ({MSD_SEEDS} runs)")
theory_line(ax, t, sgd_msd, "SGD (exact)", color=RULE_STYLE["sgd"]["color"])
for setting in st.NOISE_SETTINGS:
    ax.plot(t[every], msd[setting].msd_sam[1:][every], "^", color=color[setting], markersize=3,
            label=f"measured: USAM, {label[setting]}")
    theory_line(ax, t, exact_msd[setting], f"USAM, {label[setting]} (exact)", color=color[setting])
ax.set_xlabel(r"time $t = k\eta$")
ax.set_ylabel(r"mean-square displacement $\mathbb{E}\, y_t^2$")
ax.set_title(f"From the saddle of ½(x² − |λ|y²), η = {lr_n}, ρ = {rho_n}, B = {batch}")
ax.legend(loc="upper left", fontsize=7)

show = slice(1, K)  # k ≥ 2: the Kim-setting gap is exactly 0 at k = 1 (y_1 = −ηξ_0 for both)
for setting in st.NOISE_SETTINGS:
    g, se = msd[setting].gap[1:][show], msd[setting].gap_se[1:][show]
    ax2.fill_between(t[show], g - 2 * se, g + 2 * se, color=color[setting], alpha=0.25,
                     linewidth=0)
    ax2.plot(t[show], g, color=color[setting],
             label=f"measured: MSD_SGD − MSD_USAM, {label[setting]} (± 2 SE)")
theory_line(ax2, t[show], (sgd_msd - exact_msd["same_minibatch"])[show],
            "same minibatch, exact (O(t))", color=PALETTE["black"], linestyle=":")
theory_line(ax2, t[show], (sgd_msd - exact_msd["kim"])[show], "Kim's setting, exact",
            color=PALETTE["black"])
theory_line(ax2, t[show], theory.kim_msd_gap(lr_n, t[show], lam, rho_n, batch),
            "Kim et al. 2ηt²|λ|³ρ/B (C12)", color=PALETTE["orange"], linestyle="-.")
ax2.set_xscale("log")
ax2.set_yscale("log")
ax2.set_xlabel(r"time $t = k\eta$")
ax2.set_ylabel(r"MSD gap")
ax2.set_title("SAM trails SGD: O(t²) as Kim et al. in their setting, O(t) with one minibatch")
ax2.legend(loc="upper left", fontsize=7)
save_figure(fig, NB, "msd")

# %% [markdown]
# Escape times: the first step at which ‖w‖ > 1, from the saddle, for every rule at three
# noise levels (η = 0.05, ρ = 0.5, B = 4); curves are the fraction of runs escaped by step t.

# %%
noise_levels = (0.02, 0.2, 2.0)
fig, axes = plt.subplots(1, len(noise_levels), figsize=(13, 3.9), sharey=True)
for ax, s2 in zip(axes, noise_levels):
    g = st.NoisyQuadratic(np.diag([1.0, -lam]), n=256, sigma=np.sqrt(s2), seed=13)
    ids = st.minibatch_indices(g.n, batch, ESCAPE_STEPS, seed=1300, rows=ESCAPE_RUNS)
    for rule in st.RULES:
        tr = st.run(st.optimizer(rule, lr=np.full(ESCAPE_RUNS, 0.05),
                                 rho=np.full(ESCAPE_RUNS, 0.5)),
                    g, np.zeros((ESCAPE_RUNS, 2)), ESCAPE_STEPS, indices=ids,
                    divergence_norm=1.0, record_loss=False)
        when = np.sort(np.where(tr.diverged, tr.diverged_at + 1, np.inf))
        frac = np.arange(1, ESCAPE_RUNS + 1) / ESCAPE_RUNS
        ax.step(np.concatenate([[0], when[np.isfinite(when)]]),
                np.concatenate([[0], frac[np.isfinite(when)]]), where="post",
                color=RULE_STYLE[rule]["color"],
                label=f"measured: {rule_label(rule)}, median "
                      f"{np.median(when):.0f}" if np.isfinite(np.median(when))
                      else f"measured: {rule_label(rule)}, median > {ESCAPE_STEPS}")
    ax.set_xscale("log")
    ax.set_xlim(10, ESCAPE_STEPS)
    ax.set_xlabel(r"escape step $t$ (first $\|w_t\| > 1$)")
    ax.set_title(f"noise variance σ² = {s2} per example")
    ax.legend(loc="upper left", fontsize=7)
axes[0].set_ylabel(f"fraction of {ESCAPE_RUNS} runs escaped")
save_figure(fig, NB, "escape_times")


# %% [markdown]
# ## C11a: attraction, escape and divergence told apart
#
# Colour: the majority outcome of the starts s + 0.1R·z in each cell. Dashed: the predicted
# boundaries of `ssam_theory.escape.predicted_outcome` from the local curvatures a, b at the
# saddle: USAM is held iff ρb > 1, ηb(ρb − 1) < 2, η(a + ρa²) < 2; SSAM keeps USAM's
# direction condition ρb > 1 with GD's step lengths (ηb < 2, ηa < 2), and, where it leaves,
# its γ = 1/|ρb − 1| drags x along (escaped iff |1 − ηa(1 + ρa)/|ρb − 1|| < 1).

# %%
outcome_order = ("escaped", "diverged", "trapped", "bounded", "converged")
codes_of = {name: int(st.Outcome[name.upper()]) for name in outcome_order}
cases = saddle_cases()
fig, axes = plt.subplots(len(cases), 5, figsize=(17, 3.3 * len(cases)), sharey="row")
for row, (label, *_) in zip(axes, cases):
    e = c11a[label]
    lrs, rhos, a, b = np.asarray(e["lr"]), np.asarray(e["rho"]), e["a"], e["b"]
    L, R = np.meshgrid(np.geomspace(lrs[0], lrs[-1], 300), np.geomspace(rhos[0], rhos[-1], 300),
                       indexing="ij")
    for ax, rule in zip(row, st.RULES):
        fr = np.stack([e["fractions"][rule][k] for k in outcome_order])
        codes = np.choose(fr.argmax(axis=0), [codes_of[k] for k in outcome_order])
        outcome_map(ax, lrs, rhos, codes, st.Outcome, log_lr=True, log_rho=True, legend=False)
        ax.minorticks_off()
        if rule in ("usam", "ssam"):
            pred = predicted_outcome(rule, L, R, a, b)
            theory_contour(ax, L[:, 0], R[0], (pred == st.Outcome.TRAPPED).astype(float), 0.5,
                           f"{rule_label(rule)} held", color=PALETTE["black"])
            theory_contour(ax, L[:, 0], R[0], (pred == st.Outcome.DIVERGED).astype(float), 0.5,
                           f"{rule_label(rule)} diverges", color=PALETTE["purple"])
            ax.legend(loc="lower left", fontsize=6.5)
        ax.set_title(f"{label}: {rule_label(rule)}")
fig.legend(handles=outcome_handles(["ESCAPED", "DIVERGED", "TRAPPED", "BOUNDED", "CONVERGED"]),
           loc="outside lower center", ncol=5)
e = c11a[cases[0][0]]
fig.suptitle(f"Majority outcome of {e['seeds']} starts, {e['steps']} steps (C11a)")
save_figure(fig, NB, "attraction")

# %% [markdown]
# ## C11b: paired escape times where the saddle does not attract
#
# Four of C11b's settings, from its own runs (every setting's test is in the claims report):
# the same starts (and, with noise, the same minibatches) for every rule; each dot is one
# start. Below the dashed diagonal the renormalized rule left sooner. A start that did not
# escape within the budget sits at budget + 1.

# %%
c11b = escape_speed(quick=QUICK)
budget = c11b["budget"]
shown = ("½(x²−y²), ρb=0.5", "Beale, ρb=0.5", "noisy quartic walls σ=0.1 B=4, ρb=0.5",
         "noisy ½(x²−y²) σ=0.1 B=4, ρb=0.05")
fig, axes = plt.subplots(1, len(shown), figsize=(16, 4.2))
for ax, label in zip(axes, shown):
    setting = c11b["settings"][label]
    for (a_, b_), marker in ((("ssam", "usam"), "o"), (("nssam", "sam"), "s")):
        ta, tb = np.asarray(setting["steps"][a_]), np.asarray(setting["steps"][b_])
        ax.plot(tb, ta, marker, color=RULE_STYLE[a_]["color"], markersize=3.5, alpha=0.7,
                linestyle="none", label=f"measured: {rule_label(a_)} vs {rule_label(b_)} "
                                        f"(median {np.median(ta):.0f} vs {np.median(tb):.0f})")
    theory_line(ax, [1, budget + 1], [1, budget + 1], "equal escape times",
                color=PALETTE["grey"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("steps to escape, base rule (USAM / SAM)")
    ax.set_ylabel("steps to escape, renormalized (SSAM / NSSAM)")
    ax.set_title(label)
    ax.legend(loc="upper left", fontsize=6.5)
fig.suptitle(f"C11b: paired escape steps, {c11b['starts']} starts, budget {budget}")
save_figure(fig, NB, "escape_speed")

# %% [markdown]
# ## C11c: escape from the quartic-walls saddle as ρ crosses 1/b and the noise grows
#
# f = ½x² − ½y² + ¼y⁴ (b = c = 1), escape = reaching the basin ‖w‖ > √(b/3c); η = 0.1,
# minibatches of 4. Every cell of C11c, from its own runs. Curves: fraction of the starts
# escaped by step t (in the legend: the fraction escaped within the budget). The columns
# cross ρb = 1, where the saddle starts to attract USAM and SSAM deterministically (C09,
# C11a): there only noise can free them.

# %%
c11c = noise_escape(quick=QUICK)
budget = c11c["budget"]
sigmas = list(dict.fromkeys(c["sigma"] for c in c11c["cells"]))
rho_bs = list(dict.fromkeys(c["rho_b"] for c in c11c["cells"]))
fig, axes = plt.subplots(len(sigmas), len(rho_bs), figsize=(3.2 * len(rho_bs) + 1,
                                                           2.7 * len(sigmas) + 0.8),
                         sharex=True, sharey=True, squeeze=False)
for cell in c11c["cells"]:
    i, j = sigmas.index(cell["sigma"]), rho_bs.index(cell["rho_b"])
    ax = axes[i, j]
    for rule in st.RULES:
        when = np.sort(cell["steps"][rule])
        ok = when <= budget  # budget + 1: not escaped
        frac = np.arange(1, when.size + 1) / when.size
        ax.step(np.concatenate([[1], when[ok]]), np.concatenate([[0], frac[ok]]),
                where="post", color=RULE_STYLE[rule]["color"],
                label=f"{rule_label(rule)} ({ok.mean():.0%})")
    ax.set_xscale("log")
    ax.minorticks_off()  # up to 30 panels: decades suffice and draw faster
    ax.set_xlim(1, budget)
    ax.set_title(f"ρb = {cell['rho_b']} ({'<' if cell['rho_b'] < 1 else '>'} 1), "
                 f"σ = {cell['sigma']}", fontsize=9)
    ax.legend(loc="upper left", fontsize=5.5, title="measured", title_fontsize=5.5)
    if i == len(sigmas) - 1:
        ax.set_xlabel("escape step t")
    if j == 0:
        ax.set_ylabel("fraction escaped by t")
fig.suptitle(f"Escape from ½x² − ½y² + ¼y⁴ (C11c), η = 0.1, {c11c['starts']} paired starts: "
             f"columns cross ρb = 1, rows raise the noise")
save_figure(fig, NB, "noise_escape")
