r"""Compiled kernels of the fast arithmetic of the data landscapes (numba).

:class:`~ssam_theory.LeastSquares` and :class:`~ssam_theory.Logistic` with ``fast=True``
evaluate their losses and gradients here, in one fixed order of operations per row:

* margins :math:`m_k = (\dots((0 + x_{k1} w_1) + x_{k2} w_2) + \dots) + x_{kd} w_d`, summed
  coordinate by coordinate;
* least squares: residuals :math:`c_k = m_k - y_k`; logistic: :math:`c_k = -y_k\,
  \sigma(-(y_k m_k))` with the sigmoid :math:`\sigma` below;
* gradient :math:`g_j = (\dots(0 + c_1 x_{1j}) + \dots + c_b x_{bj}) / b` (plus
  :math:`\ell_2 w_j`), summed example by example;
* loss: the per-example losses :math:`(m_k - y_k)^2` or :math:`\operatorname{softplus}
  (-(y_k m_k))` summed example by example, divided by :math:`2n` or :math:`n` (plus
  :math:`\tfrac{\ell_2}{2}\|w\|^2`, its squares summed coordinate by coordinate).

Every operation is a plain IEEE multiply, add, divide or compare (no fused multiply-add, no
reassociation: numba's defaults), so the bits are those of the formulas above on any machine
and any vector width. Eight rows run side by side in the lanes of one vector, each lane the
same operations on its own row: a row's bits never depend on its neighbours, the batch size
or whether rows share a minibatch (those run against one copy of their examples).

The exponential and the logarithm are written out as polynomials in
:mod:`ssam_theory._elementary` (no library call, so that they vectorize).

Compiled on first use and cached (see :mod:`ssam_theory._numba`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from ._elementary import exp_nonpos, sigmoid, softplus
from ._numba import OPTS as _OPTS
from ._numba import compiled, in_array

__all__ = ["LANES", "grad_rows", "grad_shared", "loss_rows", "math_into", "regroup"]

#: Rows evaluated side by side (one vector of eight doubles).
LANES = 8


@njit(inline="always", **_OPTS)
def _coefs(task, C, Y):
    """Margins ``C (b, 8)`` to the examples' gradient coefficients, in place:
    ``m - y`` or ``-y σ(-(y m))`` (one flat loop, vectorized)."""
    c = C.reshape(C.size)
    yv = Y.reshape(Y.size)
    if task == 0:
        for q in range(c.size):
            c[q] = c[q] - yv[q]
    else:
        for q in range(c.size):
            c[q] = -yv[q] * sigmoid(-(yv[q] * c[q]))


@njit(inline="always", **_OPTS)
def _lane_rows(rows, i0, n):
    """The rows of the eight lanes of the block starting at ``i0`` (``n`` real rows; padding
    lanes repeat the last one)."""
    return (rows[i0], rows[i0 + min(1, n - 1)], rows[i0 + min(2, n - 1)],
            rows[i0 + min(3, n - 1)], rows[i0 + min(4, n - 1)], rows[i0 + min(5, n - 1)],
            rows[i0 + min(6, n - 1)], rows[i0 + min(7, n - 1)])


@njit(inline="always", **_OPTS)
def _load(W, rows, i0, n, WT):
    """Rows ``rows[i0 : i0 + n]`` of ``W`` into the lanes ``WT (d, 8)`` (padded by repeats)."""
    d = W.shape[1]
    r0, r1, r2, r3, r4, r5, r6, r7 = _lane_rows(rows, i0, n)
    for c in range(d):
        (WT[c, 0], WT[c, 1], WT[c, 2], WT[c, 3], WT[c, 4], WT[c, 5], WT[c, 6], WT[c, 7]) = (
            W[r0, c], W[r1, c], W[r2, c], W[r3, c], W[r4, c], W[r5, c], W[r6, c], W[r7, c])


@njit(inline="always", **_OPTS)
def _store(out, W, rows, i0, n, G, l2):
    """``out[row] = G[:, lane] (+ l2 * w)`` for the rows of the block (padding lanes repeat
    the last row and hold its values, so writing them again changes nothing)."""
    d = W.shape[1]
    r0, r1, r2, r3, r4, r5, r6, r7 = _lane_rows(rows, i0, n)
    if l2 != 0.0:
        for c in range(d):
            G[c, 0] = G[c, 0] + l2 * W[r0, c]
            G[c, 1] = G[c, 1] + l2 * W[r1, c]
            G[c, 2] = G[c, 2] + l2 * W[r2, c]
            G[c, 3] = G[c, 3] + l2 * W[r3, c]
            G[c, 4] = G[c, 4] + l2 * W[r4, c]
            G[c, 5] = G[c, 5] + l2 * W[r5, c]
            G[c, 6] = G[c, 6] + l2 * W[r6, c]
            G[c, 7] = G[c, 7] + l2 * W[r7, c]
    for c in range(d):
        (out[r0, c], out[r1, c], out[r2, c], out[r3, c], out[r4, c], out[r5, c], out[r6, c],
         out[r7, c]) = (
            G[c, 0], G[c, 1], G[c, 2], G[c, 3], G[c, 4], G[c, 5], G[c, 6], G[c, 7])


_F1, _F2 = in_array(types.float64, 1), in_array(types.float64, 2)
_I1, _I2 = in_array(types.int64, 1), in_array(types.int64, 2)
_OUT1, _OUT2 = types.float64[::1], types.float64[:, ::1]
_SHARED = types.void(_F2, _F2, _F1, _I1, _I1, _I2, types.float64, _OUT2)


@njit(inline="always", **_OPTS)
def _acc8(a, x, V, c):
    """``a[lane] + x * V[c, lane]`` for the eight lanes (a tuple: kept in registers)."""
    return (a[0] + x * V[c, 0], a[1] + x * V[c, 1], a[2] + x * V[c, 2], a[3] + x * V[c, 3],
            a[4] + x * V[c, 4], a[5] + x * V[c, 5], a[6] + x * V[c, 6], a[7] + x * V[c, 7])


@njit(inline="always", **_OPTS)
def _put8(M, k, a):
    """``M[k, :] = a``."""
    (M[k, 0], M[k, 1], M[k, 2], M[k, 3], M[k, 4], M[k, 5], M[k, 6], M[k, 7]) = a


_ZERO8 = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(inline="always", **_OPTS)
def _add8(a, M, k):
    """``a[lane] + M[k, lane]`` for the eight lanes."""
    return (a[0] + M[k, 0], a[1] + M[k, 1], a[2] + M[k, 2], a[3] + M[k, 3], a[4] + M[k, 4],
            a[5] + M[k, 5], a[6] + M[k, 6], a[7] + M[k, 7])


@njit(inline="always", **_OPTS)
def _mul_acc8(a, P, p, Q, q):
    """``a[lane] + P[p, lane] * Q[q, lane]`` for the eight lanes."""
    return (a[0] + P[p, 0] * Q[q, 0], a[1] + P[p, 1] * Q[q, 1], a[2] + P[p, 2] * Q[q, 2],
            a[3] + P[p, 3] * Q[q, 3], a[4] + P[p, 4] * Q[q, 4], a[5] + P[p, 5] * Q[q, 5],
            a[6] + P[p, 6] * Q[q, 6], a[7] + P[p, 7] * Q[q, 7])


@njit(inline="always", **_OPTS)
def _margins(X, ex, WT, M):
    """``M[k, lane] = x_{ex[k]} · w_lane`` summed coordinate by coordinate, for the lanes
    ``WT (d, 8)``; four examples at a time (independent sums, issued together: one sum's
    additions wait on each other, four hide that latency)."""
    d = WT.shape[0]
    b = ex.size
    k = 0
    while k + 4 <= b:
        j0, j1, j2, j3 = ex[k], ex[k + 1], ex[k + 2], ex[k + 3]
        a0 = a1 = a2 = a3 = _ZERO8
        for c in range(d):
            a0 = _acc8(a0, X[j0, c], WT, c)
            a1 = _acc8(a1, X[j1, c], WT, c)
            a2 = _acc8(a2, X[j2, c], WT, c)
            a3 = _acc8(a3, X[j3, c], WT, c)
        _put8(M, k, a0)
        _put8(M, k + 1, a1)
        _put8(M, k + 2, a2)
        _put8(M, k + 3, a3)
        k += 4
    while k < b:
        j0 = ex[k]
        a0 = _ZERO8
        for c in range(d):
            a0 = _acc8(a0, X[j0, c], WT, c)
        _put8(M, k, a0)
        k += 1


@njit(inline="always", **_OPTS)
def _scale8(a, inv, bf, pow2):
    """``a / b`` lane by lane (``a * (1 / b)`` when ``b`` is a power of two: exactly equal)."""
    if pow2:
        return (a[0] * inv, a[1] * inv, a[2] * inv, a[3] * inv, a[4] * inv, a[5] * inv,
                a[6] * inv, a[7] * inv)
    return (a[0] / bf, a[1] / bf, a[2] / bf, a[3] / bf, a[4] / bf, a[5] / bf, a[6] / bf,
            a[7] / bf)


@njit(inline="always", **_OPTS)
def _accumulate(X, ex, C, G, inv, bf, pow2):
    """``G[c, lane] = (sum over k of C[k, lane] x_{ex[k], c}) / b``, summed example by example;
    four coordinates at a time (independent sums, so their additions overlap)."""
    d = G.shape[0]
    b = ex.size
    c = 0
    while c < d:
        if c + 4 <= d:
            a0 = a1 = a2 = a3 = _ZERO8
            for k in range(b):
                j = ex[k]
                a0 = _acc8(a0, X[j, c], C, k)
                a1 = _acc8(a1, X[j, c + 1], C, k)
                a2 = _acc8(a2, X[j, c + 2], C, k)
                a3 = _acc8(a3, X[j, c + 3], C, k)
            _put8(G, c, _scale8(a0, inv, bf, pow2))
            _put8(G, c + 1, _scale8(a1, inv, bf, pow2))
            _put8(G, c + 2, _scale8(a2, inv, bf, pow2))
            _put8(G, c + 3, _scale8(a3, inv, bf, pow2))
            c += 4
        else:
            a0 = _ZERO8
            for k in range(b):
                a0 = _acc8(a0, X[ex[k], c], C, k)
            _put8(G, c, _scale8(a0, inv, bf, pow2))
            c += 1


@njit(inline="always", **_OPTS)
def _grad_shared(W, X, y, order, ptr, ex, task, l2, out):
    """Minibatch gradients of rows sharing minibatches: group ``g`` is the rows
    ``order[ptr[g]:ptr[g + 1]]`` of ``W``, with the examples ``ex[g]``; into ``out``."""
    d = W.shape[1]
    b = ex.shape[1]
    bf = float(b)
    inv = 1.0 / bf
    pow2 = b & (b - 1) == 0
    WT = np.empty((d, LANES))
    G = np.empty((d, LANES))
    C = np.empty((b, LANES))
    YG = np.empty((b, LANES))
    for g in range(ptr.size - 1):
        for i0 in range(ptr[g], ptr[g + 1], LANES):
            n = min(LANES, ptr[g + 1] - i0)
            _load(W, order, i0, n, WT)
            _margins(X, ex[g], WT, C)
            for k in range(b):
                yk = y[ex[g, k]]
                for lane in range(LANES):
                    YG[k, lane] = yk
            _coefs(task, C, YG)
            _accumulate(X, ex[g], C, G, inv, bf, pow2)
            _store(out, W, order, i0, n, G, l2)


_ROWS = types.void(_F2, _F2, _F1, _I2, types.float64, _OUT2)


@njit(inline="always", **_OPTS)
def _grad_rows(W, X, y, idx, task, l2, out):
    """Minibatch gradients, row ``i`` of ``W`` with the examples ``idx[i]``; into ``out``.
    The same operations as :func:`grad_shared`, with every lane's examples gathered."""
    B, d = W.shape
    b = idx.shape[1]
    bf = float(b)
    inv = 1.0 / bf
    pow2 = b & (b - 1) == 0
    rows = np.arange(B)
    WT = np.empty((d, LANES))
    G = np.empty((d, LANES))
    C = np.empty((b, LANES))
    XG = np.empty((b, d, LANES))
    YG = np.empty((b, LANES))
    for i0 in range(0, B, LANES):
        n = min(LANES, B - i0)
        _load(W, rows, i0, n, WT)
        r0 = i0
        r1 = i0 + min(1, n - 1)
        r2 = i0 + min(2, n - 1)
        r3 = i0 + min(3, n - 1)
        r4 = i0 + min(4, n - 1)
        r5 = i0 + min(5, n - 1)
        r6 = i0 + min(6, n - 1)
        r7 = i0 + min(7, n - 1)
        for k in range(b):
            (j0, j1, j2, j3, j4, j5, j6, j7) = (
                idx[r0, k], idx[r1, k], idx[r2, k], idx[r3, k], idx[r4, k], idx[r5, k], idx[r6, k],
                idx[r7, k])
            (YG[k, 0], YG[k, 1], YG[k, 2], YG[k, 3], YG[k, 4], YG[k, 5], YG[k, 6], YG[k, 7]) = (
                y[j0], y[j1], y[j2], y[j3], y[j4], y[j5], y[j6], y[j7])
            for c in range(d):
                (XG[k, c, 0], XG[k, c, 1], XG[k, c, 2], XG[k, c, 3], XG[k, c, 4], XG[k, c, 5],
                 XG[k, c, 6], XG[k, c, 7]) = (
                    X[j0, c], X[j1, c], X[j2, c], X[j3, c], X[j4, c], X[j5, c], X[j6, c], X[j7, c])
        for k in range(b):
            a = _ZERO8
            for c in range(d):
                a = _mul_acc8(a, XG[k], c, WT, c)
            _put8(C, k, a)
        _coefs(task, C, YG)
        for c in range(d):
            a = _ZERO8
            for k in range(b):
                a = _mul_acc8(a, C, k, XG[k], c)
            _put8(G, c, _scale8(a, inv, bf, pow2))
        _store(out, W, rows, i0, n, G, l2)


@njit(inline="always", **_OPTS)
def _loss_rows(W, X, y, task, l2, out):
    """Full losses of the rows of ``W`` over all examples ``(X, y)``; into ``out``."""
    B, d = W.shape
    n = X.shape[0]
    rows = np.arange(B)
    WT = np.empty((d, LANES))
    M = np.empty((n, LANES))
    Y = np.empty((n, LANES))
    for k in range(n):
        for lane in range(LANES):
            Y[k, lane] = y[k]
    mf = M.reshape(M.size)
    yf = Y.reshape(Y.size)
    every = np.arange(n)
    scale = 2.0 * n if task == 0 else 1.0 * n
    for i0 in range(0, B, LANES):
        m = min(LANES, B - i0)
        _load(W, rows, i0, m, WT)
        _margins(X, every, WT, M)
        if task == 0:
            for q in range(mf.size):
                r = mf[q] - yf[q]
                mf[q] = r * r
        else:
            for q in range(mf.size):
                mf[q] = softplus(-(yf[q] * mf[q]))
        sums = _ZERO8
        for k in range(n):
            sums = _add8(sums, M, k)
        for lane in range(m):
            value = sums[lane] / scale
            if l2 != 0.0:
                q2 = 0.0
                for c in range(d):
                    q2 += WT[c, lane] * WT[c, lane]
                value = value + 0.5 * l2 * q2
            out[i0 + lane] = value


_LOSS = types.void(_F2, _F2, _F1, types.float64, _OUT1)


# One compiled entry point per task (0: least squares, 1: logistic), so that the task is a
# constant inside the loops and the lanes are straight-line code.
@compiled(_SHARED)
def _grad_shared_ls(W, X, y, order, ptr, ex, l2, out):
    _grad_shared(W, X, y, order, ptr, ex, 0, l2, out)


@compiled(_SHARED)
def _grad_shared_logistic(W, X, y, order, ptr, ex, l2, out):
    _grad_shared(W, X, y, order, ptr, ex, 1, l2, out)


@compiled(_ROWS)
def _grad_rows_ls(W, X, y, idx, l2, out):
    _grad_rows(W, X, y, idx, 0, l2, out)


@compiled(_ROWS)
def _grad_rows_logistic(W, X, y, idx, l2, out):
    _grad_rows(W, X, y, idx, 1, l2, out)


@compiled(_LOSS)
def _loss_rows_ls(W, X, y, l2, out):
    _loss_rows(W, X, y, 0, l2, out)


@compiled(_LOSS)
def _loss_rows_logistic(W, X, y, l2, out):
    _loss_rows(W, X, y, 1, l2, out)


def grad_shared(task, W, X, y, order, ptr, ex, l2, out):
    """Minibatch gradients of rows sharing minibatches: group ``g`` is the rows
    ``order[ptr[g]:ptr[g + 1]]`` of ``W``, with the examples ``ex[g]``; into ``out``.
    ``task``: ``"least_squares"`` or ``"logistic"``."""
    (_grad_shared_ls if task == "least_squares" else _grad_shared_logistic)(
        W, X, y, order, ptr, ex, l2, out)


def grad_rows(task, W, X, y, idx, l2, out):
    """Minibatch gradients, row ``i`` of ``W`` with the examples ``idx[i]``; into ``out``
    (the operations of :func:`grad_shared`, with every lane's examples gathered)."""
    (_grad_rows_ls if task == "least_squares" else _grad_rows_logistic)(W, X, y, idx, l2, out)


def loss_rows(task, W, X, y, l2, out):
    """Full losses of the rows of ``W`` over all examples ``(X, y)``; into ``out``."""
    (_loss_rows_ls if task == "least_squares" else _loss_rows_logistic)(W, X, y, l2, out)


_REGROUP = types.boolean(_I2, _I1, _I1, types.int64[:, ::1])


@compiled(_REGROUP)
def _regroup(idx, order, ptr, ex):
    """Whether every group ``order[ptr[g]:ptr[g + 1]]`` still shares one row of ``idx``;
    that row into ``ex[g]``. (A sweep's rows keep their seed's grouping step after step.)"""
    b = idx.shape[1]
    for g in range(ptr.size - 1):
        first = order[ptr[g]]
        for k in range(b):
            ex[g, k] = idx[first, k]
        for q in range(ptr[g] + 1, ptr[g + 1]):
            r = order[q]
            for k in range(b):
                if idx[r, k] != ex[g, k]:
                    return False
    return True


def regroup(idx, order, ptr):
    """The examples of every group of a previous grouping, or ``None`` if it no longer holds."""
    ex = np.empty((ptr.size - 1, idx.shape[1]), dtype=np.int64)
    return ex if _regroup(idx, order, ptr, ex) else None


_VEC = types.void(types.int64, _F1, _OUT1)


@compiled(_VEC)
def math_into(which, x, out):
    """The kernels' :func:`exp_nonpos` (``which = 0``, arguments ``<= 0``), sigmoid (1) or
    softplus ``log(1 + e^x)`` (2), elementwise (for tests and measurements)."""
    for i in range(x.size):
        v = x[i]
        out[i] = exp_nonpos(v) if which == 0 else (sigmoid(v) if which == 1 else softplus(v))
