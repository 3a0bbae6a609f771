# %% [markdown]
# # Quickstart: the toolkit in five steps
#
# For a reader who wants to start a new analysis: a **rule**, a **landscape**, a **run**, a
# **sweep**, a **claim check**. Everything below is plain NumPy in float64, seeded, and exact
# to rounding error against the update equations of `ssam_theory.rules`.

# %% tags=["parameters"]
from ssam_theory.plotting import quick_mode

QUICK = quick_mode()  # `ssam-theory reproduce --quick` sets SSAM_THEORY_QUICK=1
STEPS = 100 if QUICK else 300  # steps of the trajectories
N_GRID = 10 if QUICK else 60  # grid points per axis of the sweep
SWEEP_STEPS = 300 if QUICK else 1000  # steps per configuration of the sweep
CLAIMS = ("C01", "C02", "C04")  # claims checked at the end (by `reproduce`: the report's own runs)

# %%
import matplotlib.pyplot as plt
import numpy as np

import ssam_theory as st
from ssam_theory import claims, theory
from ssam_theory.plotting import (
    PALETTE,
    measured,
    phase_diagram,
    rule_label,
    save_figure,
    theory_line,
    use_style,
)

use_style()
NB = "01_quickstart"

# %% [markdown]
# ## 1. A rule
#
# `st.optimizer(name, lr, rho, **options)` builds one of `sgd`, `sam`, `usam`, `ssam`,
# `nssam` (options: `truncate`, `adaptive`, `momentum`, `weight_decay`, `eps`). It is an
# immutable object with pure `init` and `step`.

# %%
opt = st.optimizer("ssam", lr=0.15, rho=0.1)
print(opt)

# %% [markdown]
# ## 2. A landscape
#
# `st.Quadratic(H)`, `st.Quadratic.from_eigenvalues(...)`, `st.Beale()`,
# `st.LeastSquares(X, y)`, `st.Logistic(X, y)`; each has `.loss`, `.grad`, `.hessian`.

# %%
f = st.Quadratic(np.diag([10.0, 1.0]))  # ½ wᵀ diag(10, 1) w
w = np.array([1.0, 1.0])
state = opt.init(w)
w1, state = opt.step(w, state, f.grad)  # one exact step
print("w after one SSAM step:", w1, " loss:", f.loss(w1))

# %% [markdown]
# ## 3. A run
#
# `st.run(opt, landscape, w0, steps)` records loss, ‖g‖, ‖g̃‖ and γ at every step. Here every
# rule at η = 0.15, ρ = 0.1: USAM's stable range ends at 2/(λ + ρλ²) = 0.1 (C02), so it
# diverges; SSAM keeps GD's range 2/λ = 0.2 (C03); SAM stalls on its 2-cycle (C04).

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.0))
for rule in st.RULES:
    tr = st.run(st.optimizer(rule, lr=0.15, rho=0.1), f, w, STEPS)
    note = f" (diverged at step {tr.diverged_at})" if tr.diverged else ""
    measured(ax, np.arange(STEPS + 1), tr.loss, rule_label(rule) + note, rule=rule,
             marker=None)
floor = theory.sam_loss_floor(0.15, 0.1, 10.0)
theory_line(ax, [0, STEPS], [floor, floor], "SAM's floor λ₁c²/2 (C04)")
ax.set_yscale("log")
ax.set_ylim(1e-30, 1e3)
ax.set_xlabel(r"step $t$")
ax.set_ylabel(r"loss $f(w_t)$")
ax.set_title("Five rules on ½ wᵀ diag(10, 1) w, η = 0.15, ρ = 0.1")
ax.legend(loc="lower left")
save_figure(fig, NB, "trajectories")

# %% [markdown]
# ## 4. A sweep
#
# `st.sweep(landscape, rule, lr=grid, rho=grid, steps=..., seeds=...)` runs every
# configuration as one row of a batch and labels what it did (`st.Outcome`: converged,
# diverged, bounded, trapped, escaped). Here USAM's fraction of diverged seeds over (η, ρ),
# with C02's boundary η(λ + ρλ²) = 2 from `ssam_theory.theory` on top.

# %%
lrs = np.linspace(0.005, 0.25, N_GRID)
rhos = np.geomspace(1e-3, 1.0, N_GRID)
sw = st.sweep(f, "usam", lr=lrs, rho=rhos, steps=SWEEP_STEPS, seeds=2, progress=False)
print(sw)

fig, ax = plt.subplots(figsize=(6.0, 4.2))
phase_diagram(ax, sw.lr, sw.rho, sw.fraction(st.Outcome.DIVERGED), log_rho=True,
              colorbar="measured: fraction of seeds diverged")
rho_line = np.geomspace(rhos[0], rhos[-1], 300)
theory_line(ax, theory.usam_max_lr(10.0, rho_line), rho_line, "η(λ + ρλ²) = 2 (C02)",
            color=PALETTE["orange"], linewidth=2.2)
ax.set_xlim(lrs[0], lrs[-1])
ax.set_title("USAM on ½ wᵀ diag(10, 1) w")
ax.legend(loc="lower left")
save_figure(fig, NB, "sweep")

# %% [markdown]
# ## 5. A claim check
#
# Each claim of the catalogue is an entry of `ssam_theory.claims.REGISTRY` whose check runs the
# update rules and computes the verdict (`holds`, `violated`, `inconclusive`). The same checks
# run in `ssam-theory check` and in the claims report written by `ssam-theory reproduce`.

# %%
for claim, result in claims.run_checks(list(CLAIMS), quick=QUICK):
    print(f"{claim.id}  {result.verdict:<12}  {claim.title}")
    print(f"      predicted: {result.predicted}")
    print(f"      measured:  {result.measured}")
