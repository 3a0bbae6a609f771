r"""The elementary functions of the compiled kernels (numba): :math:`e^x` for
:math:`x \le 0`, :math:`\log(1 + t)` for :math:`0 \le t \le 1`, the sigmoid and softplus.

Written out as polynomials (no library call, so that a loop over them vectorizes), with plain
IEEE multiplies and adds in a fixed order: the same bits on any machine. :func:`exp_nonpos`
is within 1 ulp of ``numpy.exp``; :func:`sigmoid` and :func:`softplus` within 3 ulps of
``scipy.special.expit`` and ``numpy.logaddexp(0, x)`` (measured in the tests). Inlined into
the kernels of :mod:`ssam_theory._kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from ._numba import OPTS as _OPTS

__all__ = ["exp_nonpos", "log1p_unit", "sigmoid", "softplus"]


@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bit pattern is the int64 ``bits``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
# Taylor coefficients 1/i! of e^r, highest first, i = 13..0: the remainder after r^13 is below
# 5e-18 for |r| <= ln(2)/2
_EXP = tuple(1.0 / math.factorial(i) for i in range(13, -1, -1))
# 1/(2i+1), highest first, i = 17..1: log(1+t) = 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ...),
# s = t/(2+t)
_ATANH = tuple(1.0 / (2 * i + 1) for i in range(17, 0, -1))


@njit(inline="always", **_OPTS)
def _horner(coefs, x):
    """``(...(c_0 x + c_1) x + ...) x + c_last`` for the constant tuple ``coefs`` (highest
    first): one multiply and one add per coefficient, in this order (unrolled by the
    compiler, the tuple's length being fixed)."""
    p = coefs[0]
    for i in range(1, len(coefs)):
        p = coefs[i] + x * p
    return p


@njit(inline="always", **_OPTS)
def exp_nonpos(x):
    r""":math:`e^x` for :math:`x \le 0` (NaN stays NaN).

    :math:`x = k \ln 2 + r` with :math:`k = \lfloor x/\ln 2 + 1/2 \rfloor` (two-part
    :math:`\ln 2`), :math:`e^r` by its Taylor polynomial of degree 13 (Horner), times
    :math:`2^{\lfloor k/2 \rfloor} 2^{k - \lfloor k/2 \rfloor}` built from exponent bits (two
    factors, so that results down to the smallest subnormal are rounded once).
    """
    bad = x != x
    x = 0.0 if bad else (-746.0 if x < -746.0 else x)
    kf = math.floor(x * _LOG2E + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = _horner(_EXP, r)
    k = np.int64(kf)
    k1 = k >> 1
    out = (p * _as_float((k1 + 1023) << 52)) * _as_float((k - k1 + 1023) << 52)
    return math.nan if bad else out


@njit(inline="always", **_OPTS)
def log1p_unit(t):
    r""":math:`\log(1 + t)` for :math:`0 \le t \le 1`: :math:`2\,\mathrm{atanh}(s)` with
    :math:`s = t / (2 + t) \in [0, 1/3]`, by its series :math:`2s \sum_i s^{2i} / (2i + 1)`
    to :math:`i = 17` (the remainder is below :math:`10^{-18}` relative); one division.
    """
    s = t / (2.0 + t)
    z = s * s
    q = _horner(_ATANH, z)
    s2 = 2.0 * s
    return s2 + s2 * (z * q)


@njit(inline="always", **_OPTS)
def sigmoid(v):
    """``1 / (1 + e^{-v})``: for ``v < 0`` as ``e^v / (1 + e^v)`` (no overflow)."""
    t = exp_nonpos(-abs(v))
    out = 1.0 / (1.0 + t) if v >= 0.0 else t / (1.0 + t)
    return v if v != v else out


@njit(inline="always", **_OPTS)
def softplus(v):
    """``log(1 + e^v)`` as ``max(v, 0) + log1p(e^{-|v|})``."""
    out = (v if v > 0.0 else 0.0) + log1p_unit(exp_nonpos(-abs(v)))
    return v if v != v else out
