r"""The SAM family of update rules: one implementation, variants as parameters.

With :math:`g = \nabla f(w)` (the minibatch gradient in stochastic problems), learning rate
:math:`\eta` and radius :math:`\rho`, one step of every rule is

.. math::

    e &= \begin{cases} \rho\, g / \|g\| & \text{SAM base (sam, nssam)} \\
                        \rho\, g         & \text{USAM base (usam, ssam)} \end{cases} \\
    \tilde g &= \nabla f(w + e) \\
    d &= \gamma\, \tilde g, \qquad
        \gamma = \|g\| / \|\tilde g\| \ \text{(ssam, nssam)}, \quad \gamma = 1 \ \text{otherwise} \\
    w &\leftarrow w - \eta\, d

and ``sgd`` is :math:`w \leftarrow w - \eta g`. The options (``truncate``, ``adaptive``,
``momentum``, ``weight_decay``, ``eps``) are documented in :func:`optimizer`.

Iterates are ``(d,)`` or batched ``(B, d)``; every row of a batch carries its own
:math:`\eta` and :math:`\rho`, norms are taken per row, and no step loops over rows in Python.
A batch gives, bit for bit, the same rows as running each row alone: every reduction is
row-local (see :func:`row_norm`), and the landscapes of :mod:`ssam_theory.landscapes` take
the same care.

References:
    Foret et al., Sharpness-Aware Minimization, arXiv:2010.01412.
    Kwon et al., ASAM, arXiv:2102.11600 (the ``adaptive`` option).
    Tan et al., Stabilizing Sharpness-aware Minimization Through A Simple Renormalization
    Strategy, arXiv:2401.07250 (SSAM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from . import _validate as v

__all__ = [
    "RULES",
    "OptState",
    "Optimizer",
    "RuleFactory",
    "StepInfo",
    "build",
    "optimizer",
    "renormalization_factor",
    "row_norm",
    "rule_factories",
]


@dataclass(frozen=True)
class _Rule:
    perturbation: str | None  # None (sgd), "normalized" (SAM base), "unnormalized" (USAM base)
    renormalize: bool


_RULE_TABLE = {
    "sgd": _Rule(None, False),
    "sam": _Rule("normalized", False),
    "usam": _Rule("unnormalized", False),
    "ssam": _Rule("unnormalized", True),
    "nssam": _Rule("normalized", True),
}

#: The rule names, in the order used by tables and figures.
RULES: tuple[str, ...] = tuple(_RULE_TABLE)


def row_norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis, keeping it: shape ``(..., 1)``.

    Computed as ``sqrt(sum(x * x))`` by ``einsum``, whose per-row reduction does not depend
    on how many rows the batch has (unlike BLAS kernels), so batches equal their rows bit for bit.
    """
    return np.sqrt(np.einsum("...i,...i->...", x, x))[..., None]


def _divide_or(num, den, where_zero: float) -> np.ndarray:
    """``num / den`` with ``where_zero`` where ``den == 0``, without a division by zero.

    Non-finite inputs (a diverging row) may still raise "invalid" (∞/∞): callers run inside
    ``np.errstate(invalid="ignore")``.
    """
    zero = den == 0
    if zero.any():
        out = np.asarray(num / np.where(zero, 1.0, den), dtype=np.float64)
        out[np.broadcast_to(zero, out.shape)] = where_zero
        return out
    return np.asarray(num / den, dtype=np.float64)


def renormalization_factor(g_norm, perturbed_norm, eps: float = 0.0, truncate: bool = False):
    r"""The SSAM renormalization factor :math:`\gamma = \|g\| / (\|\tilde g\| + \epsilon)`.

    Scales the surrogate gradient :math:`\tilde g = \nabla f(w + e)` so that its norm equals
    that of :math:`g = \nabla f(w)` (up to ``eps``). With ``adaptive=True`` the norms are
    :math:`\|s(w) \odot g\|` and :math:`\|s(w+e) \odot \tilde g\|`, :math:`s = |\cdot|`.

    Args:
        g_norm: :math:`\|g\|`, any shape.
        perturbed_norm: :math:`\|\tilde g\|`, broadcastable with ``g_norm``.
        eps: added to the denominator; ``1e-12`` reproduces the authors' PyTorch arithmetic.
        truncate: return :math:`\min(1, \gamma)` (the authors' optional safeguard).

    Returns:
        :math:`\gamma`, float64. Where the denominator is exactly zero (``eps = 0`` and
        :math:`\tilde g = 0`), :math:`\gamma = 1`: the step :math:`\gamma \tilde g` is then zero
        whatever :math:`\gamma` is, and no NaN or warning arises.
    """
    num = np.asarray(g_norm, dtype=np.float64)
    den = np.asarray(perturbed_norm, dtype=np.float64)
    for label, x in (("g_norm", num), ("perturbed_norm", den)):
        if np.any(x < 0):  # NaN (a diverged row) compares False: passes through
            raise ValueError(f"{label} must be a norm (>= 0), got {v._short(x)}")
    with np.errstate(over="ignore", invalid="ignore"):
        return _renormalization_factor(num, den, eps, truncate)


def _renormalization_factor(g_norm, perturbed_norm, eps, truncate):
    """:func:`renormalization_factor` without the input checks (norms from :func:`row_norm`)."""
    gamma = _divide_or(g_norm, perturbed_norm + eps if eps else perturbed_norm, 1.0)
    if truncate:
        np.minimum(gamma, 1.0, out=gamma)
    return gamma


class OptState(NamedTuple):
    """Optimizer state: the momentum buffer (``None`` when ``momentum == 0``) and step count."""

    momentum_buffer: np.ndarray | None
    count: int


class StepInfo(NamedTuple):
    """Per-row diagnostics of one step, each of shape ``()`` or ``(B,)``.

    ``grad_norm`` is :math:`\\|g\\|`, ``perturbed_grad_norm`` is :math:`\\|\\tilde g\\|`
    (equal to ``grad_norm`` for sgd) and ``gamma`` the factor the rule applied (1 for rules
    without renormalization). All norms are plain Euclidean norms, also with ``adaptive``.
    """

    grad_norm: np.ndarray
    perturbed_grad_norm: np.ndarray
    gamma: np.ndarray


GradFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Optimizer:
    """One configured rule of the SAM family; build it with :func:`optimizer`.

    The object is immutable; :meth:`init` and :meth:`step` are pure functions of their
    arguments. ``lr`` and ``rho`` are floats or ``(B,)`` arrays (one value per batch row).
    """

    name: str
    lr: float | np.ndarray
    rho: float | np.ndarray
    truncate: bool = False
    adaptive: bool = False
    momentum: float = 0.0
    weight_decay: float = 0.0
    eps: float = 0.0

    def __post_init__(self):
        """Validate a directly built optimizer exactly as :func:`optimizer` does."""
        checked = _checked_fields(self.name, self.lr, self.rho, self.truncate, self.adaptive,
                                  self.momentum, self.weight_decay, self.eps)
        for key, value in checked.items():
            object.__setattr__(self, key, value)

    @property
    def rows(self) -> int | None:
        """Number of batch rows fixed by array-valued ``lr``/``rho``, or ``None``."""
        for x in (self.lr, self.rho):
            if isinstance(x, np.ndarray):
                return x.shape[0]
        return None

    def take(self, rows) -> Optimizer:
        """The same rule restricted to the given batch rows (index array or boolean mask)."""
        def pick(x):
            return x[rows] if isinstance(x, np.ndarray) else x

        # rows of validated values need no new validation (and may be none at all)
        new = object.__new__(Optimizer)
        for f in fields(self):
            object.__setattr__(new, f.name, getattr(self, f.name))
        object.__setattr__(new, "lr", pick(self.lr))
        object.__setattr__(new, "rho", pick(self.rho))
        return new

    def _check_iterate(self, w) -> np.ndarray:
        w = np.asarray(w)
        if w.dtype != np.float64:
            raise TypeError(f"w must be a float64 array, got dtype {w.dtype}")
        if w.ndim not in (1, 2) or w.shape[-1] == 0 or (w.ndim == 2 and w.shape[0] == 0):
            raise ValueError(f"w must have shape (d,) or (B, d), got shape {w.shape}")
        rows = self.rows
        if rows is not None and (w.ndim != 2 or w.shape[0] != rows):
            raise ValueError(
                f"lr/rho hold {rows} values (one per batch row) but w has shape {w.shape}; "
                f"pass w of shape ({rows}, d)"
            )
        return w

    def init(self, w) -> OptState:
        """Initial state for iterates ``w`` of shape ``(d,)`` or ``(B, d)``."""
        self._check_iterate(w)
        return OptState(momentum_buffer=None, count=0)

    def step(self, w, state: OptState | None, grad: GradFn) -> tuple[np.ndarray, OptState]:
        """One update; ``grad`` maps iterates to gradients of the same shape.

        ``state`` comes from :meth:`init` or the previous step; ``None`` means a fresh start.
        """
        w_new, state, _ = self.step_with_info(w, state, grad)
        return w_new, state

    def step_with_info(self, w, state: OptState | None, grad: GradFn):
        """One update and its diagnostics: ``(w_new, state, StepInfo)``.

        Rows that overflow (a diverging configuration) become non-finite without any warning
        and without touching other rows; detecting and freezing them is the caller's choice
        (:func:`ssam_theory.run` and :func:`ssam_theory.sweep` do).
        """
        w = self._check_iterate(w)
        if state is None:
            state = OptState(None, 0)
        elif not isinstance(state, OptState):
            raise TypeError(f"state must be an OptState from init(w) (or None), got {state!r}")
        if not callable(grad):
            raise TypeError(f"grad must be a callable w -> ∇f(w), got {grad!r}")
        _check_buffer(state.momentum_buffer, w)
        single = w.ndim == 1
        W = w[None, :] if single else w
        lr = self.lr[:, None] if isinstance(self.lr, np.ndarray) else self.lr
        rho = self.rho[:, None] if isinstance(self.rho, np.ndarray) else self.rho
        buf = state.momentum_buffer
        if buf is not None and single:
            buf = buf[None, :]

        def grad2(x):
            return _checked_grad(grad, x[0], True)[None, :] if single else _checked_grad(
                grad, x, False)

        with np.errstate(over="ignore", invalid="ignore"):
            W_new, buf, info = _update(_RULE_TABLE[self.name], W, buf, grad2, lr, rho, self)

        if single:
            W_new = W_new[0]
            buf = None if buf is None else buf[0]
            info = StepInfo(*(x[0] for x in info))
        return W_new, OptState(buf, state.count + 1), info

    def _batch_step(self, W: np.ndarray, state: OptState, grad: GradFn):
        """:meth:`step_with_info` on a ``(B, d)`` batch that the caller has validated, inside
        the caller's ``np.errstate(over="ignore", invalid="ignore")``: the same arithmetic
        without the per-step checks (the loops of :func:`ssam_theory.run` and
        :func:`ssam_theory.sweep` check their inputs once)."""
        lr = self.lr[:, None] if isinstance(self.lr, np.ndarray) else self.lr
        rho = self.rho[:, None] if isinstance(self.rho, np.ndarray) else self.rho

        def grad2(x):
            return _checked_grad(grad, x, False)

        W_new, buf, info = _update(_RULE_TABLE[self.name], W, state.momentum_buffer, grad2,
                                   lr, rho, self)
        return W_new, OptState(buf, state.count + 1), info


_F64 = np.dtype(np.float64)


def _checked_grad(grad, x, single):
    """``grad(x)`` as a float64 array of ``x``'s shape, else an error naming ``grad``."""
    g = grad(x)
    if type(g) is np.ndarray and g.dtype is _F64 and g.shape == x.shape:
        return g  # the usual case, checked in well under a microsecond
    if not isinstance(g, np.ndarray) or g.shape != x.shape or g.dtype.kind not in "fiu":
        got = (f"shape {g.shape}, dtype {g.dtype}" if isinstance(g, np.ndarray)
               else type(g).__name__)
        raise ValueError(f"grad must return an array of the iterate's shape {x.shape}, got "
                         f"{got}" + (" (a single iterate (d,) is passed when w is (d,))"
                                      if single else ""))
    return g if g.dtype == np.float64 else g.astype(np.float64)


def _check_buffer(buf, w) -> None:
    """A momentum buffer must come from steps on iterates of the same shape."""
    if buf is None:
        return
    if not isinstance(buf, np.ndarray) or buf.shape != w.shape:
        got = f"shape {buf.shape}" if isinstance(buf, np.ndarray) else type(buf).__name__
        raise ValueError(f"state.momentum_buffer must have the iterates' shape {w.shape}, got "
                         f"{got} (a state from another batch?)")


def _update(rule: _Rule, W, buf, grad, lr, rho, opt: Optimizer):
    """One step of ``rule`` on a batch ``W`` of shape ``(B, d)``; returns ``(W, buf, info)``.

    The step is :func:`_step`, written once. A coordinate-major 2-D batch (Fortran order
    ``(B, 2)``, as :func:`ssam_theory.sweep` keeps 2-D iterates) is stepped as its transpose
    ``(2, B)``, where every elementwise operation has a contiguous inner loop over the ``B``
    rows instead of 2 coordinates; the operations on every element are the same, and with two
    coordinates every norm is the same sum :math:`x_1^2 + x_2^2` in any layout, so the rows
    agree bit for bit (tested). For ``d >= 3``, ``einsum``'s norms depend on the layout, so
    other batches are stepped as they are.
    """
    B, d = W.shape
    if B > 1 and d == 2 and W.flags.f_contiguous and not W.flags.c_contiguous:
        def gradT(XT):
            return grad(XT.T).T

        def col(x):  # per-row values (B, 1) → (B,), broadcasting along the rows of (2, B)
            return x[:, 0] if isinstance(x, np.ndarray) else x

        WT, bufT, info = _step(rule, W.T, None if buf is None else buf.T, gradT, col(lr),
                               col(rho), opt, _column_norm)
        return WT.T, None if bufT is None else bufT.T, info
    W_new, buf, info = _step(rule, W, buf, grad, lr, rho, opt, row_norm)
    return W_new, buf, StepInfo(*(x[:, 0] for x in info))


def _column_norm(XT):
    """Per-row norm of a coordinate-major ``XT (d, B)``: ``sqrt(x_1² + x_2² + …)``, summed in
    coordinate order (for ``d = 2``, :func:`row_norm`'s sum in any layout)."""
    s = XT[0] * XT[0]
    for i in range(1, XT.shape[0]):
        s += XT[i] * XT[i]
    return np.sqrt(s, out=s)


def _step(rule: _Rule, W, buf, grad, lr, rho, opt: Optimizer, norm):
    """The step on ``W``, with ``norm(x)`` the per-row norms, broadcastable against ``W``
    like the per-row ``lr`` and ``rho``. Returns ``(W, buf, StepInfo of norm-shaped arrays)``.
    """
    g = grad(W)
    g_norm = norm(g)
    if rule.perturbation is None:
        d, gt_norm, gamma = g, g_norm, np.ones_like(g_norm)
    else:
        # ‖s(w) ⊙ g‖ with s(w) = |w| (adaptive), else ‖g‖
        sg_norm = norm(np.abs(W) * g) if opt.adaptive else g_norm
        if rule.perturbation == "normalized":  # ρ / (‖s⊙g‖ + ε), 0 where that vanishes
            scale = _divide_or(rho, sg_norm + opt.eps if opt.eps else sg_norm, 0.0)
        else:
            scale = rho
        e = (W * W * g) * scale if opt.adaptive else g * scale  # e(w)
        Wp = W + e  # w + e(w)
        gt = grad(Wp)  # g̃ = ∇f(w + e)
        gt_norm = norm(gt)
        if rule.renormalize:  # γ = ‖s⊙g‖ / (‖s(w+e)⊙g̃‖ + ε)
            den = norm(np.abs(Wp) * gt) if opt.adaptive else gt_norm
            gamma = _renormalization_factor(sg_norm, den, opt.eps, opt.truncate)
            d = gt * gamma  # γ g̃
        else:
            d, gamma = gt, np.ones_like(g_norm)
    # base optimizer: PyTorch SGD semantics (dampening 0, no Nesterov)
    if opt.weight_decay:
        d = d + opt.weight_decay * W
    if opt.momentum:
        buf = d if buf is None else opt.momentum * buf + d
        d = buf
    return W - lr * d, buf, StepInfo(g_norm, gt_norm, gamma)


def optimizer(name: str, lr=0.1, rho=0.05, *, truncate: bool = False, adaptive: bool = False,
              momentum: float = 0.0, weight_decay: float = 0.0, eps: float = 0.0) -> Optimizer:
    r"""Build one rule of the SAM family.

    ============  ==========================  =================================
    name          perturbation :math:`e`      direction :math:`d`
    ============  ==========================  =================================
    ``sgd``       —                           :math:`g`
    ``sam``       :math:`\rho g/\|g\|`        :math:`\tilde g = \nabla f(w+e)`
    ``usam``      :math:`\rho g`              :math:`\tilde g`
    ``ssam``      :math:`\rho g`              :math:`\gamma \tilde g`
    ``nssam``     :math:`\rho g/\|g\|`        :math:`\gamma \tilde g`
    ============  ==========================  =================================

    Args:
        name: one of :data:`RULES`.
        lr: :math:`\eta \ge 0`, a float or a ``(B,)`` array (one per batch row).
        rho: :math:`\rho \ge 0`, a float or a ``(B,)`` array; ignored by ``sgd``.
        truncate: :math:`\gamma \leftarrow \min(1, \gamma)`; ``ssam`` and ``nssam`` only.
        adaptive: ASAM-style perturbation with :math:`s(w) = |w|`:
            :math:`e = \rho\, w \odot w \odot g / \|s(w) \odot g\|` (SAM base) or
            :math:`\rho\, w \odot w \odot g` (USAM base), and
            :math:`\gamma = \|s(w) \odot g\| / \|s(w+e) \odot \tilde g\|`. Not for ``sgd``.
        momentum: :math:`\mu \in [0, 1)` of PyTorch's SGD, applied after renormalization:
            ``buf = d`` on the first step, then ``buf = μ buf + d``; ``w -= η buf``.
        weight_decay: :math:`\lambda_{wd} \ge 0`, ``d += λ_wd w`` before momentum.
        eps: :math:`\epsilon \ge 0` added to every norm in a denominator. ``0`` (default) is
            exact: where a norm vanishes the perturbation is zero and :math:`\gamma = 1`.
            ``1e-12`` reproduces the authors' PyTorch code.

    Returns:
        An immutable :class:`Optimizer` with ``init(w)`` and ``step(w, state, grad)``.

    Example:
        >>> import numpy as np, ssam_theory as st
        >>> f = st.Quadratic(np.diag([10.0, 1.0]))
        >>> opt = st.optimizer("ssam", lr=0.1, rho=0.05)
        >>> w = np.array([1.0, 1.0]); state = opt.init(w)
        >>> w, state = opt.step(w, state, f.grad)
    """
    return Optimizer(**_checked_fields(name, lr, rho, truncate, adaptive, momentum,
                                       weight_decay, eps))


def _checked_fields(name, lr, rho, truncate, adaptive, momentum, weight_decay, eps) -> dict:
    """The validated fields of an :class:`Optimizer` (errors name the parameter)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if name not in _RULE_TABLE:
        raise ValueError(f"name must be one of {', '.join(RULES)}; got {name!r}")
    lr = v.as_real_or_rows("lr", lr, low=0.0)
    rho = v.as_real_or_rows("rho", rho, low=0.0)
    if isinstance(lr, np.ndarray) and isinstance(rho, np.ndarray) and lr.shape != rho.shape:
        raise ValueError(f"lr and rho arrays must have the same shape, got lr {lr.shape} "
                         f"and rho {rho.shape}")
    truncate = v.as_bool("truncate", truncate)
    adaptive = v.as_bool("adaptive", adaptive)
    rule = _RULE_TABLE[name]
    if truncate and not rule.renormalize:
        raise ValueError(f"truncate=True applies to ssam and nssam only (it clips γ), "
                         f"got name={name!r}")
    if adaptive and rule.perturbation is None:
        raise ValueError(f"adaptive=True needs a perturbation; got name={name!r}")
    momentum = v.as_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    weight_decay = v.as_real("weight_decay", weight_decay, low=0.0)
    eps = v.as_real("eps", eps, low=0.0)
    return dict(name=name, lr=lr, rho=rho, truncate=truncate, adaptive=adaptive,
                momentum=momentum, weight_decay=weight_decay, eps=eps)


#: A rule factory: ``factory(lr, rho, **options) -> Optimizer``, the one way to hand a rule to
#: :func:`ssam_theory.sweep`, :mod:`ssam_theory.linear` and the claims, e.g.
#: ``functools.partial(st.optimizer, "ssam", truncate=True)`` or an injected wrong rule.
RuleFactory = Callable[..., Optimizer]


def rule_factories(rules=None) -> dict[str, RuleFactory]:
    """Rule factories by name.

    Args:
        rules: ``None`` (every rule of :data:`RULES`), a rule name, a sequence of names (the
            package's own rules, ``functools.partial(optimizer, name)``), or a mapping
            ``{name: factory}``; a mapping's values may also be ``None`` (the package's own).

    Returns:
        ``{name: factory}`` in the given order.

    Raises:
        ValueError: an empty selection or a name not in :data:`RULES`.
        TypeError: a factory that is not callable.
    """
    import functools
    from collections.abc import Mapping

    if rules is None:
        rules = RULES
    if isinstance(rules, str):
        rules = (rules,)
    pairs = list(rules.items()) if isinstance(rules, Mapping) else [(r, None) for r in rules]
    bad = [r for r, _ in pairs if r not in _RULE_TABLE]
    if not pairs or bad:
        raise ValueError(f"rules must name a non-empty subset of {RULES}, got {rules!r}")
    out = {}
    for name, fac in pairs:
        if fac is None:
            fac = functools.partial(optimizer, name)
        elif not callable(fac):
            raise TypeError(f"rules[{name!r}] must be a callable (lr, rho, **options) -> "
                            f"Optimizer, got {fac!r}")
        out[name] = fac
    return out


def build(factory: RuleFactory, lr, rho, label: str = "factory", **options) -> Optimizer:
    """``factory(lr, rho, **options)``, checked to be an :class:`Optimizer`."""
    opt = factory(lr, rho, **options)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"{label} must return an Optimizer, got {opt!r}")
    return opt
