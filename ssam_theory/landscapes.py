r"""Loss landscapes small enough to understand completely.

Every landscape has ``.dim``, ``.loss(W)``, ``.grad(W)`` and ``.hessian(w)``. ``W`` is a single
iterate ``(d,)`` or a batch ``(B, d)``; ``loss`` returns ``()`` or ``(B,)`` and ``grad`` the
shape of ``W``. Data landscapes (:class:`LeastSquares`, :class:`Logistic`,
:class:`NoisyQuadratic`) have ``.n`` examples and also take
``grad(W, idx)``: the gradient of the mean loss over the examples ``idx``, of shape ``(b,)``
(one minibatch for all rows) or ``(B, b)`` (one per row).

All products are row-local, so a batch equals its rows evaluated one by one, bit for bit,
with ``fast=False`` (default: ``einsum``'s sums) or ``fast=True`` (BLAS over fixed-shape row
blocks: faster for dense :math:`d \ge 16` and full-data losses, rounding apart; see
:mod:`ssam_theory._products`).
"""

from __future__ import annotations

import functools

import numpy as np

from . import _products
from . import _validate as v

__all__ = ["Beale", "Landscape", "LeastSquares", "Logistic", "NoisyQuadratic", "Quadratic"]


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic sigmoid 1/(1 + e^{−x}): ``scipy.special.expit``, imported on first use
    (loading ``scipy.special`` costs more than importing the whole package)."""
    from scipy.special import expit

    return expit(x)


def _rows_times(W: np.ndarray, M: np.ndarray, fast: bool = False) -> np.ndarray:
    """``W @ M`` for ``W`` of shape ``(..., i)`` with a row-local reduction (see module doc)."""
    return _products.times(W, M, fast)


def _rows_dot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise inner product over the last axis."""
    return np.einsum("...i,...i->...", A, B)


# Landscapes are evaluated at iterates up to the divergence norm ‖w‖ <= 1e12 (a row is stopped
# beyond it). Their parameters are bounded so that every loss and gradient there is finite:
# products of an entry with ‖w‖² (quadratics) or with ‖w‖ and then squared (data) stay below
# float64's 1.8e308 with room to spare; anything larger is rejected, never left to overflow.
_MAX_NORM = 1e12
_W2 = _MAX_NORM**2
_LIMIT = 1e300


def _check_scale(name: str, x: np.ndarray, factor: float) -> None:
    """``max|x| * factor <= 1e300``, else a ``ValueError`` naming ``name``."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top > _LIMIT / factor:
        raise ValueError(f"{name} has entries up to {top:.3g}: too large for finite float64 "
                         f"arithmetic at iterates of norm up to {_MAX_NORM:.0e} (the bound is "
                         f"{_LIMIT / factor:.3g})")


class Landscape:
    """Base class: input checks shared by every landscape."""

    dim: int

    def _iterates(self, W, name: str = "W") -> np.ndarray:
        W = np.asarray(W, dtype=np.float64)
        v.iterate_shape(name, W, self.dim)
        return W

    def loss(self, W) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, W) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def hessian(self, w) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Quadratic(Landscape):
    r"""The quadratic :math:`f(w) = \tfrac12 (w - c)^\top H (w - c)`.

    Args:
        H: symmetric ``(d, d)`` matrix, may be indefinite (saddles) or singular.
        center: the stationary point :math:`c`, ``(d,)``; default the origin.
        fast: products by BLAS over fixed-shape row blocks instead of ``einsum`` (see the
            module docstring); a diagonal ``H`` and ``d = 2`` give the same bits either way.

    A diagonal ``H`` is detected and evaluated elementwise (faster, same results).
    """

    def __init__(self, H, center=None, *, fast: bool = False):
        H = v.as_finite_array("H", H, ndim=2)
        if H.shape[0] != H.shape[1]:
            raise ValueError(f"H must be square, got shape {H.shape}")
        _check_scale("H", H, H.shape[0] * _W2)
        asym = np.max(np.abs(H - H.T))
        if asym > 1e-12 * max(1.0, np.max(np.abs(H))):
            raise ValueError(f"H must be symmetric, got max |H - Hᵀ| = {asym:.3g}")
        self.H = np.array((H + H.T) / 2)
        self.H.setflags(write=False)
        self.dim = H.shape[0]
        self.fast = v.as_bool("fast", fast)
        if center is None:
            self.center = None
        else:
            c = v.as_finite_array("center", center, ndim=1)
            if c.shape != (self.dim,):
                raise ValueError(f"center must have shape ({self.dim},), got shape {c.shape}")
            _check_scale("center", c, 1.0 / _MAX_NORM)
            self.center = c
        off = self.H - np.diag(np.diag(self.H))
        self._diag = np.diag(self.H).copy() if not np.any(off) else None

    @classmethod
    def from_eigenvalues(cls, eigenvalues, seed=0, center=None, *,
                         fast: bool = False) -> Quadratic:
        r""":math:`H = Q \operatorname{diag}(\lambda) Q^\top` with a seeded random rotation.

        ``Q`` is Haar-distributed (QR of a Gaussian matrix with the sign of ``R``'s diagonal
        absorbed), drawn from ``numpy.random.default_rng(seed)``.
        """
        lam = v.as_finite_array("eigenvalues", eigenvalues, ndim=1)
        _check_scale("eigenvalues", lam, lam.size**2 * _W2)
        Q = random_rotation(lam.size, v.as_seed("seed", seed, sequence=True))
        return cls((Q * lam) @ Q.T, center=center, fast=fast)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``H`` in ascending order."""
        return np.linalg.eigvalsh(self.H)

    def _shift(self, W):
        return W if self.center is None else W - self.center

    def loss(self, W) -> np.ndarray:
        X = self._shift(self._iterates(W))
        return 0.5 * _rows_dot(X, self._apply(X))

    def grad(self, W) -> np.ndarray:
        return self._apply(self._shift(self._iterates(W)))

    def _apply(self, X):
        return X * self._diag if self._diag is not None else _rows_times(X, self.H, self.fast)

    def hessian(self, w) -> np.ndarray:
        self._iterates(w, "w")
        return self.H.copy()

    def gradient_lipschitz(self) -> float:
        r"""A Lipschitz constant :math:`\beta` of the gradient: :math:`\max_i |\lambda_i(H)|`."""
        return float(np.max(np.abs(self.eigenvalues)))

    def __repr__(self):
        return f"Quadratic(eigenvalues={np.round(self.eigenvalues, 6).tolist()})"


def random_rotation(d: int, seed) -> np.ndarray:
    """A Haar-random orthogonal ``(d, d)`` matrix from ``default_rng(seed)``."""
    rng = np.random.default_rng(v.as_seed("seed", seed, sequence=True))
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


# Beale's function, written once in sympy; gradient and Hessian are derived from it. Built on
# first use (``BEALE_EXPR`` is a lazy module attribute), so importing the package needs no sympy.
@functools.cache
def _beale_expr():
    import sympy as sp

    x, y = sp.symbols("x y", real=True)
    expr = ((sp.Rational(3, 2) - x + x * y) ** 2
            + (sp.Rational(9, 4) - x + x * y**2) ** 2
            + (sp.Rational(21, 8) - x + x * y**3) ** 2)
    return expr, (x, y)


@functools.cache
def _beale_functions():
    import sympy as sp

    expr, (x, y) = _beale_expr()
    grad = [sp.diff(expr, s) for s in (x, y)]
    hess = sp.hessian(expr, (x, y))
    mods = "numpy"
    return (sp.lambdify((x, y), expr, mods),
            sp.lambdify((x, y), grad, mods),
            sp.lambdify((x, y), hess, mods))


def __getattr__(name):
    if name == "BEALE_EXPR":  # the sympy expression of Beale's function
        return _beale_expr()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Beale(Landscape):
    r"""Beale's function :math:`(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`.

    Global minimum 0 at :math:`(3, 0.5)`; a strict saddle at :math:`(0, 1)` whose Hessian has
    eigenvalues :math:`\pm 27.75`. Formula, gradient and Hessian come from one sympy
    expression (:data:`BEALE_EXPR`).
    """

    dim = 2
    minimizer = np.array([3.0, 0.5])
    saddle = np.array([0.0, 1.0])

    def loss(self, W) -> np.ndarray:
        W = self._iterates(W)
        f, _, _ = _beale_functions()
        return np.asarray(f(W[..., 0], W[..., 1]), dtype=np.float64)

    def grad(self, W) -> np.ndarray:
        W = self._iterates(W)
        _, g, _ = _beale_functions()
        gx, gy = g(W[..., 0], W[..., 1])
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1).astype(np.float64, copy=False)

    def hessian(self, w) -> np.ndarray:
        w = self._iterates(w, "w")
        if w.ndim != 1:
            raise ValueError(f"w must have shape (2,), got shape {w.shape}")
        _, _, h = _beale_functions()
        return np.array(h(w[0], w[1]), dtype=np.float64)

    def __repr__(self):
        return "Beale()"


# the data landscapes live in their own module; imported here so that both names work
from .data_landscapes import (  # noqa: E402
    LeastSquares,
    Logistic,
    NoisyQuadratic,
)
