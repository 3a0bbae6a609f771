"""Gradient of a landscape given by formula (st.Symbolic) versus the hand-written st.Quadratic.

Both evaluate the gradient of the same quadratic on a (65,536, 2) batch: the saddle
½(x² − y²) (diagonal Hessian, which st.Quadratic evaluates elementwise) and a rotated
quadratic with an off-diagonal term (st.Quadratic multiplies by H with einsum). Reports the
best of several repeats (machines shared with other jobs are noisy) and the ratio
t(Symbolic) / t(Quadratic); the target is a ratio below 3.

    python benchmarks/bench_symbolic.py [--rows 65536] [--number 50] [--repeat 7]
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import ssam_theory as st


def _best(fn, number, repeat) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=65_536)
    p.add_argument("--number", type=int, default=50)
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()

    W = np.random.default_rng(0).normal(size=(a.rows, 2))
    cases = {
        "diag(1, -1)": (st.Symbolic("x**2/2 - y**2/2"), st.Quadratic(np.diag([1.0, -1.0]))),
        "[[2, 1], [1, -1]]": (st.Symbolic("x**2 + x*y - y**2/2"),
                              st.Quadratic(np.array([[2.0, 1.0], [1.0, -1.0]]))),
    }
    print(f"grad on a ({a.rows}, 2) batch, best of {a.repeat} x {a.number} calls")
    for name, (sym, quad) in cases.items():
        np.testing.assert_allclose(sym.grad(W), quad.grad(W), rtol=1e-15, atol=1e-15)
        ts = _best(lambda s=sym: s.grad(W), a.number, a.repeat)
        tq = _best(lambda q=quad: q.grad(W), a.number, a.repeat)
        print(f"H = {name:18s} Symbolic {ts * 1e3:7.3f} ms   Quadratic {tq * 1e3:7.3f} ms   "
              f"ratio {ts / tq:5.2f}x")


if __name__ == "__main__":
    main()
