r"""Claims on linear models: C13 (Hardt bound), C14 (the paper's learning-rate window).

The numbers come from :mod:`ssam_theory.linear` (coupled runs on neighbouring data sets and
the learning-rate regime experiment); this module only adapts their results to the
registry's :class:`Result` and passes the injectable rules through.
"""

from __future__ import annotations

from ._base import Result, Rules, make


def _adapt(out: dict) -> Result:
    ev = dict(out["evidence"])
    if out["verdict"] != "violated" and ev.get("counterexample") is None:
        ev.pop("counterexample", None)
    return Result(out["predicted"], out["measured"], out["verdict"], ev)


def _factory(rules: Rules | None):
    if rules is None:
        return None
    return lambda rule, lr, rho: make(rules, rule, lr=lr, rho=rho)


def check_c13(quick: bool = True, rules: Rules | None = None) -> Result:
    """Hardt, Recht & Singer's bound δ_T ≤ 2ηL·#{t : i_t = i*}, via ssam_theory.linear."""
    from .. import linear

    return _adapt(linear.c13_check(quick=quick, make_optimizer=_factory(rules)))


def check_c14(quick: bool = True, rules: Rules | None = None) -> Result:
    """SAM's advantage window and SSAM's extension, via ssam_theory.linear."""
    from .. import linear

    return _adapt(linear.c14_check(quick=quick, make_optimizer=_factory(rules)))
