"""The registry's building blocks: :class:`Claim`, :class:`Result`, injectable rules.

Every check is a function ``check(quick: bool = True, rules: Rules | None = None) -> Result``.
``rules`` maps a rule name (:data:`ssam_theory.RULES`) to a rule factory
``(lr, rho, **options) -> Optimizer`` (:data:`ssam_theory.RuleFactory`); names it does
not mention keep the toolkit's own rules (``functools.partial(ssam_theory.optimizer,
name)``). A test can pass a deliberately wrong rule (for example USAM in place of SSAM,
i.e. SSAM without its renormalization) and watch the relevant claims fail: the checks can fail.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .._shared import shared
from ..rules import RULES, Optimizer, RuleFactory, build, rule_factories

__all__ = ["SOURCES", "VERDICTS", "Claim", "Result", "Row", "Rules", "default_rules", "make"]

#: The verdicts a check may return.
VERDICTS: tuple[str, ...] = ("holds", "violated", "inconclusive")

#: Source tags: textbook, worked out for this toolkit, another paper, Tan et al., or seen in
#: preliminary runs (to be derived or refuted).
SOURCES: tuple[str, ...] = ("classical", "derived", "peer", "paper", "observed")

Rules = Mapping[str, RuleFactory]


def default_rules() -> dict[str, RuleFactory]:
    """``{name: functools.partial(ssam_theory.optimizer, name)}`` for every rule."""
    return rule_factories(RULES)


def make(rules: Rules | None, name: str, lr, rho=0.0, **options) -> Optimizer:
    """The optimizer ``name`` built by ``rules[name]`` (the toolkit's own when absent)."""
    table = rule_factories(RULES if rules is None else {**dict.fromkeys(RULES), **rules})
    return build(table[name], lr, rho, label=f"rules[{name!r}]", **options)


@dataclass(frozen=True)
class Row:
    """One setting of a check: what theory predicts there, what the runs gave, and whether
    that setting agrees (``None`` where a row only reports, e.g. a measured quantity)."""

    setting: str
    predicted: str
    measured: str
    passes: bool | None = None

    def __post_init__(self):
        for name in ("setting", "predicted", "measured"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Row.{name} must be a str, got {getattr(self, name)!r}")
        if self.passes is not None:
            object.__setattr__(self, "passes", bool(self.passes))

    def as_dict(self) -> dict:
        return {"setting": self.setting, "predicted": self.predicted,
                "measured": self.measured, "passes": self.passes}


def _jsonable(x):
    """Evidence in plain JSON types: numbers, strings, bools, lists, dicts (NaN/inf as str)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(val) for k, val in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(val) for val in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else str(x)
    if x is None or isinstance(x, str):
        return x
    raise TypeError(f"evidence must hold numbers, strings, lists or dicts, got {x!r}")


@dataclass(frozen=True)
class Result:
    """The outcome of one check.

    Attributes:
        predicted: what theory says, as a compact string (numbers computed in this run).
        measured: what the runs gave, as a compact string.
        verdict: ``holds``, ``violated`` (``evidence["counterexample"]`` then says where)
            or ``inconclusive`` (``evidence["reason"]`` says why).
        evidence: JSON-serializable numbers and lists behind the verdict.
        key: the one key number, short (e.g. ``"edge 0.200 vs 2/λ = 0.2"``); defaults to
            the start of ``measured``.
        rows: one :class:`Row` per setting checked (predicted vs measured, passes).
    """

    predicted: str
    measured: str
    verdict: str
    evidence: dict = field(default_factory=dict)
    key: str = ""
    rows: tuple = ()

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        for name in ("predicted", "measured"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string, got "
                                 f"{getattr(self, name)!r}")
        object.__setattr__(self, "evidence", _jsonable(dict(self.evidence)))
        if self.verdict == "violated" and "counterexample" not in self.evidence:
            raise ValueError("a violated verdict needs evidence['counterexample']")
        if self.verdict == "inconclusive" and "reason" not in self.evidence:
            raise ValueError("an inconclusive verdict needs evidence['reason']")
        json.dumps(self.evidence)  # must serialize
        rows = tuple(self.rows)
        if not all(isinstance(r, Row) for r in rows):
            raise TypeError(f"rows must be Row objects, got {rows!r}")
        object.__setattr__(self, "rows", rows)
        if not isinstance(self.key, str):
            raise TypeError(f"key must be a str, got {self.key!r}")
        if not self.key.strip():
            object.__setattr__(self, "key", self.measured.split(";")[0][:80])


@dataclass(frozen=True)
class Claim:
    """One entry of the claims catalogue.

    Attributes:
        id: ``C01``, ``C11a``, ….
        title: a few words.
        statement: the claim in LaTeX-flavoured text.
        source: the tag and reference, e.g. ``"peer: Long & Bartlett 2024"``; the tag
            (``classical``, ``derived``, ``peer``, ``paper``, ``observed``) is :attr:`tag`.
        setting: where it is checked (landscapes, parameters, instances).
        check: ``check(quick=True, rules=None) -> Result``.
    """

    id: str
    title: str
    statement: str
    source: str
    setting: str
    check: Callable[..., Result] = field(repr=False)

    def __post_init__(self):
        if self.tag not in SOURCES:
            raise ValueError(f"source must start with one of {SOURCES}, got {self.source!r}")

    @property
    def tag(self) -> str:
        return self.source.split(":")[0].split(";")[0].strip()

    def run(self, quick: bool = True, rules: Rules | None = None) -> Result:
        """The check's result. Within one ``ssam-theory reproduce`` run a notebook that shows
        a claim's verdict and the claims report share one computation of it."""
        result = _shared_check(self.check, quick, rules)
        if not isinstance(result, Result):
            raise TypeError(f"{self.id}.check must return a Result, got {result!r}")
        return result


@shared
def _shared_check(check, quick, rules):
    return check(quick=quick, rules=rules)


def verdict(ok: bool) -> str:
    return "holds" if ok else "violated"


def fmt(x, digits: int = 4) -> str:
    """A compact number: 4 significant digits."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"
