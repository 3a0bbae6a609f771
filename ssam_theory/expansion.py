r"""One-step expansiveness of an update rule: how far one step can pull two iterates apart.

For the step map :math:`G(w) = w - \eta\, d(w)` of a rule (one step from a fresh state),

.. math::

    \operatorname{Exp}(G) = \sup_{w \ne v} \frac{\|G(w) - G(v)\|}{\|w - v\|},

the quantity through which Hardt, Recht & Singer bound uniform stability (and so the
generalization error) of iterative methods. Two batched measurements:

* :func:`expansiveness`: the ratio for given pairs :math:`(w_b, v_b)`; its maximum over
  pairs is a lower estimate of :math:`\operatorname{Exp}(G)`.
* :func:`jacobian_expansiveness`: the spectral norm :math:`\|\partial G(w_b)\|_2` of a
  central-difference Jacobian, the local Lipschitz constant at :math:`w_b` (the limit of the
  ratio as :math:`v \to w` in the worst direction).

On a quadratic :math:`\tfrac12 w^\top H w`, GD's map is linear with
:math:`\operatorname{Exp} = \max_i |1 - \eta\lambda_i|` and USAM's with
:math:`\max_i |1 - \eta(\lambda_i + \rho\lambda_i^2)|` (:func:`ssam_theory.theory.gd_expansiveness`,
:func:`ssam_theory.theory.usam_expansiveness`); SAM's is unbounded near the minimizer (claim C08).

References:
    Hardt, Recht & Singer, Train faster, generalize better: Stability of stochastic gradient
    descent, arXiv:1509.01240.
"""

from __future__ import annotations

import numpy as np

from . import _validate as v
from .landscapes import Landscape
from .rules import Optimizer, row_norm

__all__ = ["expansiveness", "jacobian_expansiveness"]


def _check_common(opt, landscape, idx):
    if not isinstance(opt, Optimizer):
        raise TypeError(f"opt must be an Optimizer from ssam_theory.optimizer, got {opt!r}")
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    if idx is not None and not hasattr(landscape, "n"):
        raise ValueError(f"idx needs a data landscape (with examples .n), got {landscape!r}")


def _iterates(name, W, landscape, opt) -> np.ndarray:
    W = v.as_finite_array(name, W, ndim=(1, 2))
    v.iterate_shape(name, W, landscape.dim)
    rows = opt.rows
    if rows is not None and (W.ndim != 2 or W.shape[0] != rows):
        raise ValueError(f"opt holds {rows} values of lr/rho (one per row) but {name} has "
                         f"shape {W.shape}; pass {name} of shape ({rows}, {landscape.dim})")
    return W


def _grad_fn(landscape, idx):
    if idx is None:
        return landscape.grad
    return lambda x: landscape.grad(x, idx)


def expansiveness(opt: Optimizer, landscape: Landscape, W, V, *, idx=None) -> np.ndarray:
    r"""Per-pair expansion of one step: :math:`\|G(w_b) - G(v_b)\| / \|w_b - v_b\|`.

    :math:`G` is one step of ``opt`` on ``landscape`` from a fresh state
    (``opt.step(w, None, grad)``: no momentum history). The maximum over pairs is a lower
    estimate of :math:`\sup_{w \ne v} \|G(w) - G(v)\|/\|w - v\|`.

    Args:
        opt: from :func:`ssam_theory.optimizer`; array-valued ``lr``/``rho`` ``(B,)`` give
            every pair its own :math:`\eta`, :math:`\rho`.
        landscape: any landscape of :mod:`ssam_theory.landscapes`.
        W: iterates :math:`w`, ``(d,)`` or ``(B, d)``, finite.
        V: iterates :math:`v`, the same shape as ``W``, with :math:`v_b \ne w_b` in every row.
        idx: optional minibatch (data landscapes only), ``(b,)`` or ``(B, b)``: both
            :math:`G(w_b)` and :math:`G(v_b)` use the same examples (as coupled runs do).

    Returns:
        The ratios, ``()`` or ``(B,)`` float64. A pair whose step overflows (a diverging
        configuration) gives ``inf`` or ``nan``, without a warning and without touching
        other rows; so does a pair too close for ``‖w − v‖`` to be representable (below
        ~1e-154 its square underflows) or too far (above ~1e154).

    Example:
        >>> import numpy as np, ssam_theory as st
        >>> f = st.Quadratic(np.diag([10.0, 1.0]))
        >>> opt = st.optimizer("sgd", lr=0.15)
        >>> float(st.expansiveness(opt, f, np.zeros(2), np.array([1.0, 0.0])))  # |1 − 0.15·10|
        0.5
    """
    _check_common(opt, landscape, idx)
    W = _iterates("W", W, landscape, opt)
    V = _iterates("V", V, landscape, opt)
    if V.shape != W.shape:
        raise ValueError(f"V must have the shape of W {W.shape}, got shape {V.shape}")
    same = np.all(W == V, axis=-1)
    if np.any(same):
        raise ValueError(f"W and V must differ in every row; equal in row(s) "
                         f"{np.flatnonzero(np.atleast_1d(same))[:6].tolist()}")
    grad = _grad_fn(landscape, idx)
    Gw, _ = opt.step(W, None, grad)
    Gv, _ = opt.step(V, None, grad)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return row_norm(Gw - Gv)[..., 0] / row_norm(W - V)[..., 0]  # ‖G(w) − G(v)‖/‖w − v‖


def jacobian_expansiveness(opt: Optimizer, landscape: Landscape, W, *, rel_h: float = 1e-6,
                           idx=None) -> np.ndarray:
    r"""Spectral norm of the step's Jacobian, :math:`\|\partial G(w_b)\|_2`, by central differences.

    .. math::

        \partial G(w)\, e_j \approx \frac{G(w + h e_j) - G(w - h e_j)}{2h}, \qquad
        h = h_{\mathrm{rel}} \|w\|,

    one column per coordinate :math:`j` (``2d`` steps per row, all in one batch). The step
    :math:`h` is relative to :math:`\|w\|` so that maps whose scale is :math:`\|w\|` (SAM-type
    steps near a minimizer) are resolved at every distance. Error: :math:`O(h^2)` for smooth
    :math:`G`, plus rounding :math:`O(\epsilon_{\mathrm{mach}} \|G(w)\| / h)`; for a linear
    :math:`G` (GD, USAM on a quadratic) only the rounding, ~1e-10 relative at the default
    ``rel_h``.

    Args:
        opt: from :func:`ssam_theory.optimizer`; array-valued ``lr``/``rho`` ``(B,)`` give
            every row its own :math:`\eta`, :math:`\rho`.
        landscape: any landscape of :mod:`ssam_theory.landscapes`.
        W: points :math:`w`, ``(d,)`` or ``(B, d)``, finite and nonzero (``h`` is relative).
        rel_h: :math:`h_{\mathrm{rel}} > 0`.
        idx: optional minibatch (data landscapes only), ``(b,)`` or ``(B, b)``; the same
            examples for all ``2d`` evaluations of a row.

    Returns:
        :math:`\|\partial G(w_b)\|_2`, ``()`` or ``(B,)`` float64; ``nan`` for a row whose
        steps overflow.
    """
    _check_common(opt, landscape, idx)
    W = _iterates("W", W, landscape, opt)
    rel_h = v.as_real("rel_h", rel_h, low=0.0, low_open=True)
    single = W.ndim == 1
    W = np.atleast_2d(W)
    B, d = W.shape
    h = rel_h * np.linalg.norm(W, axis=1)
    if np.any(h == 0):
        raise ValueError(f"W must have nonzero rows (the difference step is rel_h·‖w‖); zero "
                         f"in row(s) {np.flatnonzero(h == 0)[:6].tolist()}")
    E = np.eye(d)
    P = (W[:, None, :] + h[:, None, None] * E[None]).reshape(-1, d)  # w + h e_j
    M = (W[:, None, :] - h[:, None, None] * E[None]).reshape(-1, d)  # w − h e_j
    rows = np.repeat(np.arange(B), d)
    opt_rows = opt.take(rows) if opt.rows is not None else opt
    if idx is not None and np.ndim(idx) == 2:  # one minibatch per row: repeat it 2d times
        if np.shape(idx)[0] != B:
            raise ValueError(f"idx of shape {np.shape(idx)} needs W of shape "
                             f"({np.shape(idx)[0]}, {d}), got {(B, d)}")
        idx = np.asarray(idx)[rows]
    grad = _grad_fn(landscape, idx)
    Gp, _ = opt_rows.step(P, None, grad)
    Gm, _ = opt_rows.step(M, None, grad)
    with np.errstate(over="ignore", invalid="ignore"):
        J = ((Gp - Gm).reshape(B, d, d) / (2 * h[:, None, None])).transpose(0, 2, 1)
    finite = np.all(np.isfinite(J), axis=(1, 2))
    out = np.full(B, np.nan)
    if finite.any():
        out[finite] = np.linalg.norm(J[finite], ord=2, axis=(1, 2))
    return out[0] if single else out
