r"""Data landscapes: losses that are means over ``n`` examples, with minibatch gradients.

:class:`LeastSquares`, :class:`Logistic` and :class:`NoisyQuadratic` take ``grad(W, idx)``:
the gradient of the mean loss over the examples ``idx``, of shape ``(b,)`` (one minibatch for
all rows) or ``(B, b)`` (one per row). Products are row-local, as in
:mod:`ssam_theory.landscapes` (which re-exports these classes). With ``fast=True``,
:class:`LeastSquares` and :class:`Logistic` evaluate everything in the compiled kernels of
:mod:`ssam_theory._kernels`.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import _products
from . import _validate as v
from .landscapes import _MAX_NORM, Landscape, Quadratic, _check_scale, _expit, _rows_dot

__all__ = ["LeastSquares", "Logistic", "NoisyQuadratic"]


def _check_minibatch(W: np.ndarray, idx, n: int, dim: int) -> np.ndarray:
    """Example indices ``idx`` of shape ``(b,)`` or ``(B, b)`` (one minibatch per row of
    ``W``), integers in ``[0, n)``; returned as an array."""
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"idx must be an integer array, got dtype {idx.dtype}")
    if idx.ndim not in (1, 2) or idx.shape[-1] == 0:
        raise ValueError(f"idx must have shape (b,) or (B, b) with b >= 1, got {idx.shape}")
    if idx.ndim == 2 and (W.ndim != 2 or idx.shape[0] != W.shape[0]):
        raise ValueError(f"idx of shape {idx.shape} needs W of shape ({idx.shape[0]}, "
                         f"{dim}), got {W.shape}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"idx must lie in [0, {n}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return idx


# The last minibatch plan, (landscape, indices, plan): one slot per process, replaced as a
# whole (so threads never see a torn entry).
_last_plan: list = [None]


class _DataLandscape(Landscape):
    """Shared data handling: ``X (n, d)``, ``y (n,)``, minibatch index checks.

    Subclasses give ``_grad_block(W, Xb, yb, blas)``: the gradient of the mean loss over the
    examples ``Xb`` (``(b, d)`` shared by all rows, or ``(B, b, d)`` one minibatch per row),
    and ``task`` (``"least_squares"``, ``"logistic"``) for the kernels of the fast arithmetic.
    """

    def __init__(self, X, y, fast: bool = False):
        X = v.as_finite_array("X", X, ndim=2)
        y = v.as_finite_array("y", y, ndim=1)
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X and y must have the same number of rows, got X {X.shape} "
                             f"and y {y.shape}")
        if X.shape[1] == 0:
            raise ValueError(f"X must have at least one column, got shape {X.shape}")
        # residuals x·w - y with ‖w‖ <= 1e12 are squared: |x·w| <= 1e140 keeps them finite
        _check_scale("X", X, np.sqrt(X.shape[1]) * _MAX_NORM * 1e160)
        _check_scale("y", y, 1e160)
        self.X = np.array(X)
        self.y = np.array(y)
        self.X.setflags(write=False)  # read-only: minibatch plans are reused within a step
        self.y.setflags(write=False)
        self.n, self.dim = X.shape
        self.fast = v.as_bool("fast", fast)

    #: ``"least_squares"`` or ``"logistic"``: the compiled kernels of the fast arithmetic
    task: str
    l2: float = 0.0

    def grad(self, W, idx=None) -> np.ndarray:
        r"""Gradient of the mean loss over all examples, or over the minibatch ``idx``.

        Exact arithmetic (default): ``einsum``'s sums. Rows of a ``(B, b)`` ``idx`` that
        share a minibatch (a sweep's seeds, a coupled pair's configurations) may be evaluated
        group by group against their ``(b, d)`` examples instead of a gathered
        ``(B, b, d)``: the same sums (tested). Fast arithmetic: the compiled kernels of
        :mod:`ssam_theory._kernels` (full data and minibatches alike).
        """
        W = self._iterates(W)
        if self.fast:
            return self._fast_grad(W, idx)
        if idx is None:
            return self._grad_block(W, self.X, self.y, self.fast)
        plan = self._plan(W, idx)
        if plan[0] == "gathered":
            return self._grad_block(W, plan[1], plan[2], False)
        out = np.empty(W.shape)
        for rows, Xg, yg in plan[1]:
            out[rows] = self._grad_block(W[rows], Xg, yg, False)
        return out

    def _fast_grad(self, W, idx):
        """:meth:`grad` in the fast arithmetic: rows sharing their examples (all rows for
        the full gradient or a ``(b,)`` minibatch; groups of a ``(B, b)`` one averaging 8
        rows or more) run against one copy of them, other rows gather their own."""
        from . import _kernels

        W2 = np.ascontiguousarray(W[None, :] if W.ndim == 1 else W)
        out = np.empty(W2.shape)
        B = W2.shape[0]
        if idx is None:
            plan = ("shared", np.arange(B), np.array([0, B]), np.arange(self.n)[None, :])
        else:
            plan = self._fast_plan(W, idx)
        if plan[0] == "shared":
            _kernels.grad_shared(self.task, W2, self.X, self.y, plan[1], plan[2], plan[3],
                                 self.l2, out)
        else:
            _kernels.grad_rows(self.task, W2, self.X, self.y, plan[1], self.l2, out)
        return out[0] if W.ndim == 1 else out

    def _fast_plan(self, W, idx):
        """``("shared", order, ptr, ex)`` (group ``g``: rows ``order[ptr[g]:ptr[g+1]]``,
        examples ``ex[g]``) or ``("rows", idx)``; the last plan is reused as in :meth:`_plan`,
        and its grouping while the rows still share their minibatches."""
        from . import _kernels

        last = _last_plan[0]
        mine = last is not None and last[0]() is self
        if (mine and last[2][0] in ("shared", "rows") and np.shape(idx) == last[1].shape
                and last[4] == (W.shape[0] if W.ndim == 2 else 1)
                and np.array_equal(idx, last[1])):
            return last[2]
        idx = _check_minibatch(W, idx, self.n, self.dim)
        B = W.shape[0] if W.ndim == 2 else 1
        ix = np.ascontiguousarray(idx, dtype=np.int64)
        groups = None
        if ix.ndim == 1:
            plan = ("shared", np.arange(B), np.array([0, B]), ix[None, :])
        elif mine and last[2][0] == "shared" and last[4] == B and last[3] is not None and (
                ex := _kernels.regroup(ix, last[2][1], last[2][2])) is not None:
            plan, groups = ("shared", last[2][1], last[2][2], ex), last[3]
        else:
            plan = ("rows", ix)
            if B >= 16:
                previous = last[3] if mine else None
                groups = _products.row_groups(ix, previous)
                if groups is not None and 8 * len(groups[0]) <= B:
                    if groups is previous and last[2][0] == "shared":  # same rows, new examples
                        order, ptr = last[2][1], last[2][2]
                    else:
                        sizes = np.array([len(m) for m in groups[1]])
                        order = np.concatenate(groups[1]).astype(np.int64)
                        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
                    plan = ("shared", order, ptr, np.ascontiguousarray(ix[groups[0]]))
        _last_plan[0] = (weakref.ref(self), idx.copy(), plan, groups, B)
        return plan

    def _fast_loss(self, W):
        """:meth:`loss` in the fast arithmetic (:mod:`ssam_theory._kernels`)."""
        from . import _kernels

        W2 = np.ascontiguousarray(W[None, :] if W.ndim == 1 else W)
        out = np.empty(W2.shape[0])
        _kernels.loss_rows(self.task, W2, self.X, self.y, self.l2, out)
        return out[0] if W.ndim == 1 else out

    def _minibatch(self, W, idx):
        """``(Xb, yb)``: the examples ``idx`` gathered, ``(b, d)`` or ``(B, b, d)``."""
        plan = self._plan(W, idx, group=False)
        return plan[1], plan[2]

    def _plan(self, W, idx, group: bool = True):
        """How to evaluate the minibatch ``idx``: ``("gathered", Xb, yb)`` or
        ``("grouped", [(rows, Xg, yg), ...])`` (with ``group``, for minibatches of 8 or more
        examples and groups of 32 or more rows on average: below that, gathering is faster).

        Both gradients of a step use the same minibatch: the last plan is reused when the
        indices are equal (by value, so a reused index buffer is safe). No bit changes.
        """
        last = _last_plan[0]
        mine = last is not None and last[0]() is self
        if (mine and last[2][0] in ("gathered", "grouped") and np.shape(idx) == last[1].shape
                and (last[1].ndim == 1 or (W.ndim == 2 and W.shape[0] == last[1].shape[0]))
                and np.array_equal(idx, last[1]) and (group or last[2][0] == "gathered")):
            return last[2]
        idx = _check_minibatch(W, idx, self.n, self.dim)
        plan, groups = None, None
        if group and idx.ndim == 2 and idx.shape[1] >= 8 and idx.shape[0] >= 32:
            groups = _products.row_groups(idx, last[3] if mine else None)
            if groups is not None and 32 * len(groups[0]) <= idx.shape[0]:
                plan = ("grouped", [(_products.as_slice(rows), self.X[idx[i]], self.y[idx[i]])
                                    for rows, i in zip(groups[1], groups[0])])
        if plan is None:
            plan = ("gathered", self.X[idx], self.y[idx])
        _last_plan[0] = (weakref.ref(self), idx.copy(), plan, groups, None)
        return plan

    def _margins(self, W, Xb, blas: bool = False):
        """``x_i · w`` for every row and example: ``(..., b)``."""
        if Xb.ndim == 3:
            return np.einsum("bkd,bd->bk", Xb, W)
        if blas:
            return _products.blocked_matmul(W, np.ascontiguousarray(Xb.T))
        return np.einsum("...d,kd->...k", W, Xb)

    def _combine(self, coef, Xb, blas: bool = False):
        """``Σ_k coef_k x_k / b`` per row: ``(..., d)``."""
        if Xb.ndim == 3:
            return np.einsum("bk,bkd->bd", coef, Xb) / Xb.shape[1]
        if blas:
            return _products.blocked_matmul(coef, np.ascontiguousarray(Xb)) / Xb.shape[0]
        return np.einsum("...k,kd->...d", coef, Xb) / Xb.shape[0]


class LeastSquares(_DataLandscape):
    r"""Least squares :math:`f(w) = \|Xw - y\|^2 / (2n)`.

    Args:
        X: ``(n, d)`` design matrix, finite.
        y: ``(n,)`` targets, finite.
        fast: losses and gradients (full data and minibatches) by the compiled kernels of
            :mod:`ssam_theory._kernels` (numba): a fixed sequential order of operations, the
            same bits on any machine, within rounding of the default ``einsum`` arithmetic.
    """

    task = "least_squares"

    def __init__(self, X, y, *, fast: bool = False):
        super().__init__(X, y, fast)

    def loss(self, W) -> np.ndarray:
        W = self._iterates(W)
        if self.fast:
            return self._fast_loss(W)
        r = self._margins(W, self.X, self.fast) - self.y
        return _rows_dot(r, r) / (2 * self.n)

    def _grad_block(self, W, Xb, yb, blas):
        return self._combine(self._margins(W, Xb, blas) - yb, Xb, blas)

    def hessian(self, w) -> np.ndarray:
        self._iterates(w, "w")
        return np.einsum("ki,kj->ij", self.X, self.X) / self.n

    def gradient_lipschitz(self) -> float:
        r"""A Lipschitz constant :math:`\beta` of the full gradient:
        :math:`\lambda_{\max}(X^\top X / n)`."""
        return float(np.linalg.eigvalsh(np.einsum("ki,kj->ij", self.X, self.X) / self.n)[-1])

    def __repr__(self):
        return f"LeastSquares(n={self.n}, d={self.dim})"


class Logistic(_DataLandscape):
    r"""Logistic regression :math:`f(w) = \frac1n \sum_i \log(1 + e^{-y_i x_i^\top w})
    + \tfrac{\ell_2}{2}\|w\|^2`.

    Args:
        X: ``(n, d)`` features, finite.
        y: ``(n,)`` labels in :math:`\{-1, +1\}`; labels in :math:`\{0, 1\}` are converted.
        l2: ridge coefficient :math:`\ell_2 \ge 0`.
        fast: as in :class:`LeastSquares`.
    """

    def __init__(self, X, y, l2: float = 0.0, *, fast: bool = False):
        super().__init__(X, y, fast)
        labels = set(np.unique(self.y).tolist())
        if labels <= {0.0, 1.0}:
            self.y = 2.0 * self.y - 1.0
            self.y.setflags(write=False)
        elif not labels <= {-1.0, 1.0}:
            shown = sorted(labels)[:6]
            raise ValueError(f"y must hold labels in {{-1, +1}} (or {{0, 1}}), got {shown}")
        self.l2 = v.as_real("l2", l2, low=0.0)

    task = "logistic"

    def loss(self, W) -> np.ndarray:
        W = self._iterates(W)
        if self.fast:
            return self._fast_loss(W)
        m = self.y * self._margins(W, self.X, self.fast)
        out = np.logaddexp(0.0, -m).mean(axis=-1)
        if self.l2:
            out = out + 0.5 * self.l2 * _rows_dot(W, W)
        return out

    def _grad_block(self, W, Xb, yb, blas):
        m = yb * self._margins(W, Xb, blas)
        g = self._combine(-yb * _expit(-m), Xb, blas)
        if self.l2:
            g = g + self.l2 * W
        return g

    def hessian(self, w) -> np.ndarray:
        w = self._iterates(w, "w")
        if w.ndim != 1:
            raise ValueError(f"w must have shape ({self.dim},), got shape {w.shape}")
        m = self.y * (self.X @ w)
        s = _expit(m) * _expit(-m)
        H = np.einsum("k,ki,kj->ij", s, self.X, self.X) / self.n
        return (H + H.T) / 2 + self.l2 * np.eye(self.dim)

    def gradient_lipschitz(self) -> float:
        r"""A Lipschitz constant :math:`\beta` of the full gradient:
        :math:`\lambda_{\max}(X^\top X / n) / 4 + \ell_2` (:math:`\sigma' \le 1/4`)."""
        XtX = np.einsum("ki,kj->ij", self.X, self.X) / self.n
        return float(np.linalg.eigvalsh(XtX)[-1] / 4 + self.l2)

    def __repr__(self):
        return f"Logistic(n={self.n}, d={self.dim}, l2={self.l2})"


class NoisyQuadratic(Landscape):
    r"""A quadratic with per-example linear tilts: additive, seeded gradient noise.

    .. math::

        f_i(w) = \tfrac12 w^\top H w + \xi_i^\top w, \quad i = 1, \dots, n, \qquad
        f(w) = \frac1n \sum_i f_i(w) = \tfrac12 w^\top H w,

    with tilts :math:`\xi_i \in \mathbb{R}^d` drawn from ``default_rng(seed)``, centred
    (:math:`\sum_i \xi_i = 0`) and scaled so that every coordinate has variance exactly
    :math:`\sigma^2` over a uniform draw of :math:`i`:
    :math:`\frac1n \sum_i \xi_{ij}^2 = \sigma^2` for every :math:`j` (to rounding). The
    gradient of a minibatch :math:`I` of :math:`b` indices (drawn with replacement) is

    .. math::

        \nabla f_I(w) = H w + \bar\xi_I, \quad \bar\xi_I = \frac1b \sum_{i \in I} \xi_i,
        \qquad \operatorname{Var} \bar\xi_{I,j} = \sigma^2 / b,

    and both gradients of a SAM-family step use the same minibatch, so the
    perturbation and the perturbed gradient see the same tilt. Claim C12 also uses it in
    Kim et al.'s diffusion setting, where only the descent gradient sees the tilt
    (:mod:`ssam_theory.diffusion`).

    Args:
        H: symmetric ``(d, d)`` matrix, may be indefinite (see :class:`Quadratic`).
        n: number of examples :math:`n \ge 2` (one example cannot be centred).
        sigma: noise standard deviation :math:`\sigma \ge 0` per example and coordinate;
            ``0`` gives the noiseless quadratic.
        seed: seed of the tilts, for ``numpy.random.default_rng``.
        fast: the arithmetic of :math:`Hw` (see :class:`Quadratic`).

    Attributes:
        quadratic: the :class:`Quadratic` :math:`\tfrac12 w^\top H w`.
        xi: the tilts :math:`\xi`, ``(n, d)``, read-only.
        n, dim, sigma: as above.

    ``loss`` is the full loss :math:`f`; ``grad(W)`` the full gradient :math:`Hw`;
    ``grad(W, idx)`` the minibatch gradient, with ``idx`` of shape ``(b,)`` or ``(B, b)``.

    References:
        Kim et al., Stability Analysis of Sharpness-Aware Minimization, arXiv:2301.06308.
    """

    def __init__(self, H, n: int, sigma: float, seed=0, *, fast: bool = False):
        self.quadratic = Quadratic(H, fast=fast)
        self.dim = self.quadratic.dim
        self.n = v.as_count("n", n, low=2)
        self.sigma = v.as_real("sigma", sigma, low=0.0, high=1e150)
        seed = v.as_seed("seed", seed, sequence=True)
        xi = np.random.default_rng(seed).standard_normal((self.n, self.dim))
        xi -= xi.mean(axis=0)  # Σ_i ξ_i = 0
        self.xi = xi * (self.sigma / xi.std(axis=0))  # (1/n) Σ_i ξ_ij² = σ²
        self.xi.setflags(write=False)

    @property
    def H(self) -> np.ndarray:
        """The curvature :math:`H`, ``(d, d)``, read-only."""
        return self.quadratic.H

    def loss(self, W) -> np.ndarray:
        return self.quadratic.loss(W)

    def grad(self, W, idx=None) -> np.ndarray:
        W = self._iterates(W)
        g = self.quadratic.grad(W)  # H w
        if idx is None:
            return g
        idx = _check_minibatch(W, idx, self.n, self.dim)
        return g + self.xi[idx].mean(axis=-2)  # H w + ξ̄_I

    def hessian(self, w) -> np.ndarray:
        return self.quadratic.hessian(w)

    def gradient_lipschitz(self) -> float:
        r"""A Lipschitz constant :math:`\beta` of every gradient (full or minibatch)."""
        return self.quadratic.gradient_lipschitz()

    def __repr__(self):
        return (f"NoisyQuadratic(eigenvalues={np.round(self.quadratic.eigenvalues, 6).tolist()}, "
                f"n={self.n}, sigma={self.sigma})")
