r"""Gradient noise at a saddle: which gradient of a step sees the minibatch (claim C12).

On :class:`~ssam_theory.landscapes.NoisyQuadratic`,
:math:`f_i(w) = \tfrac12 w^\top H w + \xi_i^\top w`, one step of a SAM-family rule calls
its gradient oracle twice, in this order (:meth:`ssam_theory.Optimizer.step`):

1. :math:`g = \nabla f(w)`, from which the perturbation :math:`e` is built
   (:math:`e = \rho g` for USAM);
2. :math:`\tilde g = \nabla f(w + e)`, the descent direction: :math:`w \leftarrow w - \eta\tilde g`.

SGD calls it once (:math:`g`, the descent direction). Two noise settings
(:data:`NOISE_SETTINGS`), with :math:`\bar\xi_k` the mean tilt of step :math:`k`'s minibatch
and :math:`y = v^\top w` the coordinate along an eigenvector of curvature :math:`-|\lambda|`:

``"same_minibatch"`` (what :func:`ssam_theory.run` does)
    both calls see the minibatch: :math:`g = Hw + \bar\xi_k`,
    :math:`\tilde g = H(w + \rho g) + \bar\xi_k`, so USAM follows
    :math:`y_{k+1} = m\,y_k - \eta(1 - \rho|\lambda|)\,\bar\xi_{k,y}`,
    :math:`m = 1 + \eta|\lambda|(1 - \rho|\lambda|)`
    (:data:`ssam_theory.theory.usam_saddle_msd`).
``"kim"`` (Kim et al.'s diffusion model, as reconstructed here)
    the perturbation is built from the full gradient, :math:`g = Hw`, and the descent
    gradient carries the minibatch noise, :math:`\tilde g = H(w + \rho g) + \bar\xi_k`:
    :math:`y_{k+1} = m\,y_k - \eta\,\bar\xi_{k,y}`.
    SAM's noise is then SGD's noise (the same :math:`\bar\xi_k` as SGD's step, so the same
    law) and only the drift differs (:data:`ssam_theory.theory.usam_saddle_msd_kim`).

Kim et al.'s noise model is an assumption as reconstructed: their Thm 2 (SAM with the
unnormalized perturbation :math:`w + \rho\nabla\ell(w)`, minibatch size B, a diffusion
model of SAM) states the gap :math:`2\eta t^2|\lambda|^3\rho/B`; the exact noise model was
not confirmed from the paper's text. "SAM's noise has SGD's law, covariance
:math:`|H|/B`" (the Hessian-proportional covariance of Xie et al.'s diffusion theory, i.e.
per-step variance :math:`s = 2|\lambda|/B` along :math:`v`) reproduces the formula exactly:
to leading order the gap is :math:`\eta s\rho\lambda^2 t^2` (tests/test_theory.py).

SGD's single call sees the minibatch in both settings. :class:`StepOracle` is the gradient
oracle of one step that realises a setting, and :func:`saddle_msd` measures the
mean-square displacement (MSD) of SGD and a SAM-family rule from the saddle, run in lockstep
on shared minibatches (common random numbers), with the gap's standard error.

References:
    Kim, Park, Choi & Lee, Stability Analysis of Sharpness-Aware Minimization,
    arXiv:2301.06308 (Thm 2: SAM's MSD along −|λ| trails SGD's by 2ηt²|λ|³ρ/B).
    Xie, Sato & Sugiyama, A Diffusion Theory for Deep Learning Dynamics, arXiv:2002.03495
    (gradient-noise covariance ≈ H/B near critical points).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validate as v
from .escape import _minibatch_mean
from .landscapes import Landscape, NoisyQuadratic
from .rules import Optimizer

__all__ = ["NOISE_SETTINGS", "SaddleMSD", "StepOracle", "noise_pattern", "saddle_msd",
           "saddle_msd_settings"]

#: The noise settings of :func:`noise_pattern` and :func:`saddle_msd`.
NOISE_SETTINGS: tuple[str, ...] = ("same_minibatch", "kim")


class StepOracle:
    """The gradient oracle of ONE optimizer step; call ``j`` sees noise iff ``noisy[j]``.

    Call ``j`` (0-based, in the order the step makes them) returns the minibatch gradient
    ``landscape.grad(W, idx)`` if ``noisy[j]`` else the full gradient ``landscape.grad(W)``.
    A SAM-family step calls twice (``g`` at ``w``, then ``g̃`` at ``w + e``), SGD once; a
    call beyond ``len(noisy)`` raises ``RuntimeError`` (one oracle serves one step).

    Args:
        landscape: a data landscape (with ``n`` examples and ``grad(W, idx)``), e.g.
            :class:`~ssam_theory.landscapes.NoisyQuadratic`.
        idx: minibatch indices of this step, ``(b,)`` or ``(B, b)`` (one row per iterate).
        noisy: non-empty sequence of bools, one per call.

    Attributes:
        calls: the number of calls made so far.
        noisy: ``noisy`` as a tuple of bools.

    Example:
        >>> import numpy as np, ssam_theory as st
        >>> f = st.NoisyQuadratic(np.diag([1.0, -1.0]), n=8, sigma=1.0, seed=0)
        >>> oracle = st.StepOracle(f, np.array([0, 3]), noisy=(False, True))  # Kim's setting
        >>> w, _ = st.optimizer("usam", lr=0.1, rho=0.1).step(np.zeros(2), None, oracle)
        >>> oracle.calls
        2
    """

    def __init__(self, landscape: Landscape, idx, noisy):
        if not isinstance(landscape, Landscape) or not hasattr(landscape, "n"):
            raise TypeError(f"landscape must be a data landscape (NoisyQuadratic, LeastSquares, "
                            f"Logistic), got {landscape!r}")
        if isinstance(noisy, (str, bytes)) or not hasattr(noisy, "__iter__"):
            raise TypeError(f"noisy must be a sequence of bools, got {noisy!r}")
        flags = tuple(noisy)
        if not flags or not all(isinstance(x, (bool, np.bool_)) for x in flags):
            raise ValueError(f"noisy must be a non-empty sequence of bools, got {noisy!r}")
        self.landscape = landscape
        self.idx = idx
        self.noisy = tuple(bool(x) for x in flags)
        self.calls = 0

    def __call__(self, W) -> np.ndarray:
        if self.calls >= len(self.noisy):
            raise RuntimeError(f"StepOracle: call {self.calls + 1} of one step, but noisy "
                               f"covers {len(self.noisy)} call(s); use one oracle per step")
        noisy = self.noisy[self.calls]
        self.calls += 1
        return self.landscape.grad(W, self.idx) if noisy else self.landscape.grad(W)

    def __repr__(self):
        return f"StepOracle(noisy={self.noisy}, calls={self.calls})"


def noise_pattern(opt: Optimizer, setting: str) -> tuple[bool, ...]:
    """Which gradient calls of one step of ``opt`` see the minibatch, in ``setting``.

    ``sgd``: ``(True,)`` in every setting. Other rules: ``(True, True)`` for
    ``"same_minibatch"`` (the package's rules), ``(False, True)`` for ``"kim"``
    (perturbation from the full gradient, descent gradient with SGD's minibatch noise).
    """
    if not isinstance(opt, Optimizer):
        raise TypeError(f"opt must be an Optimizer from ssam_theory.optimizer, got {opt!r}")
    if setting not in NOISE_SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(NOISE_SETTINGS)}; got {setting!r}")
    if opt.name == "sgd":
        return (True,)
    return (True, True) if setting == "same_minibatch" else (False, True)


class SaddleMSD(NamedTuple):
    """Mean-square displacements along ``v`` from :func:`saddle_msd`, for steps k = 0..K.

    ``msd_sgd``, ``msd_sam``: :math:`\\frac1R\\sum_r y_{k,r}^2`, shape ``(K + 1,)``;
    ``gap``: the mean of :math:`y_{\\mathrm{sgd}}^2 - y_{\\mathrm{sam}}^2` over the R rows and
    ``gap_se`` its standard error (sample std with ddof=1 over √R), shape ``(K + 1,)``;
    ``final_sgd``, ``final_sam``: the iterates after K steps, ``(R, d)``; ``seeds``: R;
    ``setting``: the noise setting.
    """

    msd_sgd: np.ndarray
    msd_sam: np.ndarray
    gap: np.ndarray
    gap_se: np.ndarray
    final_sgd: np.ndarray
    final_sam: np.ndarray
    seeds: int
    setting: str


def saddle_msd(sgd: Optimizer, sam: Optimizer, landscape: NoisyQuadratic, indices, *,
               setting: str = "same_minibatch", direction=None) -> SaddleMSD:
    r"""MSD of SGD and a SAM-family rule from the saddle :math:`w_0 = 0`, in a noise setting.

    Both rules start at the saddle of :math:`f = \tfrac12 w^\top H w` and take K steps in
    lockstep; at step k both use the minibatch ``indices[k]`` (common random numbers: row r of
    SGD and of the other rule see the same tilts), each through a :class:`StepOracle` with
    :func:`noise_pattern` ``(opt, setting)``. After every step the displacement
    :math:`y = v^\top w` is squared and averaged over the R rows. With
    ``setting="same_minibatch"`` the iterates are those of :func:`ssam_theory.run` with the
    same ``indices``, bit for bit. Rows are not frozen: pick steps small enough that no
    row diverges (a diverging row makes the averages non-finite, without a warning).

    Args:
        sgd: the reference rule (normally ``st.optimizer("sgd", ...)``); float or ``(R,)``
            ``lr``.
        sam: the other rule (normally ``st.optimizer("usam", ...)``).
        landscape: a :class:`~ssam_theory.landscapes.NoisyQuadratic`.
        indices: integer minibatch indices ``(K, R, b)`` in ``[0, n)``, e.g. from
            :func:`ssam_theory.minibatch_indices` with ``rows=R``; R ≥ 2.
        setting: one of :data:`NOISE_SETTINGS`.
        direction: unit vector :math:`v`, ``(d,)``; default the eigenvector of the smallest
            eigenvalue of :math:`H` (the escape direction of a saddle).

    Returns:
        A :class:`SaddleMSD`; entry k of each curve is after k steps (time
        :math:`t = k\eta`).

    Raises:
        RuntimeError: a rule called its gradient more often than :func:`noise_pattern` says.

    References:
        Kim, Park, Choi & Lee, arXiv:2301.06308, Thm 2.
    """
    if setting not in NOISE_SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(NOISE_SETTINGS)}; got {setting!r}")
    return saddle_msd_settings(sgd, sam, landscape, indices, settings=(setting,),
                               direction=direction)[setting]


def saddle_msd_settings(sgd: Optimizer, sam: Optimizer, landscape: NoisyQuadratic, indices, *,
                        settings=NOISE_SETTINGS, direction=None) -> dict[str, SaddleMSD]:
    r""":func:`saddle_msd` in several noise settings at once: ``{setting: SaddleMSD}``.

    SGD, whose step is the same in every setting, runs once (another reference rule once per
    noise pattern); the other rule runs once per setting; all of them in lockstep on the
    same minibatches, whose mean tilt :math:`\bar\xi_k` is computed once per step (the
    minibatch gradient of a :class:`~ssam_theory.landscapes.NoisyQuadratic` is
    :math:`Hw + \bar\xi_k`). Every entry equals ``saddle_msd(..., setting=setting)`` bit for bit.

    Args:
        settings: a non-empty sequence of distinct :data:`NOISE_SETTINGS`.
        sgd, sam, landscape, indices, direction: as for :func:`saddle_msd`.
    """
    for name, opt in (("sgd", sgd), ("sam", sam)):
        if not isinstance(opt, Optimizer):
            raise TypeError(f"{name} must be an Optimizer from ssam_theory.optimizer, "
                            f"got {opt!r}")
    if not isinstance(landscape, NoisyQuadratic):
        raise TypeError(f"landscape must be a NoisyQuadratic, got {landscape!r}")
    if isinstance(settings, str) or not hasattr(settings, "__iter__"):
        raise TypeError(f"settings must be a sequence of noise settings, got {settings!r}")
    settings = tuple(settings)
    if (not settings or len(set(settings)) != len(settings)
            or any(x not in NOISE_SETTINGS for x in settings)):
        raise ValueError(f"settings must be distinct entries of {', '.join(NOISE_SETTINGS)}; "
                         f"got {settings!r}")
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if idx.ndim != 3 or idx.shape[1] < 2 or idx.shape[2] < 1:
        raise ValueError(f"indices must have shape (K, R, b) with R >= 2, got {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= landscape.n):
        raise ValueError(f"indices must lie in [0, {landscape.n}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    d = landscape.dim
    if direction is None:
        vec = np.linalg.eigh(landscape.H)[1][:, 0]
    else:
        vec = v.as_finite_array("direction", direction, ndim=1)
        if vec.shape != (d,) or not np.isclose(np.linalg.norm(vec), 1.0, rtol=1e-12, atol=0):
            raise ValueError(f"direction must be a unit vector of shape ({d},), got {direction!r}")
    steps, R = idx.shape[0], idx.shape[1]
    # the runs: the reference once per distinct noise pattern (SGD: once), the other rule
    # once per setting
    ref = {s: ("sgd", noise_pattern(sgd, s)) for s in settings}
    other = {s: ("sam", s) for s in settings}
    runs = {}
    for s in settings:
        runs[ref[s]] = (sgd, ref[s][1])
        runs[other[s]] = (sam, noise_pattern(sam, s))
    W = {key: np.zeros((R, d)) for key in runs}
    state = {key: opt.init(W[key]) for key, (opt, _) in runs.items()}
    msd = {key: np.zeros(steps + 1) for key in runs}
    gap = {s: np.zeros(steps + 1) for s in settings}
    gap_se = {s: np.zeros(steps + 1) for s in settings}
    for k in range(steps):
        tilt = _minibatch_mean(landscape.xi, idx[k])  # ξ̄_k of every row, once per step
        y2 = {}
        for key, (opt, pattern) in runs.items():
            oracle = _TiltOracle(landscape, tilt, pattern)
            W[key], state[key] = opt.step(W[key], state[key], oracle)
            if oracle.calls != len(pattern):
                raise RuntimeError(f"{key[0]} rule {opt.name!r} called its gradient "
                                   f"{oracle.calls} time(s) in one step, expected "
                                   f"{len(pattern)}")
            with np.errstate(over="ignore", invalid="ignore"):
                y2[key] = np.einsum("bi,i->b", W[key], vec) ** 2
            msd[key][k + 1] = y2[key].mean()
        for s in settings:
            with np.errstate(over="ignore", invalid="ignore"):
                diff = y2[ref[s]] - y2[other[s]]
                gap[s][k + 1] = diff.mean()
                gap_se[s][k + 1] = diff.std(ddof=1) / np.sqrt(R)
    return {s: SaddleMSD(msd[ref[s]].copy(), msd[other[s]], gap[s], gap_se[s],
                         W[ref[s]].copy(), W[other[s]], R, s) for s in settings}


class _TiltOracle:
    """:class:`StepOracle` with the step's mean tilt :math:`\\bar\\xi_k` given: a noisy call
    returns ``landscape.grad(W) + tilt``, the bits of ``landscape.grad(W, idx)`` (the
    :class:`~ssam_theory.landscapes.NoisyQuadratic` gradient :math:`Hw + \\bar\\xi_I`)."""

    def __init__(self, landscape, tilt, noisy):
        self.landscape, self.tilt, self.noisy, self.calls = landscape, tilt, noisy, 0

    def __call__(self, W):
        if self.calls >= len(self.noisy):
            raise RuntimeError(f"StepOracle: call {self.calls + 1} of one step, but noisy "
                               f"covers {len(self.noisy)} call(s); use one oracle per step")
        noisy = self.noisy[self.calls]
        self.calls += 1
        g = self.landscape.grad(W)
        return g + self.tilt if noisy else g
