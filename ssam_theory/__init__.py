"""ssam_theory: the theory of sharpness-aware minimization, checked numerically.

>>> import ssam_theory as st
>>> opt = st.optimizer("ssam", lr=0.1, rho=0.05)

Importing the package loads only the core (rules, landscapes, runs, sweeps). The modules
that need sympy or scikit-learn (``theory``, ``claims``, ``linear``, ``data``,
``diffusion``, ``network``, ``symbolic``) and the names they export are imported on first use, so
``import ssam_theory`` stays cheap; ``st.theory``, ``st.claims.run_checks``, ``st.Dataset``
… work as if they had been imported eagerly.
"""

import importlib
from typing import TYPE_CHECKING

from .expansion import expansiveness, jacobian_expansiveness
from .landscapes import Beale, Landscape, LeastSquares, Logistic, NoisyQuadratic, Quadratic
from .rules import (
    RULES,
    Optimizer,
    OptState,
    RuleFactory,
    StepInfo,
    optimizer,
    renormalization_factor,
    row_norm,
    rule_factories,
)
from .sweep import Outcome, SweepResult, sweep
from .trajectory import DIVERGENCE_NORM, Trajectory, minibatch_indices, run

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from . import claims, data, diffusion, linear, theory
    from .data import Dataset, neighbour
    from .diffusion import NOISE_SETTINGS, SaddleMSD, StepOracle, noise_pattern, saddle_msd
    from .network import DiagonalNetwork, sparse_regression
    from .symbolic import Symbolic

__version__ = "0.1.0"

#: sub-modules imported on first attribute access
_LAZY_MODULES = ("claims", "data", "diffusion", "linear", "network", "symbolic", "theory")
#: public name -> the sub-module that defines it, imported on first access
_LAZY_NAMES = {
    "Dataset": "data",
    "neighbour": "data",
    "NOISE_SETTINGS": "diffusion",
    "SaddleMSD": "diffusion",
    "StepOracle": "diffusion",
    "noise_pattern": "diffusion",
    "saddle_msd": "diffusion",
    "DiagonalNetwork": "network",
    "sparse_regression": "network",
    "Symbolic": "symbolic",
}


def __getattr__(name):
    if name in _LAZY_MODULES:
        module = importlib.import_module(f".{name}", __name__)
    elif name in _LAZY_NAMES:
        module = getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = module  # later look-ups skip this function
    return module


def __dir__():
    return sorted(set(globals()) | set(_LAZY_MODULES) | set(_LAZY_NAMES))


__all__ = [
    "DIVERGENCE_NORM",
    "NOISE_SETTINGS",
    "RULES",
    "Beale",
    "Dataset",
    "DiagonalNetwork",
    "Landscape",
    "LeastSquares",
    "Logistic",
    "NoisyQuadratic",
    "OptState",
    "Optimizer",
    "Outcome",
    "Quadratic",
    "RuleFactory",
    "SaddleMSD",
    "StepInfo",
    "StepOracle",
    "SweepResult",
    "Symbolic",
    "Trajectory",
    "claims",
    "data",
    "diffusion",
    "expansiveness",
    "jacobian_expansiveness",
    "linear",
    "minibatch_indices",
    "neighbour",
    "noise_pattern",
    "optimizer",
    "renormalization_factor",
    "row_norm",
    "rule_factories",
    "run",
    "saddle_msd",
    "sparse_regression",
    "sweep",
    "theory",
]
