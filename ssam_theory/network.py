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

import numpy as np

from . import _validate as v
from .data import Dataset, _build
from .landscapes import _DataLandscape

__all__ = ["DiagonalNetwork", "sparse_regression"]


class DiagonalNetwork(_DataLandscape):
    r"""The diagonal linear network :math:`f(u, v) = \frac1{2n}\sum_i(\langle u\odot v,
    x_i\rangle - y_i)^2` on data :math:`(X, y)`.

    Args:
        X: ``(n, d)`` features, finite.
        y: ``(n,)`` targets, finite.

    Attributes:
        X, y, n: the data; ``d`` the number of features; ``dim = 2d`` (iterates are
        ``w = (u, v)``, ``u = w[..., :d]``, ``v = w[..., d:]``).

    ``grad(W, idx)`` is the gradient of the mean loss over the examples ``idx`` (shape
    ``(b,)`` for all rows or ``(B, b)`` one minibatch per row). All products are row-local
    ``einsum``/elementwise, so a batch equals its rows evaluated one by one, bit for bit.
    """

    def __init__(self, X, y):
        super().__init__(X, y)
        self.d = self.dim
        self.dim = 2 * self.d

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> DiagonalNetwork:
        """The network on a :class:`~ssam_theory.data.Dataset`'s training rows."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a Dataset, got {dataset!r}")
        if dataset.task != "least_squares":
            raise ValueError(f"dataset must be a least-squares set, got task "
                             f"{dataset.task!r}")
        return cls(dataset.X, dataset.y)

    def _split(self, W):
        return W[..., : self.d], W[..., self.d:]

    def effective(self, W) -> np.ndarray:
        r"""The effective regressor :math:`\beta = u \odot v`: ``(d,)`` or ``(B, d)``."""
        u, v_ = self._split(self._iterates(W))
        return u * v_

    def loss(self, W) -> np.ndarray:
        u, v_ = self._split(self._iterates(W))
        r = self._margins(u * v_, self.X) - self.y
        return np.einsum("...k,...k->...", r, r) / (2 * self.n)

    def grad(self, W, idx=None) -> np.ndarray:
        W = self._iterates(W)
        u, v_ = self._split(W)
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
        return f"DiagonalNetwork(n={self.n}, d={self.d})"


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
