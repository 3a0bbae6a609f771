"""ssam_theory: the theory of sharpness-aware minimization, checked numerically.

>>> import ssam_theory as st
>>> opt = st.optimizer("ssam", lr=0.1, rho=0.05)
"""

from . import claims, data, linear, theory
from .data import Dataset, neighbour
from .expansion import expansiveness, jacobian_expansiveness
from .landscapes import Beale, Landscape, LeastSquares, Logistic, NoisyQuadratic, Quadratic
from .rules import (
    RULES,
    Optimizer,
    OptState,
    StepInfo,
    optimizer,
    renormalization_factor,
    row_norm,
)
from .sweep import Outcome, SweepResult, sweep
from .trajectory import DIVERGENCE_NORM, Trajectory, minibatch_indices, run

__version__ = "0.1.0"

__all__ = [
    "DIVERGENCE_NORM",
    "RULES",
    "Beale",
    "Dataset",
    "Landscape",
    "LeastSquares",
    "Logistic",
    "NoisyQuadratic",
    "OptState",
    "Optimizer",
    "Outcome",
    "Quadratic",
    "StepInfo",
    "SweepResult",
    "Trajectory",
    "claims",
    "data",
    "expansiveness",
    "jacobian_expansiveness",
    "linear",
    "minibatch_indices",
    "neighbour",
    "optimizer",
    "renormalization_factor",
    "row_norm",
    "run",
    "sweep",
    "theory",
]
