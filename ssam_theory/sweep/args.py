"""Argument checks of :func:`ssam_theory.sweep`: every input validated (naming the parameter)
before any work, the starts of every seed, the settings that identify a result."""

from __future__ import annotations

import dataclasses
import numbers
import os
import re
from collections.abc import Sequence

import numpy as np

from .. import _validate as v
from ..landscapes import Landscape
from ..rules import Optimizer, optimizer
from . import plan as _plan
from .cache import UnidentifiableError, factory_identity, factory_label, landscape_fingerprint
from .executors import as_executor, check_picklable
from .kernel import ChunkSpec, check_rows_honoured

#: Version tag of the escaped / diverged criterion at a saddle (documented in :func:`sweep`).
ESCAPE_RULE = "downhill, no positive-curvature blow-up (v2)"

OPTION_NAMES = ("truncate", "adaptive", "momentum", "weight_decay", "eps")


def _version() -> str:
    from .. import __version__

    return __version__


def check_args(landscape, name, lr, rho, steps, seeds, w0, executor, cache_dir, progress,
                saddle, grad_tol, patience, trap_radius, escape_radius, divergence_norm,
                batch_size, chunk_size, options):
    if not isinstance(landscape, Landscape):
        raise TypeError(f"landscape must be a Landscape, got {landscape!r}")
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"unknown optimizer option(s) {', '.join(unknown)}; options are "
                        f"{', '.join(OPTION_NAMES)}")
    lr = np.atleast_1d(np.asarray(v.as_real_or_rows("lr", _listify(lr), low=0.0),
                                  dtype=np.float64))
    rho = np.atleast_1d(np.asarray(v.as_real_or_rows("rho", _listify(rho), low=0.0),
                                   dtype=np.float64))
    opt = optimizer(name, lr=float(lr[0]), rho=float(rho[0]), **options)  # checks name/options
    opts = {k: getattr(opt, k) for k in OPTION_NAMES}
    steps = v.as_count("steps", steps)
    seeds = _check_seeds(seeds)
    d = landscape.dim
    if saddle is not None:
        saddle = v.as_finite_array("saddle", saddle, ndim=1)
        if saddle.shape != (d,):
            raise ValueError(f"saddle must have shape ({d},), got shape {saddle.shape}")
    if grad_tol is not None:
        grad_tol = v.as_real("grad_tol", grad_tol, low=0.0)
    patience = v.as_count("patience", patience, low=1)
    trap_radius = v.as_real("trap_radius", trap_radius, low=0.0, low_open=True)
    escape_radius = v.as_real("escape_radius", escape_radius, low=0.0, low_open=True)
    if escape_radius <= trap_radius:
        raise ValueError(f"escape_radius must exceed trap_radius={trap_radius!r}, got "
                         f"{escape_radius!r}")
    divergence_norm = v.as_real("divergence_norm", divergence_norm, low=0.0, low_open=True)
    if batch_size is not None:
        batch_size = v.as_count("batch_size", batch_size, low=1)
        if not hasattr(landscape, "n"):
            raise ValueError(f"batch_size needs a data landscape (LeastSquares, Logistic), "
                             f"got {landscape!r}")
    if chunk_size is not None:
        chunk_size = v.as_count("chunk_size", chunk_size, low=1)
    as_executor(executor)  # TypeError for anything but None, an Executor or a Dask client
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path, got {cache_dir!r}")
    if progress is not None:
        progress = v.as_bool("progress", progress)
    # memory of the grid before anything of its size is allocated (the starts come next)
    n_seed = seeds if isinstance(seeds, int) else seeds.size
    _plan.check_memory((lr.size, rho.size, n_seed), d, 0, None, 1, 1, 0,
                       _plan.available_memory())
    if isinstance(seeds, int):
        seeds = np.arange(seeds, dtype=np.int64)
    w0_table, w0_kind = _starts(w0, seeds, d, saddle, escape_radius)
    spec = ChunkSpec(landscape=landscape, name=name, options=opts, steps=steps,
                     grad_tol=grad_tol, patience=patience, divergence_norm=divergence_norm,
                     saddle=saddle, trap_radius=trap_radius, escape_radius=escape_radius,
                     batch_size=batch_size)
    try:
        fingerprint = landscape_fingerprint(landscape)
    except UnidentifiableError:
        fingerprint = None  # refused only with cache_dir
    settings = {
        "rule": name, "steps": steps, "options": opts, "w0": w0_kind,
        "saddle": None if saddle is None else saddle.tolist(),
        "grad_tol": grad_tol, "patience": patience, "trap_radius": trap_radius,
        "escape_radius": escape_radius, "divergence_norm": divergence_norm,
        "batch_size": batch_size,
        "landscape": {"repr": re.sub(r" at 0x[0-9a-fA-F]+", "", repr(landscape)),
                      "type": type(landscape).__name__, "fingerprint": fingerprint},
        "version": _version(),
    }
    if saddle is not None:  # the escape criterion is part of what a result means (and its key)
        settings["escape_rule"] = ESCAPE_RULE
    return spec, lr, rho, seeds, w0_table, settings, chunk_size


def check_factory(make_optimizer, spec, settings, lr, rho, options, executor, cache_dir):
    """Validate ``make_optimizer``; return the spec and settings using it and its content
    identity (``None`` without ``cache_dir``)."""
    if not callable(make_optimizer):
        raise TypeError(f"make_optimizer must be None or a callable (lr, rho, **options) -> "
                        f"Optimizer, got {make_optimizer!r}")
    # build it as a chunk would (arrays, one value per row), with two distinct rows if any
    lr2, rho2 = np.array([lr[0], lr[-1]]), np.array([rho[0], rho[-1]])
    opt = make_optimizer(lr2, rho2, **options)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"make_optimizer must return an Optimizer, got {opt!r} from "
                        f"{make_optimizer!r}")
    check_rows_honoured(opt, lr2, rho2)
    opts = {k: getattr(opt, k) for k in OPTION_NAMES}
    identity = None
    if cache_dir is not None:
        try:
            identity = factory_identity(make_optimizer)
        except UnidentifiableError as exc:
            raise ValueError(f"cache_dir needs a make_optimizer identifiable by content: "
                             f"{exc}") from None
    if executor is not None:
        check_picklable(make_optimizer, executor)
    label = factory_label(make_optimizer)
    spec = dataclasses.replace(spec, make_optimizer=make_optimizer, options=opts,
                               factory_options=dict(options))
    settings = {**settings, "options": opts, "make_optimizer": label}
    return spec, settings, identity


def _listify(x):
    return list(x) if isinstance(x, (range, tuple)) else x


def _check_seeds(seeds):
    """A count (checked, not expanded: the grid's memory is planned first) or an int64 array."""
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, (bool, np.bool_)):
        return v.as_count("seeds", seeds, low=1, high=_plan.MAX_ROWS)
    if not isinstance(seeds, (Sequence, np.ndarray)) or isinstance(seeds, (str, bytes)):
        raise TypeError(f"seeds must be a count or a sequence of integers, got "
                        f"{v._short(seeds)}")
    if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
        raise ValueError(f"seeds must be a 1-D sequence of integers, got shape {seeds.shape}")
    if len(seeds) == 0:
        raise ValueError(f"seeds must not be empty, got {seeds!r}")
    arr = np.array([v.as_seed(f"seeds[{i}]", s) for i, s in enumerate(seeds)],
                   dtype=np.int64)
    if np.unique(arr).size != arr.size:
        raise ValueError(f"seeds must be distinct, got {v._short(arr.tolist())}")
    return arr


def _starts(w0, seeds, d, saddle, escape_radius):
    """``(n_seed, d)`` starts and a description for the settings."""
    if w0 is None or callable(w0):
        rows = []
        for sd in seeds:
            rng = np.random.default_rng(int(sd))
            if w0 is None:
                z = rng.standard_normal(d)
                x = z if saddle is None else saddle + (0.1 * escape_radius) * z
            else:
                x = v.as_finite_array("w0(rng)", w0(rng), ndim=1)
                if x.shape != (d,):
                    raise ValueError(f"w0(rng) must return shape ({d},), got {x.shape}")
            rows.append(x)
        kind = ("standard normal" + ("" if saddle is None else ", 0.1 escape_radius around saddle")
                if w0 is None else f"callable {getattr(w0, '__qualname__', repr(w0))}")
        return np.array(rows, dtype=np.float64), kind
    x = v.as_finite_array("w0", w0, ndim=1)
    if x.shape != (d,):
        raise ValueError(f"w0 must have shape ({d},), got shape {x.shape}")
    return np.array(np.broadcast_to(x, (seeds.size, d))), "fixed"

