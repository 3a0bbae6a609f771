"""ssam_theory: the theory of sharpness-aware minimization, checked numerically.

>>> import ssam_theory as st
>>> opt = st.optimizer("ssam", lr=0.1, rho=0.05)
"""

from . import claims, data, diffusion, linear, theory
from .data import Dataset, neighbour
from .diffusion import NOISE_SETTINGS, SaddleMSD, StepOracle, noise_pattern, saddle_msd
from .expansion import expansiveness, jacobian_expansiveness
from .landscapes import Beale, Landscape, LeastSquares, Logistic, NoisyQuadratic, Quadratic
from .network import DiagonalNetwork, sparse_regression
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
from .symbolic import Symbolic
from .trajectory import DIVERGENCE_NORM, Trajectory, minibatch_indices, run

__version__ = "0.1.0"

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
