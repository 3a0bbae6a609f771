r"""The diagonal linear network: the smallest model with a network's saddle at the origin.

Parameters :math:`w = (u, v) \in \mathbb{R}^{2d}`, effective regressor
:math:`\beta = u \odot v`, and the squared loss of a linear model in :math:`\beta`,

.. math::

    f(w) = \frac{1}{2n}\sum_{i=1}^n \big(\langle u \odot v, x_i\rangle - y_i\big)^2 .

With residuals :math:`r_i = \langle \beta, x_i\rangle - y_i` and :math:`c = X^\top r/n`:

.. math::

    \nabla_u f = c \odot v, \qquad \nabla_v f = c \odot u, \qquad
    \nabla^2 f = \begin{pmatrix} V A V & V A U + \operatorname{diag}(c) \\
                                 U A V + \operatorname{diag}(c) & U A U \end{pmatrix},

with :math:`A = X^\top X/n`, :math:`U = \operatorname{diag}(u)`, :math:`V = \operatorname{diag}(v)`.
At the origin :math:`\beta = 0`, :math:`r = -y`, the gradient vanishes and
:math:`\nabla^2 f(0) = \begin{pmatrix} 0 & D \\ D & 0\end{pmatrix}`,
:math:`D = -\operatorname{diag}(X^\top y)/n`, whose eigenvalues are
:math:`\pm|(X^\top y)_j|/n` with eigenvectors :math:`(e_j, \pm e_j)/\sqrt2`. So the origin is a
strict saddle whenever :math:`X^\top y \ne 0`, with most negative eigenvalue
:math:`\lambda_{\rm neg} = -\|X^\top y\|_\infty/n`
(:data:`ssam_theory.theory.network_saddle_eigenvalue`).

The data: seeded synthetic sparse regression (:func:`sparse_regression`) and scikit-learn's
bundled diabetes set (:func:`ssam_theory.data.diabetes`), both standardized as in
:mod:`ssam_theory.data` (so :math:`f(0) = 1/2`).

References:
    Woodworth et al., Kernel and Rich Regimes in Overparametrized Models, arXiv:2002.09277.
    Kim et al., Stability Analysis of Sharpness-Aware Minimization, arXiv:2301.06308.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _products
from . import _validate as v
from . import theory as th
from ._shared import shared
from .data import Dataset, _build, diabetes
from .data_landscapes import _DataLandscape
from .rules import RULES, build, rule_factories
from .trajectory import DIVERGENCE_NORM, advance, run

__all__ = ["NETWORK_DATASETS", "DiagonalNetwork", "EscapeConfig", "escape_experiment",
           "escape_grid", "escape_steps", "escape_times", "load_network", "predicted_multiplier",
           "saddle_direction", "saddle_multipliers", "sparse_regression"]


class DiagonalNetwork(_DataLandscape):
    r"""The diagonal linear network :math:`f(u, v) = \frac1{2n}\sum_i(\langle u\odot v,
    x_i\rangle - y_i)^2` on data :math:`(X, y)`.

    Args:
        X: ``(n, d)`` features, finite.
        y: ``(n,)`` targets, finite.
        fast: the full-data loss and gradient through the ``(d, d)`` Gram matrix
            :math:`A = X^\top X/n` and :math:`X^\top y/n` (products by BLAS over
            fixed-shape row blocks), :math:`f = \beta^\top(A\beta/2 - X^\top y/n) +
            \|y\|^2/(2n)` and :math:`c = A\beta - X^\top y/n`: :math:`d` instead of
            :math:`n` products per coordinate, the same numbers up to rounding. Measured on
            the data of :func:`load_network` at 2000 random iterates of entries
            :math:`10^{-5}` to 3: losses within a median 1–3 ulps of the exact ones (99th
            percentile ≤ 24, largest 57 where the loss is ~6e3), gradients within 1.2e-14
            of their largest entry (median ≤ 9e-16). Minibatch gradients are the same
            either way.

    Attributes:
        X, y, n: the data; ``d`` the number of features; ``dim = 2d`` (iterates are
        ``w = (u, v)``, ``u = w[..., :d]``, ``v = w[..., d:]``).

    ``grad(W, idx)`` is the gradient of the mean loss over the examples ``idx`` (shape
    ``(b,)`` for all rows or ``(B, b)`` one minibatch per row). All products are row-local
    (``einsum``/elementwise, or fixed-shape BLAS blocks), so a batch equals its rows
    evaluated one by one, bit for bit.
    """

    def __init__(self, X, y, *, fast: bool = False):
        super().__init__(X, y, fast)
        self.d = self.dim
        self.dim = 2 * self.d
        if self.fast:
            self._gram = np.einsum("ki,kj->ij", self.X, self.X) / self.n
            self._xy = self.correlations
            self._yy = float(np.einsum("k,k->", self.y, self.y)) / (2 * self.n)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, fast: bool = False) -> DiagonalNetwork:
        """The network on a :class:`~ssam_theory.data.Dataset`'s training rows."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a Dataset, got {dataset!r}")
        if dataset.task != "least_squares":
            raise ValueError(f"dataset must be a least-squares set, got task "
                             f"{dataset.task!r}")
        return cls(dataset.X, dataset.y, fast=fast)

    def _split(self, W):
        return W[..., : self.d], W[..., self.d:]

    def effective(self, W) -> np.ndarray:
        r"""The effective regressor :math:`\beta = u \odot v`: ``(d,)`` or ``(B, d)``."""
        u, v_ = self._split(self._iterates(W))
        return u * v_

    def loss(self, W) -> np.ndarray:
        u, v_ = self._split(self._iterates(W))
        beta = u * v_
        if self.fast:
            half = _products.times(beta, self._gram, True) * 0.5 - self._xy
            return np.einsum("...k,...k->...", beta, half) + self._yy
        r = self._margins(beta, self.X) - self.y
        return np.einsum("...k,...k->...", r, r) / (2 * self.n)

    def grad(self, W, idx=None) -> np.ndarray:
        W = self._iterates(W)
        u, v_ = self._split(W)
        if idx is None and self.fast:
            c = _products.times(u * v_, self._gram, True) - self._xy
        else:
            Xb, yb = (self.X, self.y) if idx is None else self._minibatch(W, idx)
            c = self._combine(self._margins(u * v_, Xb) - yb, Xb)  # Σ_k r_k x_k / b
        return np.concatenate([c * v_, c * u], axis=-1)

    def hessian(self, w) -> np.ndarray:
        """The exact Hessian ``(2d, 2d)`` at one iterate ``w`` of shape ``(2d,)``."""
        w = self._iterates(w, "w")
        if w.ndim != 1:
            raise ValueError(f"w must have shape ({self.dim},), got shape {w.shape}")
        u, v_ = self._split(w)
        r = np.einsum("kd,d->k", self.X, u * v_) - self.y
        c = np.einsum("k,kd->d", r, self.X) / self.n
        A = np.einsum("ki,kj->ij", self.X, self.X) / self.n
        H = np.empty((self.dim, self.dim))
        d = self.d
        H[:d, :d] = v_[:, None] * A * v_[None, :]
        H[d:, d:] = u[:, None] * A * u[None, :]
        H[:d, d:] = v_[:, None] * A * u[None, :] + np.diag(c)
        H[d:, :d] = H[:d, d:].T
        # exactly symmetric: v_i A_ij v_j and v_j A_ji v_i round differently
        return (H + H.T) / 2

    @property
    def saddle_eigenvalue(self) -> float:
        r""":math:`\lambda_{\rm neg} = -\|X^\top y\|_\infty / n`, the most negative eigenvalue
        of the Hessian at the origin."""
        return -float(np.max(np.abs(self.correlations)))

    @property
    def correlations(self) -> np.ndarray:
        r""":math:`X^\top y / n`, ``(d,)``: the Hessian at the origin has eigenvalues
        :math:`\pm|X^\top y/n|_j`."""
        return np.einsum("kd,k->d", self.X, self.y) / self.n

    def __repr__(self):
        return f"DiagonalNetwork(n={self.n}, d={self.d}{', fast=True' if self.fast else ''})"


def sparse_regression(n: int = 200, d: int = 10, support: int = 3, noise: float = 0.1,
                      n_test: int = 500, n_pool: int = 16, seed: int = 0) -> Dataset:
    r"""Seeded sparse linear regression: :math:`y = x^\top\beta_\star + \sigma\xi`.

    :math:`x \sim N(0, I_d)`; :math:`\beta_\star` has ``support`` non-zero entries at
    random positions with magnitudes :math:`1, 2^{-1}, 2^{-2}, \dots` (distinct, so the
    saddle's negative eigenvalues are well separated) and random signs;
    :math:`\xi \sim N(0, 1)`. Train, test and pool rows are independent draws, all from
    ``numpy.random.default_rng(seed)``; features and targets are standardized with the
    training statistics (:mod:`ssam_theory.data`).

    Args:
        n, d: training examples and features.
        support: number of non-zero coefficients, ``1 <= support <= d``.
        noise: :math:`\sigma \ge 0`.
        n_test, n_pool: sizes of the test set and of the pool of replacement rows.
        seed: the seed.

    Returns:
        A least-squares :class:`~ssam_theory.data.Dataset` named ``"sparse_regression"``.
    """
    n = v.as_count("n", n, low=2)
    d = v.as_count("d", d, low=1)
    support = v.as_count("support", support, low=1)
    if support > d:
        raise ValueError(f"support must be <= d = {d}, got {support}")
    noise = v.as_real("noise", noise, low=0.0)
    n_test = v.as_count("n_test", n_test, low=1)
    n_pool = v.as_count("n_pool", n_pool, low=1)
    rng = np.random.default_rng(seed)
    beta = np.zeros(d)
    where = rng.choice(d, size=support, replace=False)
    beta[where] = 0.5 ** np.arange(support) * rng.choice([-1.0, 1.0], size=support)
    parts = {}
    for key, m in (("train", n), ("test", n_test), ("pool", n_pool)):
        X = rng.standard_normal((m, d))
        parts[key] = (X, X @ beta + noise * rng.standard_normal(m))
    return _build("sparse_regression", "least_squares", parts,
                  {"source": "sparse linear regression", "seed": seed, "noise": noise,
                   "support": support, "beta_star": beta.tolist()})


# --------------------------------------------------------------------------------------------
# escape from the saddle at the origin (claim C19): measurements only, verdicts in claims/

#: Data sets of the escape experiment, in the order of tables and figures.
NETWORK_DATASETS: tuple[str, ...] = ("sparse_regression", "diabetes")


def load_network(name: str, seed: int = 0) -> DiagonalNetwork:
    """The network on ``"sparse_regression"`` (n = 100, d = 8) or ``"diabetes"`` (n = 302,
    d = 10), training rows, standardized."""
    if name == "sparse_regression":
        return DiagonalNetwork.from_dataset(sparse_regression(n=100, d=8, seed=seed))
    if name == "diabetes":
        return DiagonalNetwork.from_dataset(diabetes(seed=seed))
    raise ValueError(f"name must be one of {NETWORK_DATASETS}, got {name!r}")


def saddle_direction(net: DiagonalNetwork) -> tuple[np.ndarray, float, float]:
    r"""``(v_neg, b, a)``: the unit eigenvector of :math:`\lambda_{\rm neg}` at the origin,
    :math:`b = |\lambda_{\rm neg}|` and :math:`a = \|x_j\|^2/n` for its feature :math:`j`
    (the line :math:`s\,v_{\rm neg}` is invariant; f on it is
    :math:`f(0) - bs^2/2 + as^4/8`)."""
    c = net.correlations
    j = int(np.argmax(np.abs(c)))
    w = np.zeros(net.dim)
    w[j], w[net.d + j] = 1.0, np.sign(c[j])
    return w / np.sqrt(2.0), float(abs(c[j])), float(net.X[:, j] @ net.X[:, j] / net.n)


@dataclass(frozen=True)
class EscapeConfig:
    r"""Settings of the escape experiment (C19). ``η = lr_factor/b`` and ``ρ = f/b`` for
    ``f`` in ``rho_factors``, with :math:`b = |\lambda_{\rm neg}|` of each data set.

    Attributes:
        datasets: names for :func:`load_network`.
        alphas: initial scales :math:`\alpha` (log-spaced); :math:`w_0 = \alpha z/\|z\|`.
        seeds: number of random starts (and minibatch sequences), from ``root``.
        steps: run length; a run that has not escaped by then is censored there.
        lr_factor: :math:`\eta b`.
        rho_factors: :math:`\rho b` of the escape runs (the first is the one judged).
        batch_sizes: ``None`` (deterministic) and minibatch sizes.
        fraction: escape = loss below ``fraction``·f(0), and below f(0) ever after.
        rate_rho_factors: :math:`\rho b` of the linearised-rate runs (both sides of 1).
        rate_alpha, rate_steps: start :math:`\alpha v_{\rm neg}` and window of those runs.
        root: root seed of :class:`numpy.random.SeedSequence`.
        fast: the escape runs in the Gram arithmetic of :func:`escape_grid` (``False``: the
            network's exact products, the same bits as :func:`ssam_theory.run`).
    """

    datasets: tuple[str, ...] = NETWORK_DATASETS
    alphas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    seeds: int = 12
    steps: int = 400
    lr_factor: float = 0.2
    rho_factors: tuple[float, ...] = (0.5,)
    batch_sizes: tuple[int | None, ...] = (None, 16)
    fraction: float = 0.8
    rate_rho_factors: tuple[float, ...] = (0.9, 1.1)
    rate_alpha: float = 1e-8
    rate_steps: int = 40
    root: int = 19
    fast: bool = True

    @classmethod
    def quick(cls) -> EscapeConfig:
        return cls()

    @classmethod
    def full(cls) -> EscapeConfig:
        return cls(alphas=tuple(np.geomspace(1e-5, 1e-1, 9).tolist()), seeds=30, steps=1500,
                   rho_factors=(0.5, 0.25, 2.0), batch_sizes=(None, 16, 4))


def escape_steps(loss: np.ndarray, fraction: float) -> np.ndarray:
    r"""First step :math:`t` with :math:`f(w_t) \le` ``fraction``:math:`\cdot f(w_0)` after
    which the loss stays below :math:`f(w_0)` until the end; ``-1`` where there is none.

    Args:
        loss: ``(T+1, B)`` losses (NaN after a divergence counts as not below).
        fraction: in (0, 1).
    """
    L0 = loss[0]
    with np.errstate(invalid="ignore"):
        below = loss <= fraction * L0
        under = loss < L0
    # last step at which the loss was not below f(0): escape must come after it
    not_under = ~under
    last_bad = np.where(not_under.any(0), loss.shape[0] - 1 - np.argmax(not_under[::-1], 0), -1)
    ok = below & (np.arange(loss.shape[0])[:, None] > last_bad)
    return np.where(ok.any(0), np.argmax(ok, 0), -1)


def _starts(net, alphas, seeds):
    """``(len(alphas)·S, 2d)`` starts ``α z_s/‖z_s‖``; ``z_s`` from ``seeds[s]``."""
    Z = np.stack([np.random.default_rng(s).standard_normal(net.dim) for s in seeds])
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return (np.asarray(alphas)[:, None, None] * Z[None]).reshape(-1, net.dim)


def escape_times(net: DiagonalNetwork, lr: float, rho: float, cfg: EscapeConfig,
                 batch_size: int | None, rules=None) -> dict:
    r"""Steps to escape of every rule from the starts :math:`\alpha z_s/\|z_s\|`.

    One batch per rule: rows are (α, seed), all rules see the same starts and, in minibatch
    mode, seed ``s`` draws its own index sequence, shared by every α and rule (paired).
    ``cfg.fast`` selects the arithmetic (:func:`escape_grid`).

    Returns:
        ``{"steps": {rule: (n_alpha, S) int (-1 = not escaped)}, "diverged": {rule: same,
        bool}, "final_loss": {rule: (n_alpha, S)}}``.
    """
    res = escape_grid(net, lr, (rho,), cfg, (batch_size,), rules)
    return {key: {r: x[0, 0] for r, x in part.items()} for key, part in res.items()}


def escape_grid(net: DiagonalNetwork, lr: float, rhos, cfg: EscapeConfig, batch_sizes,
                rules=None) -> dict:
    r""":func:`escape_times` for every batch size × ρ at once: one batched run per rule, rows
    (batch size, seed, ρ, α), records ``(n_batch, n_rho, n_alpha, S)``.

    Every row is the run :func:`escape_times` makes alone. ``cfg.fast = False`` evaluates it
    with the network's exact products (the same bits as :func:`ssam_theory.run` row by row);
    ``cfg.fast = True`` with the Gram form: the full gradient :math:`A\beta - X^\top y/n`, the
    minibatch gradient :math:`A_b\beta - X_b^\top y_b/b` with :math:`A_b = X_b^\top X_b/b`
    formed once per seed and step, and the loss of :class:`DiagonalNetwork` ``(fast=True)``:
    the same numbers up to rounding. On C19's full settings every escape step is the same
    but NSSAM's at ρb = 2 on diabetes (full batch, one seed, by a few steps: its exit moves
    as much under a one-ulp change of α in the exact arithmetic), and one of SAM's diverging
    runs (diabetes, b = 4) diverges just after the step budget instead of before it.
    """
    table = rule_factories(RULES if rules is None else {**dict.fromkeys(RULES), **rules})
    S, A, K, M = cfg.seeds, len(cfg.alphas), len(rhos), len(batch_sizes)
    seq = np.random.SeedSequence(cfg.root).spawn(2 * S)
    starts = _starts(net, cfg.alphas, seq[:S]).reshape(A, S, 1, net.dim)
    shape = (M, S, K, A)
    W0 = np.broadcast_to(starts.transpose(1, 2, 0, 3), (*shape, net.dim)).reshape(-1, net.dim)
    rho_rows = np.broadcast_to(np.asarray(rhos, dtype=np.float64)[:, None], shape).ravel()
    # seed s draws its own (steps, b) indices, shared by every ρ, α and rule (paired)
    indices = [None if bs is None else
               np.stack([np.random.default_rng(s).integers(0, net.n, (cfg.steps, bs))
                         for s in seq[S:]], axis=1) for bs in batch_sizes]  # (T, S, b)
    fast = cfg.fast
    if fast and not net.fast:
        net = DiagonalNetwork(net.X, net.y, fast=True)
    out = {"steps": {}, "diverged": {}, "final_loss": {}}
    for name, factory in table.items():
        opt = build(factory, np.full(W0.shape[0], lr), rho_rows, label=f"rules[{name!r}]")
        loss, diverged = _escape_run(opt, net, W0, cfg.steps, indices, K * A, fast)

        def grid(x):
            return x.reshape(shape).transpose(0, 2, 3, 1)

        out["steps"][name] = grid(escape_steps(loss, cfg.fraction))
        out["diverged"][name] = grid(diverged)
        out["final_loss"][name] = grid(np.nan_to_num(loss[-1], nan=np.inf))
    return out


@shared
def escape_experiment(cfg: EscapeConfig, rules=None) -> dict:
    r"""Every escape run of C19: per data set of ``cfg.datasets``, ``b``, ``a`` (of
    :func:`saddle_direction`), ``lr = cfg.lr_factor/b`` and the records of
    :func:`escape_grid` over ``cfg.batch_sizes`` × ``cfg.rho_factors`` (``ρ = f/b``).

    Computed once per ``ssam-theory reproduce`` run for the claim and the notebook
    (:func:`ssam_theory._shared.shared`)."""
    out = {}
    for name in cfg.datasets:
        net = load_network(name)
        _, b, a = saddle_direction(net)
        lr = cfg.lr_factor / b
        rhos = np.asarray(cfg.rho_factors, dtype=np.float64) / b
        out[name] = {"b": b, "a": a, "lr": lr,
                     **escape_grid(net, lr, rhos, cfg, cfg.batch_sizes, rules)}
    return out


def _escape_run(opt, net, W0, steps, indices, per_seed, fast, chunk=64):
    """The full loss ``(steps + 1, B)`` (NaN once a row diverged) and the diverged rows.

    Rows come in blocks, one per entry of ``indices`` (``None``: full batch, else the
    ``(T, S, b)`` minibatches of ``S`` seeds of ``per_seed`` consecutive rows each). A row
    that diverges is frozen at its last sane iterate, as :func:`ssam_theory.run` does."""
    W = W0.copy()
    B, d = W.shape[0], net.d
    rows = B // len(indices)
    groups = len(indices) * (rows // per_seed)
    loss = np.full((steps + 1, B), np.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        loss[0] = net.loss(W)
    dead = np.zeros(B, dtype=bool)
    state = opt.init(W)
    if fast:  # per block of per_seed rows: c = β A_b - X_bᵀy_b/b, A_b = X_bᵀX_b/b
        gram = np.empty((len(indices), rows // per_seed, d, d))
        shift = np.empty((len(indices), rows // per_seed, d))
        gram[:], shift[:] = net._gram, net._xy

        def grad(x):
            beta = (x[:, :d] * x[:, d:]).reshape(groups, per_seed, d)
            c = np.matmul(beta, gram.reshape(groups, d, d))
            c -= shift.reshape(groups, 1, d)
            c = c.reshape(B, d)
            g = np.empty_like(x)
            np.multiply(c, x[:, d:], out=g[:, :d])
            np.multiply(c, x[:, :d], out=g[:, d:])
            return g
    for t in range(steps):
        if fast:
            if t % chunk == 0:  # the minibatch Gram matrices of the next `chunk` steps
                ahead = [None if idx is None else _minibatch_grams(net, idx[t:t + chunk])
                         for idx in indices]
            for m, pair in enumerate(ahead):
                if pair is not None:
                    gram[m], shift[m] = pair[0][t % chunk], pair[1][t % chunk]
        else:
            def grad(x, t=t):
                g = np.empty_like(x)
                for m, idx in enumerate(indices):
                    part = slice(m * rows, (m + 1) * rows)
                    g[part] = net.grad(x[part]) if idx is None else net.grad(
                        x[part], np.repeat(idx[t], per_seed, axis=0))
                return g
        W_new, state, _, bad = advance(opt, W, state, grad, DIVERGENCE_NORM)
        dead |= bad
        if dead.any():
            W_new[dead] = W[dead]
        W = W_new
        with np.errstate(over="ignore", invalid="ignore"):
            loss[t + 1] = net.loss(W)
        if dead.any():
            loss[t + 1, dead] = np.nan
    return loss, dead


def _minibatch_grams(net, idx):
    """``(X_bᵀX_b/b, X_bᵀy_b/b)`` of the minibatches ``idx (..., b)``: ``(..., d, d)``,
    ``(..., d)``."""
    Xb, yb = net.X[idx], net.y[idx]
    b = idx.shape[-1]
    return np.matmul(np.swapaxes(Xb, -1, -2), Xb) / b, np.einsum("...ki,...k->...i", Xb, yb) / b


def predicted_multiplier(rule: str, lr: float, rho: float, b: float, a: float) -> float | None:
    r"""Linearised per-step multiplier along :math:`v_{\rm neg}` (start on that line, small):
    sgd :math:`1 + \eta b`; usam C09's :math:`1 - \eta b(\rho b - 1)`; ssam
    :math:`1 + \eta b\,\mathrm{sign}(1 - \rho b)`; nssam
    :math:`1 - \eta b\,\mathrm{sign}(2b - a\rho^2)`; sam ``None`` (its perturbation has
    length ρ whatever ‖g‖: no linear rate, C10's trap instead)."""
    if rule == "sgd":
        return th.usam_saddle_multiplier(lr, 0.0, b)
    if rule == "usam":
        return th.usam_saddle_multiplier(lr, rho, b)
    if rule == "ssam":
        return th.ssam_saddle_multiplier(lr, rho, b)
    if rule == "nssam":
        return th.nssam_network_multiplier(lr, rho, b, a)
    return None


def saddle_multipliers(net: DiagonalNetwork, lr: float, rhos, cfg: EscapeConfig,
                       rules=None) -> dict:
    r"""Measured per-step multiplier along :math:`v_{\rm neg}` from
    :math:`w_0 = \alpha v_{\rm neg}` (α = ``cfg.rate_alpha``), deterministic, over
    ``cfg.rate_steps`` steps: the geometric mean of :math:`|s_{t+1}/s_t|`, the largest
    :math:`|s_t|`, and the largest distance from the line.

    Returns:
        ``{rule: {"multiplier": (R,), "max_s": (R,), "off_line": (R,)}}`` for ``R = len(rhos)``.
    """
    table = rule_factories(RULES if rules is None else {**dict.fromkeys(RULES), **rules})
    vneg, _, _ = saddle_direction(net)
    rhos = np.asarray(rhos, dtype=np.float64)
    out = {}
    for name, factory in table.items():
        opt = build(factory, np.full(rhos.size, lr), rhos, label=f"rules[{name!r}]")
        tr = run(opt, net, cfg.rate_alpha * vneg, cfg.rate_steps, record_iterates=True)
        its = tr.iterates  # (T+1, R, 2d)
        s = its @ vneg
        off = np.linalg.norm(its - s[..., None] * vneg, axis=-1).max(axis=0)
        with np.errstate(divide="ignore"):
            logs = np.log(np.abs(s))
        m = np.exp((logs[-1] - logs[0]) / cfg.rate_steps)
        out[name] = {"multiplier": m, "max_s": np.abs(s).max(axis=0), "off_line": off}
    return out
