r"""Escape from saddles: attraction phase diagrams and paired escape times (claims C11a–c).

Experiments only: every function returns measurements (outcome fractions, escape steps over
shared random starts); the verdicts live in :mod:`ssam_theory.claims.escape`. Outcomes are
those of :func:`ssam_theory.sweep` with a saddle: *escaped* means the run left the ball
:math:`\|w - s\| \le R` downhill (:math:`f(w) < f(s)`) and nothing blew up, a run that left
any other way is *diverged*, and a run that stayed is *trapped* (converged to :math:`s`) or
*bounded*. The escape step is the first step outside the ball.

Landscapes: quadratic saddles :math:`\tfrac12(ax^2 - by^2)`, Beale's function (saddle
(0, 1)) and :class:`QuarticSaddle`, a saddle with quartic walls
:math:`\tfrac12\sum_i a_i x_i^2 - \tfrac12 b y^2 + \tfrac14 c y^4` (bounded below: an
escape ends in the basin :math:`y^2 \approx b/c`), optionally with per-example gradient
noise.

References:
    Tan et al., Stabilizing Sharpness-aware Minimization Through A Simple Renormalization
    Strategy, arXiv:2401.07250 (SSAM "mitigates getting stuck at saddle points").
    Kim et al., Stability Analysis of Sharpness-Aware Minimization, arXiv:2301.06308.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from . import _validate as v
from .data_landscapes import _check_minibatch
from .landscapes import Landscape
from .rules import RULES, RuleFactory, build, rule_factories
from .sweep import Outcome, sweep

__all__ = ["EscapeSteps", "PhaseDiagram", "QuarticSaddle", "attraction_diagram",
           "escape_steps", "escape_steps_grid", "predicted_attraction", "predicted_outcome",
           "start_seeds"]


class QuarticSaddle(Landscape):
    r"""A strict saddle with quartic walls, optionally with per-example gradient noise.

    .. math::

        f(w) = \tfrac12 \sum_{i=1}^{k} a_i x_i^2 - \tfrac12 b y^2 + \tfrac14 c y^4,
        \qquad w = (x_1, \dots, x_k, y),

    saddle at :math:`s = 0` (:math:`f(s) = 0`, Hessian :math:`\mathrm{diag}(a, -b)`), minima
    at :math:`x = 0`, :math:`y = \pm\sqrt{b/c}` with :math:`f = -b^2/(4c)`; the curvature
    along :math:`y` turns positive at :math:`y^2 = b/(3c)` (the basin of a minimum).
    With ``n`` examples, :math:`f_i(w) = f(w) + \xi_i^\top w` with centred tilts of variance
    exactly :math:`\sigma^2` per coordinate (as :class:`ssam_theory.NoisyQuadratic`): the
    minibatch gradient is :math:`\nabla f(w) + \bar\xi_I` and ``loss`` is the full
    :math:`f`.

    Args:
        a: positive curvatures :math:`a_i > 0`, a float or a sequence (``k = len(a)``).
        b: negative curvature magnitude :math:`b > 0`.
        c: quartic coefficient :math:`c > 0`.
        n: number of examples (``None``: no noise, no minibatches), ``n >= 2``.
        sigma: noise standard deviation :math:`\sigma \ge 0` (with ``n``).
        seed: seed of the tilts.
    """

    def __init__(self, a=1.0, b: float = 1.0, c: float = 1.0, n: int | None = None,
                 sigma: float = 0.0, seed=0):
        a = np.atleast_1d(v.as_finite_array("a", a, ndim=(0, 1))).astype(np.float64)
        if a.size == 0 or np.any(a <= 0):
            raise ValueError(f"a must be positive curvatures, got {a.tolist()!r}")
        self.a = a
        self.b = v.as_real("b", b, low=0.0, low_open=True)
        self.c = v.as_real("c", c, low=0.0, low_open=True)
        self.dim = a.size + 1
        self.saddle = np.zeros(self.dim)
        self.sigma = v.as_real("sigma", sigma, low=0.0)
        if n is None:
            if self.sigma:
                raise ValueError(f"sigma={sigma!r} needs n (the number of examples)")
            self.xi = None
        else:
            self.n = v.as_count("n", n, low=2)
            xi = np.random.default_rng(seed).standard_normal((self.n, self.dim))
            xi -= xi.mean(axis=0)  # Σ_i ξ_i = 0
            self.xi = xi * (self.sigma / xi.std(axis=0))  # (1/n) Σ_i ξ_ij² = σ²
            self.xi.setflags(write=False)

    @property
    def basin(self) -> float:
        """:math:`\\sqrt{b/(3c)}`: where the curvature along y turns positive."""
        return float(np.sqrt(self.b / (3 * self.c)))

    def loss(self, W) -> np.ndarray:
        W = self._iterates(W)
        x, y = W[..., :-1], W[..., -1]
        y2 = y * y  # powers by multiplication (see grad)
        return 0.5 * (x * x) @ self.a - 0.5 * self.b * y2 + 0.25 * self.c * (y2 * y2)

    def grad(self, W, idx=None) -> np.ndarray:
        W = self._iterates(W)
        G = np.empty_like(W)
        y = W[..., -1]
        np.multiply(W[..., :-1], self.a, out=G[..., :-1])
        # y·y·y, not y**3: NumPy's power takes a vectorized path for positive bases and a
        # scalar one (~30x slower) for negative ones, which round differently and depend on
        # the CPU's instruction set; two multiplications give the same bits everywhere
        G[..., -1] = -self.b * y + self.c * (y * y * y)
        if idx is None:
            return G
        if self.xi is None:
            raise ValueError("grad(W, idx) needs a noisy QuarticSaddle (pass n and sigma)")
        idx = _check_minibatch(W, idx, self.n, self.dim)
        G += _minibatch_mean(self.xi, idx)
        return G

    def hessian(self, w) -> np.ndarray:
        w = self._iterates(w, "w")
        if w.ndim != 1:
            raise ValueError(f"w must have shape ({self.dim},), got shape {w.shape}")
        return np.diag(np.concatenate([self.a, [-self.b + 3 * self.c * w[-1] ** 2]]))

    def __repr__(self):
        noise = "" if self.xi is None else f", n={self.n}, sigma={self.sigma}"
        return f"QuarticSaddle(a={self.a.tolist()}, b={self.b}, c={self.c}{noise})"


def _minibatch_mean(xi: np.ndarray, idx: np.ndarray) -> np.ndarray:
    r"""The mean tilt :math:`\bar\xi_I = \frac1b\sum_{i \in I}\xi_i` of the minibatches
    ``idx`` (``(b,)`` or ``(B, b)``, checked) over the rows of ``xi`` (``(n, d)``).

    The same bits as ``xi[idx].mean(axis=-2)`` (a sum in index order, then one division by
    b), several times faster: one gather of ``(…, d)`` rows per index column instead of a
    ``(…, b, d)`` gather and a strided reduction.
    """
    acc = xi.take(idx[..., 0], axis=0)
    for j in range(1, idx.shape[-1]):
        acc += xi.take(idx[..., j], axis=0)
    return acc / idx.shape[-1]


def start_seeds(root: int, n: int) -> np.ndarray:
    """``n`` distinct seeds for random starts, from ``SeedSequence(root).spawn(n)``."""
    n = v.as_count("n", n, low=1)
    seeds = np.array([int(ss.generate_state(1, dtype=np.uint32)[0])
                      for ss in np.random.SeedSequence(int(root)).spawn(n)], dtype=np.int64)
    if np.unique(seeds).size != n:  # a 32-bit collision: use 64-bit states instead
        seeds = np.array([int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
                          for ss in np.random.SeedSequence(int(root)).spawn(n)])
    return seeds


def _near(center, scale, rng):
    return center + scale * rng.standard_normal(center.shape)


def _factories(rules: Mapping[str, RuleFactory] | None, names) -> dict[str, RuleFactory]:
    table = rule_factories(RULES if rules is None else {**dict.fromkeys(RULES), **rules})
    return {name: table[name] for name in names}


def _built(factory, lr, rho, **options):
    """``factory`` called through :func:`ssam_theory.rules.build` (checks its result)."""
    return build(factory, lr, rho, **options)


class PhaseDiagram(NamedTuple):
    """Outcome fractions over an :math:`(\\eta, \\rho)` grid for several rules.

    ``fractions[rule][outcome]`` is an ``(n_lr, n_rho)`` array, outcome one of
    ``"escaped"``, ``"diverged"``, ``"trapped"``, ``"bounded"``, ``"converged"``
    (fractions of the starts; they sum to 1); ``median_escape_step[rule]`` the median escape
    step of the escaped starts (NaN where none escaped).
    """

    lr: np.ndarray
    rho: np.ndarray
    seeds: np.ndarray
    steps: int
    fractions: dict
    median_escape_step: dict


def attraction_diagram(landscape: Landscape, saddle, lr, rho, steps: int, seeds,
                       rules: Mapping[str, RuleFactory] | None = None, names=RULES, *,
                       start_scale: float = 0.1, escape_radius: float = 1.0,
                       batch_size: int | None = None) -> PhaseDiagram:
    r"""The attraction phase diagram of every rule in ``names`` around ``saddle``.

    Each rule runs :func:`ssam_theory.sweep` over ``lr`` × ``rho`` (SGD: :math:`\rho` is
    ignored, its row repeated) from the same starts :math:`s + \text{start\_scale}\cdot
    R\,z`, :math:`z \sim \mathcal N(0, I)` drawn from ``default_rng(seed)`` for each seed.

    Args:
        landscape: a :class:`ssam_theory.Landscape`.
        saddle: the stationary point :math:`s`, ``(d,)``.
        lr, rho: 1-D grids of :math:`\eta > 0`, :math:`\rho \ge 0`.
        steps: update budget.
        seeds: seeds of the starts (e.g. :func:`start_seeds`) or a count.
        rules: ``{name: factory}`` replacing the package's rules (injected rules).
        names: the rules to run.
        start_scale: starts at distance about ``start_scale`` × ``escape_radius``.
        escape_radius: :math:`R`.
        batch_size: minibatch size on a noisy landscape (stochastic mode).

    Returns:
        A :class:`PhaseDiagram`.
    """
    start_scale = v.as_real("start_scale", start_scale, low=0.0, low_open=True)
    escape_radius = v.as_real("escape_radius", escape_radius, low=0.0, low_open=True)
    s = v.as_finite_array("saddle", saddle, ndim=1)
    table = _factories(rules, names)
    w0 = functools.partial(_near, s, start_scale * escape_radius)
    fractions, med = {}, {}
    lr_axis = rho_axis = seed_axis = None
    for name in names:
        factory = functools.partial(_built, table[name])
        res = sweep(landscape, name, lr=lr, rho=0.0 if name == "sgd" else rho, steps=steps,
                    seeds=seeds, w0=w0, saddle=s, escape_radius=escape_radius,
                    progress=False, make_optimizer=factory, batch_size=batch_size)
        lr_axis, seed_axis = res.lr, res.seeds
        if name != "sgd":
            rho_axis = res.rho
        oc = res.outcome
        fr = {o.name.lower(): (oc == o).mean(axis=-1) for o in Outcome}
        esc = np.where(oc == Outcome.ESCAPED, res.event_step.astype(float), np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: none escaped
            m = np.nanmedian(esc, axis=-1)
        fractions[name], med[name] = fr, m
    n_rho = np.atleast_1d(np.asarray(rho, dtype=np.float64)).size
    for name in names:  # SGD ignores ρ: repeat its column over the ρ axis
        for k, val in fractions[name].items():
            fractions[name][k] = np.broadcast_to(val, (val.shape[0], n_rho)).copy()
        med[name] = np.broadcast_to(med[name], (med[name].shape[0], n_rho)).copy()
    if rho_axis is None:
        rho_axis = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    return PhaseDiagram(lr_axis, rho_axis, seed_axis, int(steps), fractions, med)


class EscapeSteps(NamedTuple):
    """Paired escape steps of several rules from the same starts (and the same minibatches).

    ``steps[rule]``: ``(R,)`` float, the escape step of every start, ``inf`` where the run
    did not escape within the budget (``outcome[rule]`` says what it did instead);
    ``starts``: ``(R, d)``; ``seeds``: the seeds of the starts (and of the minibatches).
    """

    steps: dict
    outcome: dict
    starts: np.ndarray
    seeds: np.ndarray
    budget: int


def escape_steps(landscape: Landscape, saddle, lr: float, rho: float, budget: int,
                 seeds: Sequence[int] | np.ndarray,
                 rules: Mapping[str, RuleFactory] | None = None, names=RULES, *,
                 start_scale: float = 0.1, escape_radius: float = 1.0,
                 batch_size: int | None = None) -> EscapeSteps:
    r"""Steps to escape of every rule in ``names`` from the same random starts.

    Start ``r`` is :math:`s + \text{start\_scale}\cdot R\,z_r` with :math:`z_r` drawn from
    ``default_rng(seeds[r])``; with ``batch_size`` (noisy landscape) start ``r`` also gets
    the minibatch sequence of ``seeds[r]``, the same for every rule (common random numbers),
    so the escape steps of two rules are paired over starts.

    Returns:
        An :class:`EscapeSteps`.
    """
    rho = v.as_real("rho", rho, low=0.0)
    return escape_steps_grid(landscape, saddle, lr, [rho], budget, seeds, rules, names,
                             start_scale=start_scale, escape_radius=escape_radius,
                             batch_size=batch_size)[0]


def escape_steps_grid(landscape: Landscape, saddle, lr: float, rho, budget: int,
                      seeds: Sequence[int] | np.ndarray,
                      rules: Mapping[str, RuleFactory] | None = None, names=RULES, *,
                      start_scale: float = 0.1, escape_radius: float = 1.0,
                      batch_size: int | None = None) -> tuple[EscapeSteps, ...]:
    r""":func:`escape_steps` for every radius of ``rho`` (a non-empty 1-D grid), one sweep
    per rule.

    Each rule runs one :func:`ssam_theory.sweep` with ``rho`` as its radius axis (SGD, which
    ignores :math:`\rho`, runs once and its escape steps are repeated for every radius).
    Every row of a sweep is computed row-locally, so entry ``j`` equals
    ``escape_steps(..., rho[j], ...)`` bit for bit; only the per-step overhead is shared.

    Returns:
        A tuple of :class:`EscapeSteps`, one per radius, in the order of ``rho``.
    """
    lr = v.as_real("lr", lr, low=0.0, low_open=True)
    rho = v.as_finite_array("rho", rho, ndim=1)
    if rho.size == 0 or np.any(rho < 0):
        raise ValueError(f"rho must be a non-empty grid of radii >= 0, got {rho.tolist()!r}")
    start_scale = v.as_real("start_scale", start_scale, low=0.0, low_open=True)
    escape_radius = v.as_real("escape_radius", escape_radius, low=0.0, low_open=True)
    s = v.as_finite_array("saddle", saddle, ndim=1)
    table = _factories(rules, names)
    w0 = functools.partial(_near, s, start_scale * escape_radius)
    steps = [{} for _ in rho]
    outcome = [{} for _ in rho]
    starts = seed_axis = None
    for name in names:
        factory = functools.partial(_built, table[name])
        res = sweep(landscape, name, lr=lr, rho=0.0 if name == "sgd" else rho, steps=budget,
                    seeds=seeds, w0=w0, saddle=s, escape_radius=escape_radius,
                    progress=False, make_optimizer=factory, batch_size=batch_size)
        for j in range(rho.size):
            oc = res.outcome[0, 0 if name == "sgd" else j]
            ev = res.event_step[0, 0 if name == "sgd" else j]
            outcome[j][name] = oc.copy()
            steps[j][name] = np.where(oc == Outcome.ESCAPED, ev, np.inf)
        starts, seed_axis = res.w0, res.seeds
    return tuple(EscapeSteps(steps[j], outcome[j], starts.copy(), seed_axis.copy(),
                             int(budget)) for j in range(rho.size))


def predicted_attraction(name: str, lr, rho, a, b) -> np.ndarray:
    r"""Whether the saddle of :math:`\tfrac12(a x^2 - b y^2)` attracts ``name``, by theory.

    USAM: :math:`\rho b > 1` (its step along :math:`y` points back), :math:`|1 - \eta b(\rho b
    - 1)| < 1` (:data:`ssam_theory.theory.usam_saddle_multiplier`) and :math:`x` stable,
    :math:`\eta < 2/(a + \rho a^2)` (:data:`ssam_theory.theory.usam_max_lr`). SSAM, predicted
    from USAM's set by the direction argument (:math:`\gamma > 0` keeps USAM's direction,
    only the step length changes): the same direction condition :math:`\rho b > 1`, with
    GD's step lengths on both axes, :math:`|1 - \eta b| < 1`
    (:data:`ssam_theory.theory.ssam_saddle_multiplier`) and :math:`\eta < 2/a`. With several
    positive curvatures, ``a`` is the largest. Starts near the saddle (the quadratic model).

    Args:
        name: ``"usam"`` or ``"ssam"``.
        lr, rho: arrays (broadcast) of :math:`\eta > 0`, :math:`\rho \ge 0`.
        a, b: the positive and the negative curvature magnitudes, :math:`a, b > 0`.

    Returns:
        Boolean array, the broadcast shape of ``lr`` and ``rho``.
    """
    from . import theory as th

    if name not in ("usam", "ssam"):
        raise ValueError(f"name must be 'usam' or 'ssam', got {name!r}")
    a = v.as_real("a", a, low=0.0, low_open=True)
    b = v.as_real("b", b, low=0.0, low_open=True)
    lr, rho = np.broadcast_arrays(np.asarray(lr, dtype=np.float64),
                                  np.asarray(rho, dtype=np.float64))
    direction = rho * b > 1
    if name == "usam":
        m = th.usam_saddle_multiplier(lr, rho, b)
        x_stable = lr < th.usam_max_lr(a, rho)
    else:
        m = th.ssam_saddle_multiplier(lr, rho, b)
        x_stable = lr < th.gd_max_lr(a)
    return direction & (np.abs(m) < 1) & x_stable


def predicted_outcome(name: str, lr, rho, a, b) -> np.ndarray:
    r"""Predicted outcome codes on :math:`\tfrac12(ax^2 - by^2)`: trapped, escaped or diverged.

    Trapped: :func:`predicted_attraction`. Otherwise the run leaves along :math:`y`; it
    escaped if :math:`x` stays stable meanwhile, else diverged. USAM's map is linear:
    :math:`x` stable iff :math:`|1 - \eta(a + \rho a^2)| < 1`. SSAM's :math:`\gamma` while
    :math:`y` dominates is :math:`1/|\rho b - 1|`, so :math:`x` is stable iff
    :math:`|1 - \eta a(1 + \rho a)/|\rho b - 1|| < 1`
    (:data:`ssam_theory.theory.ssam_escape_x_multiplier`).

    Returns:
        ``int8`` array of :class:`ssam_theory.Outcome` codes (``TRAPPED``, ``ESCAPED``,
        ``DIVERGED``), the broadcast shape of ``lr`` and ``rho``.
    """
    from . import theory as th

    held = predicted_attraction(name, lr, rho, a, b)
    lr, rho = np.broadcast_arrays(np.asarray(lr, dtype=np.float64),
                                  np.asarray(rho, dtype=np.float64))
    if name == "usam":  # |x-multiplier| of USAM's linear map
        amx = np.asarray(th.usam_expansiveness(lr, rho, a), dtype=np.float64)
    else:
        amx = np.full(lr.shape, np.inf)  # ρb = 1: γ unbounded, the x-step blows up
        ok = rho * b != 1
        amx[ok] = np.abs(th.ssam_escape_x_multiplier(lr[ok], rho[ok], a, b))
    out = np.where(amx < 1, Outcome.ESCAPED, Outcome.DIVERGED).astype(np.int8)
    out[held] = Outcome.TRAPPED
    return out
