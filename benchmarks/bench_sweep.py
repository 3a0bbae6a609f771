"""The sweep engine against a per-configuration NumPy loop, measured in one run.

Main case (issue 4): a 128 x 128 grid of (η, ρ) x 1000 steps of ``ssam`` on diag(10, 1),
η ∈ [0.01, 0.3] (straddles 2/λ_max = 0.2), ρ ∈ [0, 0.5], one seed. The baseline steps each
configuration alone with the same ``opt.step`` on a ``(2,)`` iterate in a Python loop (what a
user would write without batching) for all 1000 steps; it is timed on a random subset of the
grid and reported per row-step. Two ratios are printed:

* ``nominal``: the time the loop would take for the whole grid (128·128·1000 row-steps)
  over the sweep's wall time. The sweep stops rows that converged or diverged; the loop
  does not.
* ``same work``: the loop's time for the row-steps the sweep actually computed, over the
  sweep's wall time — i.e. the per-row-step speed-up, as if the loop stopped rows too.

Then the sweep's throughput (row-steps actually computed per second; every row runs all
steps: stable η, convergence detection off) for d = 2, 16, 64 on a diagonal spectrum
linspace(1, 10, d) and on the same spectrum under a random rotation (dense H), each
next to the per-configuration loop.

    python benchmarks/bench_sweep.py [--steps 1000] [--grid 128] [--loop-rows 64]

Timings are wall-clock on whatever else runs on the machine; take the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ssam_theory as st


def _best(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def loop_rate(f, rule, lr, rho, w0, steps):
    """Row-steps/s of ``opt.step`` on one ``(d,)`` iterate per configuration; final iterates."""
    finals = []
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # diverging rows would warn
        for a, b, w in zip(lr, rho, w0):
            opt = st.optimizer(rule, lr=float(a), rho=float(b))
            state = opt.init(w)
            for _ in range(steps):
                w, state = opt.step(w, state, f.grad)
            finals.append(w)
    return len(lr) * steps / (time.perf_counter() - t0), np.array(finals)


def main_case(a) -> None:
    f = st.Quadratic(np.diag([10.0, 1.0]))
    lr = np.linspace(0.01, 0.3, a.grid)
    rho = np.linspace(0.0, 0.5, a.grid)
    t_sweep, res = _best(lambda: st.sweep(f, a.rule, lr=lr, rho=rho, steps=a.steps, seeds=1,
                                          progress=False), a.repeat)
    nominal = lr.size * rho.size * a.steps
    work = res.stats["row_steps"]

    rng = np.random.default_rng(0)
    i = rng.integers(0, lr.size, a.loop_rows)
    j = rng.integers(0, rho.size, a.loop_rows)
    w0 = np.broadcast_to(res.w0[0], (a.loop_rows, 2))
    rate, finals = loop_rate(f, a.rule, lr[i], rho[j], w0, a.steps)
    # same numbers: a row the sweep ran to the end equals the loop's row bit for bit
    bounded = res.outcome[i, j, 0] == st.Outcome.BOUNDED
    assert np.array_equal(finals[bounded], res.final_w[i[bounded], j[bounded], 0])

    counts = {o.name.lower(): int(np.sum(res.outcome == o)) for o in st.Outcome}
    print(f"main case: {a.rule} on diag(10, 1), {a.grid} x {a.grid} grid x {a.steps} steps")
    print(f"  outcomes             : {counts}")
    print(f"  sweep wall time      : {t_sweep:8.3f} s  (best of {a.repeat})")
    print(f"  row-steps computed   : {work:,} of {nominal:,} nominal "
          f"({work / nominal:.0%}; finished rows stop)")
    print(f"  sweep                : {work / t_sweep:10.3e} row-steps/s computed, "
          f"{nominal / t_sweep:10.3e} nominal")
    print(f"  per-config loop      : {rate:10.3e} row-steps/s "
          f"({a.loop_rows} configs x {a.steps} steps)")
    print(f"  ratio (nominal)      : {nominal / rate / t_sweep:8.0f}x")
    print(f"  ratio (same work)    : {work / rate / t_sweep:8.0f}x")


def throughput(a) -> None:
    print(f"throughput: {a.rule}, every row runs all steps (η in [0.01, 0.19], ρ in [0, 0.5], "
          f"grad_tol=None)")
    print(f"  {'d':>3} {'H':>7} {'configs':>8} {'steps':>6} {'sweep row-steps/s':>18} "
          f"{'loop row-steps/s':>17} {'ratio':>7}")
    for d, rows, steps in ((2, 65_536, 200), (16, 16_384, 100), (64, 4096, 50)):
        lam = np.linspace(1.0, 10.0, d)
        for kind, f in (("diag", st.Quadratic(np.diag(lam))),
                        ("rotated", st.Quadratic.from_eigenvalues(lam, seed=0))):
            n = int(np.sqrt(rows))
            lr = np.linspace(0.01, 0.19, n)
            rho = np.linspace(0.0, 0.5, rows // n)
            t, res = _best(lambda f=f, lr=lr, rho=rho, steps=steps: st.sweep(
                f, a.rule, lr=lr, rho=rho, steps=steps, grad_tol=None, progress=False),
                a.repeat)
            rate_s = res.stats["row_steps"] / t
            k = min(32, lr.size)
            rate_l, _ = loop_rate(f, a.rule, lr[:k], rho[:k], np.broadcast_to(res.w0[0], (k, d)),
                                  steps)
            print(f"  {d:>3} {kind:>7} {res.outcome.size:>8} {steps:>6} {rate_s:>18.3e} "
                  f"{rate_l:>17.3e} {rate_s / rate_l:>6.0f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rule", default="ssam")
    p.add_argument("--grid", type=int, default=128)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--loop-rows", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--skip-throughput", action="store_true")
    a = p.parse_args()
    main_case(a)
    if not a.skip_throughput:
        throughput(a)


if __name__ == "__main__":
    main()
