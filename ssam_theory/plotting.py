r"""Plotting: one colour-blind-safe style, figure files named after notebook and panel.

Nothing here computes a result; it only draws arrays that the rest of the package returns.

* :data:`PALETTE` is the Okabe–Ito palette (safe for the common colour-vision deficiencies);
  :data:`RULE_STYLE` gives each rule of :data:`ssam_theory.RULES` a fixed colour, marker and
  label, so a rule looks the same in every figure.
* Analytic curves are drawn by :func:`theory_line` (black or rule-coloured dashes, legend
  ``"theory: …"``); measurements by :func:`measured` (markers / solid lines, legend
  ``"measured: …"``).
* :func:`save_figure` writes ``<dir>/<notebook>_<panel>.png`` (150 dpi, tight bounding box) into
  :func:`figure_dir`: ``$SSAM_THEORY_FIGURES`` if set (``ssam-theory reproduce`` sets it),
  else ``./figures``.

References:
    Okabe & Ito, *Color Universal Design* (2008), https://jfly.uni-koeln.de/color/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

__all__ = [
    "FIGURE_DIR_ENV",
    "OUTCOME_STYLE",
    "PALETTE",
    "QUICK_ENV",
    "RULE_STYLE",
    "band",
    "figure_dir",
    "measured",
    "outcome_handles",
    "outcome_map",
    "phase_diagram",
    "quick_mode",
    "rule_label",
    "save_figure",
    "theory_contour",
    "theory_line",
    "use_style",
]

#: Environment variable naming the directory :func:`save_figure` writes into.
FIGURE_DIR_ENV = "SSAM_THEORY_FIGURES"
#: Environment variable that switches notebooks to their quick sizes (``"1"``).
QUICK_ENV = "SSAM_THEORY_QUICK"

#: Okabe–Ito colours by name.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

#: Colour, marker and label of every rule (the same in every figure).
RULE_STYLE = {
    "sgd": {"color": PALETTE["black"], "marker": "o", "label": "SGD"},
    "sam": {"color": PALETTE["orange"], "marker": "s", "label": "SAM"},
    "usam": {"color": PALETTE["vermillion"], "marker": "^", "label": "USAM"},
    "ssam": {"color": PALETTE["blue"], "marker": "D", "label": "SSAM"},
    "nssam": {"color": PALETTE["green"], "marker": "v", "label": "NSSAM"},
}

#: Colour and label of each sweep outcome (by the name of the ``Outcome`` member).
OUTCOME_STYLE = {
    "CONVERGED": (PALETTE["blue"], "converged"),
    "BOUNDED": (PALETTE["sky"], "bounded"),
    "DIVERGED": (PALETTE["vermillion"], "diverged"),
    "TRAPPED": (PALETTE["orange"], "trapped"),
    "ESCAPED": (PALETTE["green"], "escaped"),
}

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "figure.constrained_layout.use": True,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.5,
    "lines.markersize": 4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "cividis",
    "axes.prop_cycle": mpl.cycler(color=[PALETTE[k] for k in (
        "blue", "orange", "green", "vermillion", "purple", "sky", "black", "yellow")]),
}


def use_style() -> None:
    """Apply the package's Matplotlib style (call once at the top of a notebook)."""
    mpl.rcParams.update(_STYLE)


def quick_mode() -> bool:
    """``True`` when ``$SSAM_THEORY_QUICK`` is ``"1"`` (set by ``reproduce --quick``)."""
    return os.environ.get(QUICK_ENV, "0") == "1"


def figure_dir() -> Path:
    """Where :func:`save_figure` writes: ``$SSAM_THEORY_FIGURES``, else ``./figures``."""
    return Path(os.environ.get(FIGURE_DIR_ENV) or "figures")


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def save_figure(fig, notebook: str, panel: str, out=None, close: bool | None = None) -> Path:
    """Write ``fig`` to ``<out>/<notebook>_<panel>.png`` and return the path.

    Args:
        fig: a Matplotlib figure.
        notebook: the notebook's name (e.g. ``"03_stability"``).
        panel: the panel's name within the notebook (e.g. ``"phase_diagrams"``).
        out: directory; default :func:`figure_dir`. Created if missing.
        close: close the figure after saving; default: when the backend is non-interactive
            (headless runs), so that figures do not pile up.
    """
    for name, value in (("notebook", notebook), ("panel", panel)):
        if not isinstance(value, str) or not _NAME.match(value):
            raise ValueError(f"{name} must be a name of letters, digits, '_' or '-', "
                             f"got {value!r}")
    out = figure_dir() if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{notebook}_{panel}.png"
    fig.savefig(path)
    if close is None:
        close = mpl.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo")
    if close:
        plt.close(fig)
    return path


def rule_label(name: str) -> str:
    """Display name of a rule (``"ssam"`` → ``"SSAM"``)."""
    return RULE_STYLE[name]["label"]


def theory_line(ax, x, y, label: str, color: str = PALETTE["black"], **kwargs):
    """An analytic curve: dashed, legend ``"theory: <label>"``."""
    kw = {"linestyle": "--", "linewidth": 1.6, "color": color, "zorder": 4}
    kw.update(kwargs)
    return ax.plot(x, y, label=f"theory: {label}", **kw)


def theory_contour(ax, x, y, values, level: float, label: str, color: str = PALETTE["black"],
                   **kwargs):
    """An analytic boundary ``values == level`` on the grid ``x`` × ``y`` (``values`` of shape
    ``(len(x), len(y))``), dashed, with a legend entry ``"theory: <label>"``."""
    kw = {"linestyles": "--", "linewidths": 1.8, "colors": color, "zorder": 4}
    kw.update(kwargs)
    ax.contour(np.asarray(x), np.asarray(y), np.asarray(values).T, levels=[level], **kw)
    return ax.plot([], [], linestyle="--", color=color, linewidth=kw["linewidths"],
                   label=f"theory: {label}")


def measured(ax, x, y, label: str, rule: str | None = None, line: bool = True, **kwargs):
    """A measured series: rule-coloured markers (and a line), legend ``"measured: <label>"``."""
    kw = {}
    if rule is not None:
        kw.update(color=RULE_STYLE[rule]["color"], marker=RULE_STYLE[rule]["marker"])
    if not line:
        kw["linestyle"] = "none"
    kw.update(kwargs)
    return ax.plot(x, y, label=f"measured: {label}", **kw)


def band(ax, x, values, label: str, rule: str | None = None, color: str | None = None,
         percentiles=(5, 50, 95), **kwargs):
    """Median line and percentile band of ``values`` ``(len(x), runs)`` over its runs.

    NaN entries (rows that stopped, e.g. diverged) are ignored. Legend ``"measured: <label>"``.
    """
    values = np.asarray(values, float)
    if color is None:
        color = RULE_STYLE[rule]["color"] if rule is not None else PALETTE["blue"]
    lo, med, hi = np.nanpercentile(values, percentiles, axis=1)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
    return ax.plot(x, med, color=color, label=f"measured: {label}", **kwargs)


def _edges(centers: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted grid centres (geometric midpoints on a log axis)."""
    c = np.log(centers) if log else np.asarray(centers, dtype=float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
    return np.exp(e) if log else e


def phase_diagram(ax, lr, rho, values, *, log_lr: bool = False, log_rho: bool = False,
                  cmap="cividis", vmin: float = 0.0, vmax: float = 1.0,
                  colorbar: str | None = None):
    """Colour an (η, ρ) grid by ``values`` of shape ``(len(lr), len(rho))``.

    η runs along x, ρ along y; cells are centred on the grid points. Returns the mesh.
    """
    lr, rho = np.asarray(lr, float), np.asarray(rho, float)
    values = np.asarray(values, float)
    if values.shape != (lr.size, rho.size):
        raise ValueError(f"values must have shape ({lr.size}, {rho.size}), got {values.shape}")
    mesh = ax.pcolormesh(_edges(lr, log_lr), _edges(rho, log_rho), values.T, cmap=cmap,
                         vmin=vmin, vmax=vmax, shading="flat", rasterized=True)
    _lr_rho_axes(ax, log_lr, log_rho)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=colorbar)
    return mesh


def _lr_rho_axes(ax, log_lr: bool, log_rho: bool) -> None:
    """Scales and labels of an (η, ρ) grid."""
    if log_lr:
        ax.set_xscale("log")
    if log_rho:
        ax.set_yscale("log")
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_ylabel(r"radius $\rho$")
    ax.grid(False)


def outcome_handles(names) -> list:
    """Legend patches ``"measured: <outcome>"`` for outcome names (keys of OUTCOME_STYLE)."""
    return [Patch(color=OUTCOME_STYLE[n][0], label=f"measured: {OUTCOME_STYLE[n][1]}")
            for n in names]


def outcome_map(ax, lr, rho, codes, outcome_enum, *, log_lr: bool = False,
                log_rho: bool = False, legend: bool = True):
    """Colour an (η, ρ) grid by outcome codes ``(len(lr), len(rho))`` of an ``Outcome`` enum.

    Each member of ``outcome_enum`` gets the colour of :data:`OUTCOME_STYLE`; the legend lists
    the outcomes present.
    """
    members = sorted(outcome_enum, key=int)
    colors = [OUTCOME_STYLE.get(m.name, (PALETTE["grey"], m.name.lower()))[0] for m in members]
    values = [int(m) for m in members]
    bounds = np.concatenate([[values[0] - 0.5], np.asarray(values[:-1]) + 0.5,
                             [values[-1] + 0.5]])
    cmap, norm = ListedColormap(colors), BoundaryNorm(bounds, len(colors))
    codes = np.asarray(codes)
    lr, rho = np.asarray(lr, float), np.asarray(rho, float)
    if codes.shape != (lr.size, rho.size):
        raise ValueError(f"codes must have shape ({lr.size}, {rho.size}), got {codes.shape}")
    mesh = ax.pcolormesh(_edges(lr, log_lr), _edges(rho, log_rho), codes.T, cmap=cmap,
                         norm=norm, shading="flat", rasterized=True)
    _lr_rho_axes(ax, log_lr, log_rho)
    if legend:
        present = set(np.unique(codes).tolist())
        handles = [Patch(color=c, label=OUTCOME_STYLE.get(m.name, (None,
                   m.name.lower()))[1]) for m, c in zip(members, colors) if int(m) in present]
        ax.legend(handles=handles, loc="upper right", fontsize=7)
    return mesh
