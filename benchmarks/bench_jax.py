"""The package against JAX ``jit(vmap(fori_loop))`` (float64) and a per-configuration loop.

Every ratio is measured in this run, on this machine, best of ``--repeat`` timings (the
machine may be shared: take the best, not the mean). Sections:

1. Dense quadratics, d = 2, 16, 64 (a Haar rotation of ``linspace(1, 10, d)``): SSAM, every
   row stable (η in [0.01, 0.19], ρ in [0, 0.5]), every step computed (``grad_tol=None``).
   Package: ``st.sweep`` with the exact arithmetic, the fast one (``fast=True``), and the
   fast one on a two-process executor (JAX uses both cores too).
2. Minibatch least squares and logistic regression (synthetic data of
   :mod:`ssam_theory.data`, n = 200, d = 20), b = 4 and 32:

   * ``st.sweep`` in stochastic mode (the rows of a seed share its minibatch sequence);
   * "coupled run": ``st.run`` on the rows of the coupled runs of C13/C14 ((lr, rho)
     configurations x seeds x {S, S'}, S' with one example replaced; every row of a seed runs
     that seed's minibatch sequence), without the loss as there, and "+loss" with the full
     loss at every step;
   * "own run": ``st.run`` where every row has its own minibatch sequence (each row gathers
     its own examples: the package's worst case).

   JAX does the same work: for the sweep, every step with the divergence test, the full
   losses of the last 11 iterates (the result's ``growth`` and final loss) and the final full
   gradient's norm; for ``st.run``, every step's ‖g‖, ‖g̃‖ and γ with the divergence test
   (and the loss of every iterate). JAX running the steps alone is printed beside it.
3. The 128 x 128 x 1000 SSAM grid on diag(10, 1) (``st.sweep`` with its outcome-aware
   early stopping) against JAX running every step.
4. Memory of a sweep over 10^6 configurations (``tracemalloc`` peak).

Without JAX (``pip install ssam_theory[bench]``) the JAX columns are skipped with a message.

    python benchmarks/bench_jax.py [--repeat 3] [--quick] [--skip SECTION ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import platform
import time
import tracemalloc

import numpy as np

import ssam_theory as st
from ssam_theory.coupling import _augmented, _row_indices, coupled_indices, default_replacements
from ssam_theory.sweep.kernel import GROWTH_WINDOW
from ssam_theory.sweep.plan import default_chunk

try:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
except ImportError:  # the [bench] extra is optional
    jax = None


TIMER = time.perf_counter  # --timer cpu: time.process_time (this process's CPU time)


def best(fn, repeat):
    """Best time of ``fn()`` over ``repeat`` runs, and its last result."""
    t_best, out = np.inf, None
    for _ in range(repeat):
        t0 = TIMER()
        out = fn()
        t_best = min(t_best, TIMER() - t0)
    return t_best, out


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    return f"{model}, {os.cpu_count()} cores, {platform.system()}, numpy {np.__version__}" + (
        f", jax {jax.__version__}" if jax else "")


# ------------------------------------------------------------------------------ JAX side

def _jax_ssam(grad, info=False):
    """SSAM step of one row, for ``jit(vmap(...))``: γ = ‖g‖/‖g̃‖, 1 where ‖g̃‖ = 0. With
    ``info``, the step returns ``(w, ‖g‖, ‖g̃‖, γ)``."""

    def step(w, lr, rho, *extra):
        g = grad(w, *extra)
        gn = jnp.sqrt(g @ g)
        gt = grad(w + rho * g, *extra)
        gtn = jnp.sqrt(gt @ gt)
        gamma = jnp.where(gtn > 0, gn / jnp.where(gtn > 0, gtn, 1.0), 1.0)
        w_new = w - lr * (gamma * gt)
        return (w_new, gn, gtn, gamma) if info else w_new

    return step


def jax_quadratic(H, steps):
    H = jnp.asarray(H)
    step = _jax_ssam(lambda w: H @ w)

    def one(w, lr, rho):
        return jax.lax.fori_loop(0, steps, lambda _, w: step(w, lr, rho), w)

    return jax.jit(jax.vmap(one))


def _jax_data_grad(X, y, task):
    X, y = jnp.asarray(X), jnp.asarray(y)

    def grad_of(Xb, yb, w):
        m = Xb @ w
        c = m - yb if task == "least_squares" else -yb * jax.nn.sigmoid(-yb * m)
        return (c @ Xb) / yb.shape[0]

    def grad(w, idx):
        return grad_of(X[idx], y[idx], w)

    def full_grad(w):
        return grad_of(X, y, w)

    def loss(w):
        m = X @ w
        if task == "least_squares":
            r = m - y
            return (r @ r) / (2 * X.shape[0])
        return jnp.mean(jnp.logaddexp(0.0, -y * m))

    return grad, full_grad, loss


def jax_data(X, y, task, steps):
    """Every step of every row and nothing else (the final iterates)."""
    grad, _, _ = _jax_data_grad(X, y, task)
    step = _jax_ssam(grad)

    def one(w, lr, rho, idx):  # idx: (steps, b), this row's minibatches
        return jax.lax.fori_loop(0, steps, lambda t, w: step(w, lr, rho, idx[t]), w)

    return jax.jit(jax.vmap(one))


def jax_data_run(X, y, task, record_loss, divergence_norm):
    """``st.run``'s work per row, computing what its trajectory holds: every step's ‖g‖, ‖g̃‖
    and γ, the divergence test (a row whose update leaves ``divergence_norm`` or is not finite
    keeps its last sane iterate, its later records NaN) and, with ``record_loss``, the full
    loss of every iterate. Returns ``(final w, diverged, records (steps, 3[+1]), first loss)``."""
    grad, _, loss = _jax_data_grad(X, y, task)
    step = _jax_ssam(grad, info=True)

    def one(w, lr, rho, idx):
        def body(c, i):
            w, dead = c
            w_new, gn, gtn, gamma = step(w, lr, rho, i)
            out = jnp.stack([gn, gtn, gamma])
            gone = dead | ~(jnp.sqrt(w_new @ w_new) <= divergence_norm)
            w_new = jnp.where(gone, w, w_new)
            if record_loss:
                out = jnp.concatenate([out, jnp.where(gone, jnp.nan, loss(w_new))[None]])
            return (w_new, gone), jnp.where(dead, jnp.nan, out)

        first = loss(w) if record_loss else jnp.nan
        (w, dead), rec = jax.lax.scan(body, (w, jnp.bool_(False)), idx)
        return w, dead, rec, first

    return jax.jit(jax.vmap(one))


def jax_data_sweep(X, y, task, steps, window, divergence_norm):
    """``st.sweep``'s work per row, computing what its result holds: every step with the
    divergence test (a row whose update leaves ``divergence_norm`` or is not finite keeps
    its last sane iterate), the full losses of the last ``window`` + 1 iterates (``growth``
    and the final loss) and the final full gradient's norm."""
    grad, full_grad, loss = _jax_data_grad(X, y, task)
    step = _jax_ssam(grad)
    start = steps - min(window, steps)

    def update(carry, i, lr, rho):
        w, dead = carry
        w_new = step(w, lr, rho, i)
        dead = dead | ~(jnp.sqrt(w_new @ w_new) <= divergence_norm)
        return jnp.where(dead, w, w_new), dead

    def one(w, lr, rho, idx):
        carry = jax.lax.fori_loop(0, start, lambda t, c: update(c, idx[t], lr, rho),
                                  (w, jnp.bool_(False)))
        first = loss(carry[0])

        def body(c, i):
            c = update(c, i, lr, rho)
            return c, loss(c[0])

        (w, dead), tail = jax.lax.scan(body, carry, idx[start:])
        g = full_grad(w)
        return w, dead, jnp.concatenate([first[None], tail]), jnp.sqrt(g @ g)

    return jax.jit(jax.vmap(one))


def jax_rate(fn, args, rows_steps, repeat):
    fn(*args)  # compile
    t, out = best(lambda: jax.block_until_ready(fn(*args)), repeat)
    return rows_steps / t, out


# ------------------------------------------------------------------------------ package side

def loop_rate(f, lr, rho, w0, steps, **run_kw):
    """Row-steps/s of ``opt.step`` on one ``(d,)`` iterate per configuration."""
    t0 = TIMER()
    for a, b, w in zip(lr, rho, w0):
        opt = st.optimizer("ssam", lr=float(a), rho=float(b))
        state = opt.init(w)
        for _ in range(steps):
            w, state = opt.step(w, state, f.grad)
    return len(lr) * steps / (TIMER() - t0)


def _chunk(rows, d, executor):
    """The default chunk size serially; on the executor, at least 4 chunks (2 per worker)."""
    default = default_chunk(d)
    return default if executor is None else min(default, -(-rows // 4))


def _fmt_ratio(x):
    return "   n/a" if x is None else f"{x:6.2f}"


def dense(a, pool) -> None:
    print("\n1. dense quadratics: SSAM, all rows stable, every step computed "
          "(row-steps/s; ratio = package / JAX)")
    print(f"  {'d':>3} {'configs':>7} {'steps':>5} {'exact':>9} {'fast':>9} {'fast x2':>9} "
          f"{'loop':>9} {'JAX':>9} {'best/JAX':>8} {'best/loop':>9}")
    cases = ((2, 65_536, 200), (16, 16_384, 100), (64, 4096, 50))
    if a.quick:
        cases = ((2, 16_384, 50), (16, 4096, 30), (64, 1024, 20))
    for d, rows, steps in cases:
        lam = np.linspace(1.0, 10.0, d)
        n = int(np.sqrt(rows))
        lr, rho = np.linspace(0.01, 0.19, n), np.linspace(0.0, 0.5, rows // n)
        rates = {}
        res = None
        for label, fast, ex in (("exact", False, None), ("fast", True, None),
                                ("fast x2", True, pool)):
            if label == "fast x2" and pool is None:
                rates[label] = float("nan")
                continue
            f = st.Quadratic.from_eigenvalues(lam, seed=0, fast=fast)
            t, res = best(functools.partial(st.sweep, f, "ssam", lr=lr, rho=rho, steps=steps,
                                            grad_tol=None, progress=False, executor=ex,
                                            chunk_size=_chunk(rows, d, ex)), a.repeat)
            assert np.all(res.outcome == st.Outcome.BOUNDED)
            rates[label] = res.stats["row_steps"] / t
        f = st.Quadratic.from_eigenvalues(lam, seed=0)
        k = 24
        loop = loop_rate(f, lr[:k], rho[:k], np.broadcast_to(res.w0[0], (k, d)), steps)
        jr = None
        if jax:
            LR, RHO = np.repeat(lr, rho.size), np.tile(rho, lr.size)
            W0 = np.broadcast_to(res.w0[0], (LR.size, d)).copy()
            jr, wj = jax_rate(jax_quadratic(f.H, steps), (W0, LR, RHO), LR.size * steps,
                              a.repeat)
            err = np.max(np.abs(np.asarray(wj) - res.final_w[..., 0, :].reshape(-1, d)))
            assert err < 1e-9, err  # same iterates up to rounding
        top = np.nanmax(list(rates.values()))
        print(f"  {d:>3} {rows:>7} {steps:>5} {rates['exact']:9.2e} {rates['fast']:9.2e} "
              f"{rates['fast x2']:9.2e} {loop:9.2e} "
              f"{jr if jr else float('nan'):9.2e} {_fmt_ratio(top / jr if jr else None):>8} "
              f"{top / loop:8.0f}x")


def data(a, pool) -> None:
    print("\n2. minibatch linear models: SSAM (row-steps/s; ratio = package / JAX)")
    print(f"  {'task':<14} {'mode':<13} {'rows':>6} {'b':>3} {'steps':>5} {'exact':>9} "
          f"{'fast':>9} {'fast x2':>9} {'JAX':>9} {'best/JAX':>8}")
    for task, maker in (("least_squares", st.data.synthetic_least_squares),
                        ("logistic", st.data.synthetic_logistic)):
        ds = maker(seed=0)
        for b, (nl, nr, seeds), steps in ((4, (32, 16, 4), 200), (32, (16, 8, 4), 100)):
            if a.quick:
                nl, nr, seeds, steps = nl // 2, nr // 2, 2, steps // 4
            lr, rho = _grids(task, nl, nr)
            rows = nl * nr * seeds
            # (a) st.sweep in stochastic mode: steps only
            rates, res = {}, None
            for label, fast, ex in (("exact", False, None), ("fast", True, None),
                                    ("fast x2", True, pool)):
                if label == "fast x2" and pool is None:
                    rates[label] = float("nan")
                    continue
                land = _land(ds, fast)
                t, res = best(functools.partial(
                    st.sweep, land, "ssam", lr=lr, rho=rho, steps=steps, seeds=seeds,
                    batch_size=b, grad_tol=None, progress=False, executor=ex,
                    chunk_size=_chunk(rows, land.dim, ex)), a.repeat)
                rates[label] = res.stats["row_steps"] / t
            top = np.nanmax(list(rates.values()))
            jr = j_steps = None
            land = _land(ds, False)
            if jax:
                tables = np.stack([st.minibatch_indices(land.n, b, steps, int(s))
                                   for s in res.seeds])  # (S, T, b)
                LR = np.repeat(lr, nr * seeds)
                RHO = np.tile(np.repeat(rho, seeds), nl)
                S = np.tile(np.arange(seeds), nl * nr)
                W0 = res.w0[S]
                args = (W0, LR, RHO, tables[S])
                fn = jax_data(land.X, land.y, task, steps)
                j_steps, wj = jax_rate(fn, args, rows * steps, a.repeat)
                fn = jax_data_sweep(land.X, land.y, task, steps, GROWTH_WINDOW,
                                    st.DIVERGENCE_NORM)
                jr, (wj2, dead, tail, gnorm) = jax_rate(fn, args, rows * steps, a.repeat)
                for got in (wj, wj2):
                    err = np.max(np.abs(np.asarray(got) - res.final_w.reshape(-1, land.dim)))
                    assert err < 1e-8, err
                assert not np.any(dead) and np.all(res.outcome == st.Outcome.BOUNDED)
                assert np.allclose(tail[:, -1], res.final_loss.ravel(), rtol=1e-8)
                assert np.allclose(gnorm, res.final_grad_norm.ravel(), rtol=1e-6)
            print(f"  {task:<14} {'sweep':<13} {rows:>6} {b:>3} {steps:>5} "
                  f"{rates['exact']:9.2e} {rates['fast']:9.2e} {rates['fast x2']:9.2e} "
                  f"{jr if jr else float('nan'):9.2e} {_fmt_ratio(top / jr if jr else None):>8}")
            if j_steps:
                print(f"    (JAX steps only, without the sweep's outputs: {j_steps:9.2e}; "
                      f"package / that: {_fmt_ratio(top / j_steps)})")
            print_run_rows(a, task, ds, b, (nl, nr, seeds), steps)


def _coupled_rows(ds, nl, nr, seeds, steps, b):
    """The rows of C13/C14's coupled runs: (lr, rho) configurations x seeds x {S, S'}, S' the
    data set with one example replaced; every row of a seed runs that seed's minibatch
    sequence (S' with the replaced example's row). Returns the landscape's data, the indices
    ``(steps, rows, b)`` and the per-row lr and rho."""
    pairs = default_replacements(ds, 1)
    land, _ = _augmented(ds, pairs)
    base, primed, _ = coupled_indices(ds, pairs, range(seeds), steps, b)
    idx, shape = _row_indices(base, primed, nl * nr, compact=True)
    lr, rho = _grids(ds.task, nl, nr)
    per_c = int(np.prod(shape[1:]))
    return land.X, land.y, idx, np.repeat(np.repeat(lr, nr), per_c), \
        np.repeat(np.tile(rho, nl), per_c)


def _grids(task, nl, nr):
    lr = np.linspace(0.002, 0.02, nl) if task == "least_squares" else np.linspace(0.05, 0.5, nl)
    return lr, np.linspace(0.0, 0.1, nr)


def print_run_rows(a, task, ds, b, sizes, steps) -> None:
    """``st.run`` rows: the coupled runs of C13/C14 (no loss recorded, as there; and with the
    full loss at every step), and runs where every row has its own minibatch sequence."""
    nl, nr, seeds = sizes
    cases = []
    # half the learning rates: each configuration and seed has two rows (S and S'), so the
    # coupled runs have as many rows as the others
    X, y, idx, LR, RHO = _coupled_rows(ds, nl // 2, nr, seeds, steps, b)
    cases += [("coupled run", X, y, idx, LR, RHO, False), ("coupled +loss", X, y, idx, LR,
                                                           RHO, True)]
    lr, rho = _grids(task, nl, nr)
    rows = nl * nr * seeds
    own = np.random.default_rng(1).integers(0, ds.X.shape[0], size=(steps, rows, b))
    cases.append(("own run", ds.X, ds.y, own, np.repeat(lr, nr * seeds),
                  np.tile(np.repeat(rho, seeds), nl), False))
    cls = st.LeastSquares if task == "least_squares" else st.Logistic
    for mode, X, y, idx, LR, RHO, record_loss in cases:
        rows = idx.shape[1]
        W0 = np.zeros((rows, X.shape[1]))
        opt = st.optimizer("ssam", lr=LR, rho=RHO)
        rr = {}
        for label, fast in (("exact", False), ("fast", True)):
            t, tr = best(functools.partial(st.run, opt, cls(X, y, fast=fast), W0, steps,
                                           indices=idx, record_loss=record_loss), a.repeat)
            rr[label] = rows * steps / t
        assert not tr.diverged.any()
        jr = j_steps = None
        if jax:
            args = (W0, LR, RHO, idx.transpose(1, 0, 2))
            j_steps, wj = jax_rate(jax_data(X, y, task, steps), args, rows * steps, a.repeat)
            jr, (wj2, dead, rec, first) = jax_rate(
                jax_data_run(X, y, task, record_loss, st.DIVERGENCE_NORM), args,
                rows * steps, a.repeat)
            for got in (wj, wj2):
                assert np.max(np.abs(np.asarray(got) - tr.final)) < 1e-8
            assert not np.any(dead)
            assert np.allclose(rec[:, :, 2].T, tr.gamma, rtol=1e-8)
            if record_loss:
                assert np.allclose(rec[:, :, 3].T, tr.loss[1:], rtol=1e-8)
                assert np.allclose(first, tr.loss[0], rtol=1e-12)
        top = max(rr.values())
        print(f"  {task:<14} {mode:<13} {rows:>6} {b:>3} {steps:>5} "
              f"{rr['exact']:9.2e} {rr['fast']:9.2e} {'':>9} "
              f"{jr if jr else float('nan'):9.2e} {_fmt_ratio(top / jr if jr else None):>8}")
        if j_steps:
            print(f"    (JAX steps only, without the run's records: {j_steps:9.2e}; "
                  f"package / that: {_fmt_ratio(top / j_steps)})")


def _land(ds, fast):
    cls = st.LeastSquares if ds.task == "least_squares" else st.Logistic
    return cls(ds.X, ds.y, fast=fast)


def main_case(a, pool) -> None:
    grid, steps = (128, 1000) if not a.quick else (64, 300)
    print(f"\n3. main case: SSAM on diag(10, 1), {grid} x {grid} (η, ρ) x {steps} steps, "
          f"η in [0.01, 0.3], ρ in [0, 0.5]")
    f = st.Quadratic(np.diag([10.0, 1.0]))
    lr, rho = np.linspace(0.01, 0.3, grid), np.linspace(0.0, 0.5, grid)
    rates = {}
    res = None
    for label, ex in (("serial", None), ("x2", pool)):
        if label == "x2" and pool is None:
            rates[label] = float("nan")
            continue
        t, res = best(lambda ex=ex: st.sweep(f, "ssam", lr=lr, rho=rho, steps=steps,
                                             progress=False, executor=ex), a.repeat)
        rates[label] = t
    nominal = grid * grid * steps
    print(f"  sweep: {rates['serial']:.3f} s serial, {rates['x2']:.3f} s on 2 processes; "
          f"{res.stats['row_steps']:,} of {nominal:,} row-steps computed")
    if jax:
        LR, RHO = np.repeat(lr, grid), np.tile(rho, grid)
        W0 = np.broadcast_to(res.w0[0], (LR.size, 2)).copy()
        with np.errstate(over="ignore", invalid="ignore"):
            jr, _ = jax_rate(jax_quadratic(f.H, steps), (W0, LR, RHO), nominal, a.repeat)
        tj = nominal / jr
        top = np.nanmin(list(rates.values()))
        print(f"  JAX (every step): {tj:.3f} s;  ratio JAX time / sweep time = {tj / top:.1f}x")


def memory(a) -> None:
    n = 1000 if not a.quick else 300
    steps = 50
    print(f"\n4. memory: {n} x {n} = {n * n:,} configurations of SSAM on diag(10, 1), "
          f"{steps} steps")
    f = st.Quadratic(np.diag([10.0, 1.0]))
    lr, rho = np.linspace(0.01, 0.3, n), np.linspace(0.0, 0.5, n)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = st.sweep(f, "ssam", lr=lr, rho=rho, steps=steps, progress=False)
    t = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = sum(getattr(res, k).nbytes for k in ("outcome", "event_step", "final_loss",
                                                  "final_grad_norm", "final_w"))
    print(f"  peak traced memory {peak / 2**20:.1f} MiB ({peak / (n * n):.0f} B per "
          f"configuration); the result arrays alone {result / 2**20:.1f} MiB; {t:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.add_argument("--skip", nargs="*", default=[], choices=["dense", "data", "main", "memory"])
    p.add_argument("--timer", choices=["wall", "cpu"], default="wall",
                   help="cpu: this process's CPU time (steadier on a shared machine; the "
                        "two-process columns are then skipped, JAX runs on one core here)")
    a = p.parse_args()
    global TIMER
    if a.timer == "cpu":
        TIMER = time.process_time
    print(f"machine: {machine()}")
    print(f"timings: best of {a.repeat}, {a.timer} clock")
    if jax is None:
        print("JAX is not installed (pip install 'ssam_theory[bench]'): JAX columns skipped")
    with cf.ProcessPoolExecutor(2) as pool:
        pool.submit(int, 0).result()  # start the workers before timing
        if a.timer == "cpu":
            pool = None  # CPU time of other processes is not counted
        if "dense" not in a.skip:
            dense(a, pool)
        if "data" not in a.skip:
            data(a, pool)
        if "main" not in a.skip:
            main_case(a, pool)
    if "memory" not in a.skip:
        memory(a)


if __name__ == "__main__":
    main()
