r"""Landscapes from a formula: :class:`Symbolic`.

A researcher writes the loss as text in sympy syntax (or passes a sympy expression); the
gradient and the Hessian are derived by :func:`sympy.diff` and compiled by
:func:`sympy.lambdify` into NumPy functions of the coordinate columns, so a batch ``(B, d)``
is evaluated in a handful of vectorised array operations, with no Python loop over rows.

>>> import ssam_theory as st
>>> f = st.Symbolic("a*x**2/2 - y**2/2", a=3.0)
>>> f.variables, f.dim
(('x', 'y'), 2)
>>> f.grad([1.0, 2.0]).tolist()
[3.0, -2.0]

What the object holds (and what a sweep's cache fingerprint therefore covers): the exact
expression as its ``srepr`` string (:attr:`Symbolic.source`), the variable names, the bound
parameter values (floats, whose ``repr`` round-trips exactly) and the check point. The
compiled functions are *not* attributes: they live in a module-level cache keyed by those
same values and are built on first use, so the object pickles (process-pool executors), and
two objects built from the same formula and parameters have the same fingerprint in every
process.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from . import _validate as v
from .landscapes import Landscape

__all__ = ["Symbolic"]


def _parse(expr) -> sp.Expr:
    """The formula as a sympy expression; ``ValueError`` for anything that is not one."""
    if isinstance(expr, str):
        if not expr.strip():
            raise ValueError(f"expr must be a non-empty formula, got {expr!r}")
        try:
            out = sp.parse_expr(expr, evaluate=True)
        except Exception as exc:  # sympy raises SyntaxError, TokenError, TypeError, ...
            raise ValueError(f"expr could not be parsed as a sympy formula: {expr!r} "
                             f"({type(exc).__name__}: {exc})") from None
    elif isinstance(expr, sp.Basic):
        out = expr
    else:
        raise TypeError(f"expr must be a string or a sympy expression, got {expr!r}")
    if not isinstance(out, sp.Expr) or isinstance(out, sp.MatrixBase):
        raise ValueError(f"expr must be a scalar formula, got {out!r} "
                         f"({type(out).__name__})")
    if out.has(sp.I) or any(not a.is_real for a in out.atoms(sp.Number)):
        raise ValueError(f"expr must be real; {expr!r} has complex or non-real terms "
                         f"(sympy reads I as the imaginary unit)")
    if out.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise ValueError(f"expr must be finite; {expr!r} contains nan or an infinity")
    return out


@functools.lru_cache(maxsize=256)
def _compiled(source: str, variables: tuple[str, ...], params: tuple[str, ...]):
    r"""``(expr, loss, grads, hessian)`` for an expression given by its ``srepr``.

    ``grads`` holds one compiled function per gradient component and ``hessian`` one per
    entry of the upper triangle (``hessian[i][j - i]`` is :math:`\partial_i\partial_j f`,
    ``j >= i``). Each takes the coordinate columns then the parameter values and returns an
    array or, for a constant derivative, a Python number (:class:`Symbolic` broadcasts it).
    One function per component lets every component be written straight into its column of
    the output, so a batch allocates one temporary at a time (evaluating a list of
    components at once keeps them all alive and is several times slower on large batches).
    """
    expr = sp.sympify(source)
    table = {s.name: s for s in expr.free_symbols}
    xs = [table.get(n, sp.Symbol(n, real=True)) for n in variables]
    ps = [table[n] for n in params]
    grad = [sp.diff(expr, s) for s in xs]
    hess = [[sp.diff(grad[i], xs[j]) for j in range(i, len(xs))] for i in range(len(xs))]
    lam = functools.partial(sp.lambdify, (*xs, *ps), modules="numpy", cse=True)
    return expr, lam(expr), [lam(g) for g in grad], [[lam(h) for h in row] for row in hess]


def _fill(res: np.ndarray, where: tuple, value) -> np.ndarray:
    """``res[where] = value`` (broadcast); promoted to complex if ``value`` is complex."""
    if np.iscomplexobj(value) and res.dtype.kind != "c":
        res = res.astype(np.complex128)
    res[where] = value
    return res


class Symbolic(Landscape):
    r"""A landscape :math:`f(w)` from a formula in sympy syntax.

    The variables are the formula's free symbols sorted by name (or the names given in
    ``variables``, in that order); every other symbol is a parameter and must be bound by a
    keyword. Gradient and Hessian are exact symbolic derivatives, compiled to NumPy.

    Args:
        expr: a string such as ``"0.5*x**2 - 0.5*y**2 + 0.25*y**4"`` (sympy syntax; it is
            evaluated like :func:`sympy.parse_expr`, so pass only text you trust), or a sympy
            expression. Must be real: ``I`` is sympy's imaginary unit and is refused.
        variables: optional sequence of variable names fixing their order; names the formula
            does not use are allowed (the loss is constant along them). Default: every free
            symbol that is not a bound parameter, sorted by name.
        check_at: the point ``(d,)`` where loss, gradient and Hessian must be finite at
            construction (default the origin); choose another for formulas singular there
            (``log(x)``: ``check_at=[1.0]``).
        **params: numeric values of the formula's parameters, e.g. ``a=3.0``.

    Attributes:
        dim: number of variables :math:`d`.
        variables: the variable names, in coordinate order.
        params: ``{name: float}`` of the bound parameters.
        source: the ``srepr`` of the expression (exact, floats included).
        expr: the sympy expression (parameters as symbols).

    Raises:
        ValueError: an empty or unparsable formula, complex terms, a formula without
            variables, an unbound parameter (with ``variables``), a parameter that is not a
            free symbol of the formula or is also a variable, a non-finite parameter value,
            or a non-finite (or complex) loss, gradient or Hessian at ``check_at``.
            Nothing is built when any check fails.

    ``loss``, ``grad`` and ``hessian`` evaluate IEEE arithmetic without warnings: far from
    the check point a formula may overflow to ``inf``/``nan``, which :func:`ssam_theory.run`
    reports as divergence. Every operation is elementwise over the rows, so a batch equals its
    rows evaluated one by one, bit for bit, for polynomial and rational formulas.
    """

    def __init__(self, expr, *, variables=None, check_at=None, **params):
        parsed = _parse(expr)
        free = {s.name: s for s in parsed.free_symbols}
        bound = {}
        for name, value in params.items():
            if name not in free:
                raise ValueError(f"parameter {name}={value!r} is not a free symbol of the "
                                 f"formula (free symbols: {sorted(free) or 'none'})")
            bound[name] = v.as_real(name, value)
        if variables is None:
            names = tuple(sorted(n for n in free if n not in bound))
        else:
            if isinstance(variables, str):
                raise TypeError(f"variables must be a sequence of names, got the string "
                                f"{variables!r}")
            names = tuple(variables)
            if not all(isinstance(n, str) and n.isidentifier() for n in names):
                raise ValueError(f"variables must be identifiers, got {variables!r}")
            if len(set(names)) != len(names):
                raise ValueError(f"variables must be distinct, got {variables!r}")
            both = sorted(set(names) & set(bound))
            if both:
                raise ValueError(f"{both[0]} is given both as a variable and as a parameter "
                                 f"({both[0]}={bound[both[0]]!r})")
            unbound = sorted(set(free) - set(names) - set(bound))
            if unbound:
                raise ValueError(f"unbound parameter(s) {', '.join(unbound)} in {expr!r}: "
                                 f"bind them by keyword, e.g. {unbound[0]}=1.0")
        if not names:
            raise ValueError(f"expr must depend on at least one variable, got {expr!r}")
        # one real symbol per name, so that derivatives of |x|, sqrt(x**2), ... are real
        real = {free[n]: sp.Symbol(n, real=True) for n in free}
        parsed = parsed.xreplace(real)
        dim = len(names)
        point = (np.zeros(dim) if check_at is None
                 else v.as_finite_array("check_at", check_at, ndim=1))
        if point.shape != (dim,):
            raise ValueError(f"check_at must have shape ({dim},), got shape {point.shape}")

        source = sp.srepr(parsed)
        pnames = tuple(sorted(bound))
        try:
            _compiled(source, names, pnames)
        except Exception as exc:  # lambdify cannot print some sympy objects
            raise ValueError(f"expr {expr!r} cannot be compiled to NumPy "
                             f"({type(exc).__name__}: {exc})") from None
        self.dim = dim
        self.variables = names
        self.params = {n: bound[n] for n in pnames}
        self.source = source
        self.check_at = point
        self.check_at.setflags(write=False)
        self._check_finite(expr)

    # ---------------------------------------------------------------------------------
    def _functions(self):
        return _compiled(self.source, self.variables, tuple(self.params))

    @property
    def expr(self) -> sp.Expr:
        """The sympy expression (parameters as symbols)."""
        return self._functions()[0]

    def _check_finite(self, shown) -> None:
        w = self.check_at
        with np.errstate(all="ignore"):
            values = {"loss": self._evaluate(1, w[None]), "gradient": self._evaluate(2, w[None]),
                      "Hessian": self._evaluate(3, w[None])}
        for what, val in values.items():
            if val.dtype.kind == "c" or not np.all(np.isfinite(val)):
                raise ValueError(f"expr {shown!r} has a non-finite or complex {what} at the "
                                 f"check point {w.tolist()}: {np.ravel(val).tolist()} "
                                 f"(pass check_at= a point where the formula is smooth)")

    def _evaluate(self, which: int, W2: np.ndarray) -> np.ndarray:
        """Compiled function ``which`` (1 loss, 2 grad, 3 Hessian) on rows ``W2 (B, d)``:
        ``(B,)``, ``(B, d)`` or ``(B, d, d)``; scalars (constant terms) are broadcast.
        A complex value (a formula leaving the reals, e.g. ``sqrt`` of a negative number
        evaluated by NumPy's complex path) is returned as complex for the caller to refuse."""
        fn = self._functions()[which]
        B = W2.shape[0]
        args = (*(W2[:, i] for i in range(self.dim)), *self.params.values())
        if which == 1:
            return _fill(np.empty(B), (), fn(*args))
        if which == 2:
            res = np.empty_like(W2)  # keeps W2's memory order
            for i, fi in enumerate(fn):
                res = _fill(res, (slice(None), i), fi(*args))
            return res
        res = np.empty((B, self.dim, self.dim))
        for i, row in enumerate(fn):
            for k, fij in enumerate(row):
                j = i + k
                res = _fill(res, (slice(None), i, j), fij(*args))
                if j != i:
                    res[:, j, i] = res[:, i, j]
        return res

    def _call(self, which, W, name="W"):
        W = self._iterates(W, name)
        with np.errstate(all="ignore"):
            res = self._evaluate(which, W if W.ndim == 2 else W[None])
        if res.dtype.kind == "c":  # leaves the reals: NaN there (reported as divergence)
            res = np.where(res.imag == 0, res.real, np.nan)
        return res if W.ndim == 2 else res[0]

    def loss(self, W) -> np.ndarray:
        """:math:`f(w)`: ``()`` for ``(d,)`` in, ``(B,)`` for ``(B, d)``."""
        return self._call(1, W)

    def grad(self, W) -> np.ndarray:
        r""":math:`\nabla f(w)`, the shape of ``W``."""
        return self._call(2, W)

    def hessian(self, w) -> np.ndarray:
        r""":math:`\nabla^2 f(w)`: ``(d, d)`` for ``(d,)`` in, ``(B, d, d)`` for ``(B, d)``."""
        return self._call(3, w, "w")

    def formula(self) -> str:
        """The formula as text with the parameters substituted (for labels and reports)."""
        subs = {s: sp.Float(self.params[s.name]) for s in self.expr.free_symbols
                if s.name in self.params}
        return str(self.expr.xreplace(subs))

    def __repr__(self):
        bound = "".join(f", {k}={val!r}" for k, val in self.params.items())
        return f"Symbolic({str(self.expr)!r}{bound})"
