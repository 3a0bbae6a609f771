"""Row-steps per second of ``opt.step`` on a batch versus a per-configuration NumPy loop.

B = 65,536 configurations (η, ρ) of SSAM on the 2-D quadratic diag(10, 1). The baseline steps
each configuration alone with the same ``opt.step`` on a ``(2,)`` iterate (what a user would
write without batching), timed on a subset and reported per row-step. Both are measured in
this run; the script prints the ratio.

    python benchmarks/bench_step.py [--rows 65536] [--steps 50] [--loop-rows 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import ssam_theory as st


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=65_536)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--loop-rows", type=int, default=300)
    p.add_argument("--rule", default="ssam")
    a = p.parse_args()

    f = st.Quadratic(np.diag([10.0, 1.0]))
    rng = np.random.default_rng(0)
    lr = rng.uniform(0.01, 0.19, size=a.rows)
    rho = rng.uniform(0.0, 0.5, size=a.rows)
    W0 = rng.normal(size=(a.rows, 2))

    opt = st.optimizer(a.rule, lr=lr, rho=rho)
    W, state = W0, opt.init(W0)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        W, state = opt.step(W, state, f.grad)
    batched = a.rows * a.steps / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for i in range(a.loop_rows):
        one = st.optimizer(a.rule, lr=lr[i], rho=rho[i])
        w, s = W0[i], one.init(W0[i])
        for _ in range(a.steps):
            w, s = one.step(w, s, f.grad)
        assert np.array_equal(w, W[i])  # same numbers, bit for bit
    loop = a.loop_rows * a.steps / (time.perf_counter() - t0)

    print(f"rule={a.rule} d=2 rows={a.rows} steps={a.steps}")
    print(f"batched opt.step : {batched:12.3e} row-steps/s")
    print(f"per-config loop  : {loop:12.3e} row-steps/s")
    print(f"ratio            : {batched / loop:12.1f}x")


if __name__ == "__main__":
    main()
