# %% [markdown]
# # Linear models and the learning-rate regime (C14, C15)
#
# * C14 (the paper's central claim): SAM's advantage over SGD is confined to a learning-rate
#   interval whose top is near 2/(β(1 + ρβ)); SSAM's interval reaches toward 2/β. We train
#   every rule with minibatches on synthetic least squares, synthetic logistic regression,
#   and two real data sets bundled with scikit-learn, and plot test risk and parameter
#   stability δ_T = ‖w_T − w′_T‖ (neighbouring data sets, shared indices) against η. The
#   paper's SAM is the unnormalized USAM, the base of its SSAM.
# * C15: on a β-smooth f, with ρ ≤ 1/(2β) and η ≤ 1/(4β), every USAM step decreases f by at
#   least 0.218·η‖∇f‖² — convex or not.

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
DESCENT_STEPS = 100 if QUICK else 1000  # steps of the C15 runs
STARTS = 4 if QUICK else 32  # random starts of the C15 runs
RHO_BETA = 2.0  # ρβ of the risk curves (present in both presets of linear.RegimeConfig)
SEED = 0

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import data, linear, theory
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
NB = "06_linear_models"

# %% [markdown]
# ## Test risk and stability versus η (C14)
#
# `linear.regime_experiment` runs the C14 grid: η in units of 2/β (β the curvature of the
# training loss), several ρβ, minibatches of 32, a few seeds. A rule *beats SGD* at η when
# its test loss is below SGD's by more than two paired standard errors (bars under the
# curves). Dashed: USAM's threshold 2/(β(1 + ρβ)) and GD's 2/β (`ssam_theory.theory`).

# %%
config = linear.RegimeConfig.quick() if QUICK else linear.RegimeConfig.full()
regime = linear.regime_experiment(config)
for name, r in regime.items():
    d = r.dataset
    print(f"{name:<24} n = {d['n']:4d}  d = {d['d']:3d}  β = {d['beta']:8.4f}  "
          f"2/β = {r.gd_max_lr:.4g}")


# %%
def risk_figure(names):
    fig, axes = plt.subplots(2, len(names), figsize=(5.6 * len(names), 7.4))
    for j, name in enumerate(names):
        r = regime[name]
        p = int(np.argmin(np.abs(r.rhos * r.dataset["beta"] - RHO_BETA)))
        x = r.lrs / r.gd_max_lr
        test, delta, beats = r.mean_test_loss(), r.mean_delta(), r.beats_sgd()
        ax, ax2 = axes[0, j], axes[1, j]
        for i, rule in enumerate(r.rules):
            y = np.where(np.isfinite(test[i, p]), test[i, p], np.nan)
            measured(ax, x, y, rule_label(rule), rule=rule, markersize=6 - 0.5 * i)
            dl = np.where(np.isfinite(delta[i, p]), delta[i, p], np.nan)
            measured(ax2, x, dl, rule_label(rule), rule=rule, markersize=6 - 0.5 * i)
        finite = test[:, p][np.isfinite(test[:, p])]
        lo = finite.min()
        for k, rule in enumerate(("usam", "ssam")):
            level = lo / (1.15 + 0.15 * k)  # bars just under the lowest curve (log axis)
            for a, b in linear.intervals(x, beats[r.rules.index(rule), p]):
                ax.plot([a, b], [level, level], color=RULE_STYLE[rule]["color"], linewidth=5,
                        solid_capstyle="butt")
            ax.plot([], [], color=RULE_STYLE[rule]["color"], linewidth=5,
                    label=f"measured: {rule_label(rule)} beats SGD")
        ax.set_yscale("log")
        ax.set_ylim(lo / 1.5, min(finite.max() * 1.2, lo * 30))
        for a in (ax, ax2):
            usam_top = r.usam_max_lr[p] / r.gd_max_lr
            a.axvline(usam_top, color=RULE_STYLE["usam"]["color"], linestyle="--",
                      label="theory: 2/(β(1 + ρβ))")
            a.axvline(1.0, color=PALETTE["black"], linestyle="--", label="theory: 2/β")
            a.set_xscale("log")
            a.set_xlabel(r"$\eta\, /\, (2/\beta)$")
        ax2.set_yscale("log")
        ax.set_ylabel(r"test loss at $w_T$ (mean over seeds)")
        ax2.set_ylabel(r"$\delta_T = \|w_T - w'_T\|$")
        ax.set_title(f"{name} (n = {r.dataset['n']}, d = {r.dataset['d']}), ρβ = "
                     f"{r.rhos[p] * r.dataset['beta']:.2g}")
        if j == 0:
            ax.legend(loc="upper left", fontsize=7)
            ax2.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"Test risk (top) and stability (bottom) after {config.steps} steps, batch "
                 f"{config.batch_size}, {len(config.seeds)} seeds; missing points diverged")
    return fig


fig = risk_figure(["synthetic_least_squares", "synthetic_logistic"])
save_figure(fig, NB, "risk_synthetic")

# %%
fig = risk_figure(["diabetes", "breast_cancer"])
save_figure(fig, NB, "risk_real")

# %% [markdown]
# Where each rule beats SGD and where it is stable, as intervals of η/(2/β):

# %%
for name, r in regime.items():
    summary = r.summary()
    for key, entry in summary.items():
        for rule in ("usam", "ssam"):
            info = entry["rules"][rule]
            beats = [(round(a / r.gd_max_lr, 3), round(b / r.gd_max_lr, 3))
                     for a, b in info["beats_sgd"]]
            edge = [round(e / r.gd_max_lr, 3) for e in info["stability_edge"]]
            print(f"{name:<24} {key:<12} {rule:<5} beats SGD on {beats}, "
                  f"stability edge in {edge}; 2/(β(1+ρβ)) = "
                  f"{entry['usam_max_lr'] / r.gd_max_lr:.3f}")

# %% [markdown]
# ## USAM's guaranteed descent, convex or not (C15)
#
# USAM at the corner of the guarantee (η = 1/(4β), ρ = 1/(2β)) from random starts on a
# non-convex quadratic (eigenvalues 3, 1, −2, −0.5: β = 3, unbounded below) and on logistic
# regression. Left: every step's measured decrease f(w_t) − f(w_{t+1}) against the guaranteed
# 0.218·η‖∇f(w_t)‖² (`theory.usam_descent_bound`): every point lies above the diagonal.
# Right: min_{t<T} ‖∇f(w_t)‖² against (f(w₀) − f*)/(0.218ηT) on the logistic problem (f* ≥ 0).

# %%
saddle = st.Quadratic.from_eigenvalues([3.0, 1.0, -2.0, -0.5], seed=SEED)
logistic = data.synthetic_logistic(seed=SEED)
problems = {
    "non-convex quadratic, λ = (3, 1, −2, −0.5)": (saddle, 3.0),
    f"logistic regression (n = {logistic.n})": (logistic.landscape(), logistic.beta),
}
rng = np.random.default_rng(SEED)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4))
colors = [PALETTE["vermillion"], PALETTE["blue"]]
lowest, highest = np.inf, 0.0
for (label, (f, beta)), color in zip(problems.items(), colors):
    lr, rho = 1 / (4 * beta), 1 / (2 * beta)
    tr = st.run(st.optimizer("usam", lr=lr, rho=rho), f, rng.standard_normal((STARTS, f.dim)),
                DESCENT_STEPS)
    decrease = tr.loss[:-1] - tr.loss[1:]
    # steps recorded before a row left the divergence ball (unbounded below) and with g ≠ 0
    ok = np.isfinite(decrease) & (tr.grad_norm > 0)
    guaranteed = theory.usam_descent_bound(lr, tr.grad_norm[ok])
    decrease = decrease[ok]
    keep = guaranteed > 1e-12  # below this, both sides are rounding noise
    ax.loglog(guaranteed[keep], decrease[keep], ".", color=color, markersize=2, alpha=0.5,
              label=f"measured: {label}, β = {beta:.3g}")
    lowest = min(lowest, guaranteed[keep].min())
    highest = max(highest, decrease[keep].max())
    if label.startswith("logistic"):
        T = np.arange(1, DESCENT_STEPS + 1)
        running = np.minimum.accumulate(tr.grad_norm**2, axis=0)
        for k in range(STARTS):
            ax2.loglog(T, running[:, k], color=color, linewidth=0.8, alpha=0.6,
                       label="measured: min_{t<T} ‖∇f(w_t)‖²" if k == 0 else None)
            gap = tr.loss[0, k]  # f(w₀) − f*, with f* ≥ 0 as the lower bound
            ax2.loglog(T, theory.usam_min_grad_sq_bound(gap, lr, T), "--",
                       color=PALETTE["black"], linewidth=0.8,
                       label="theory: (f(w₀) − f*)/(0.218ηT), f* ≥ 0" if k == 0 else None)
diag = np.array([lowest, highest])
theory_line(ax, diag, diag, "decrease = 0.218·η‖∇f‖² (C15)")
ax.set_xlabel(r"guaranteed decrease $0.218\,\eta\|\nabla f(w_t)\|^2$")
ax.set_ylabel(r"measured $f(w_t) - f(w_{t+1})$")
ax.set_title(f"USAM, η = 1/(4β), ρ = 1/(2β): {STARTS} starts × {DESCENT_STEPS} steps")
ax.legend(loc="upper left", fontsize=7, markerscale=4)
ax2.set_xlabel(r"steps $T$")
ax2.set_ylabel(r"$\min_{t<T} \|\nabla f(w_t)\|^2$")
ax2.set_title("Logistic regression: the min-gradient bound")
ax2.legend(loc="lower left", fontsize=7)
save_figure(fig, NB, "descent")
