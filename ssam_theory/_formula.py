"""The machinery behind :mod:`ssam_theory.theory`: a sympy expression with its lambdified,
input-checked NumPy twin (:class:`Formula`). The formulas themselves live in ``theory``."""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
import sympy as sp

__all__ = ["Formula"]


class Formula:
    """A formula of the catalogue: sympy expression plus its lambdified NumPy twin.

    Subclasses set :attr:`domain`: argument name → (lower bound, open?) of the NumPy
    twin's input checks (:class:`ssam_theory.theory.Formula` holds the catalogue's).

    Attributes:
        name: the Python name.
        expr: the sympy expression, as stated in the source.
        symbols: the sympy symbols, in argument order.
        params: the argument names of the NumPy twin (``lr`` for η, ...).
        numeric_expr: the expression that was lambdified; equal to ``expr`` or a
            sympy-equivalent rewriting that is stable in floating point (tested equal).
        source: the claim and the reference it comes from.

    Calling the object evaluates the twin on float64 arrays (broadcast); every argument
    must be finite and in the symbol's domain (positive, or non-negative for counts and
    times), else ``ValueError`` names it. Scalars in give a float out.
    """

    domain: ClassVar[dict[str, tuple[float, bool]]] = {}

    def __init__(self, name, expr, args, doc, source, numeric_expr=None):
        self.name = name
        self.params = tuple(a for a, _ in args)
        self.symbols = tuple(s for _, s in args)
        self.expr = expr
        self.numeric_expr = expr if numeric_expr is None else numeric_expr
        self.source = source
        self._fn = None  # lambdified on the first call: importing the module stays cheap
        self.__doc__ = (f"{doc}\n\n    Formula: ${self.latex}$\n\n    Args: "
                        f"{', '.join(self.params)} (float or array, broadcast)\n\n"
                        f"    Source: {source}\n")

    @property
    def latex(self) -> str:
        return sp.latex(self.expr)

    def __repr__(self):
        return f"<Formula {self.name}({', '.join(self.params)}) = {self.expr}>"

    def __call__(self, *args, **kwargs):
        if len(args) > len(self.params):
            raise TypeError(f"{self.name}() takes {len(self.params)} arguments "
                            f"({', '.join(self.params)}), got {len(args)}")
        values = dict(zip(self.params, args))
        for k, val in kwargs.items():
            if k not in self.params:
                raise TypeError(f"{self.name}() got an unexpected argument {k!r}; "
                                f"arguments are {', '.join(self.params)}")
            if k in values:
                raise TypeError(f"{self.name}() got multiple values for argument {k!r}")
            values[k] = val
        missing = [p for p in self.params if p not in values]
        if missing:
            raise TypeError(f"{self.name}() missing argument(s): {', '.join(missing)}")
        arrays = [_checked(self.name, p, values[p], self.domain) for p in self.params]
        scalar = all(a.ndim == 0 for a in arrays)
        if self._fn is None:
            self._fn = sp.lambdify(self.symbols, self.numeric_expr, modules="numpy")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = self._fn(*arrays)
        out = np.broadcast_to(np.asarray(out, dtype=np.float64),
                              np.broadcast_shapes(*(a.shape for a in arrays)))
        return float(out) if scalar else np.array(out)

    def subs(self, **values) -> sp.Expr:
        """The sympy expression with some arguments (by argument name) substituted."""
        table = dict(zip(self.params, self.symbols))
        return self.expr.subs({table[k]: val for k, val in values.items()})


def _checked(fname, name, value, domain) -> np.ndarray:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be real, got {value!r}")
    if not isinstance(value, numbers.Real):
        arr = np.asarray(value)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{fname}: {name} must be real, got {value!r}")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{fname}: {name} must be finite, got {value!r}")
    low, open_ = domain[name]
    bad = arr <= low if open_ else arr < low
    if np.any(bad):
        raise ValueError(f"{fname}: {name} must be {'>' if open_ else '>='} {low}, "
                         f"got {value!r}")
    return arr
