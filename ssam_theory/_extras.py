"""Optional dependencies: one-line errors naming the extra to install.

The core (rules, landscapes, runs, sweeps, formulas, claims) needs only the packages listed
under ``dependencies`` in ``pyproject.toml``. Some features need an extra:

* ``ssam_theory[notebooks]``: ``ssam-theory reproduce`` (nbclient, nbformat, ipykernel) and
  JupyterLab to open the notebooks;
* ``ssam_theory[dask]``: sweeps on a Dask cluster (dask.distributed, cloudpickle).
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRAS", "MissingExtraError", "require"]

#: extra -> the modules its features import
EXTRAS: dict[str, tuple[str, ...]] = {
    "notebooks": ("nbclient", "nbformat", "traitlets", "ipykernel"),
    "dask": ("distributed", "cloudpickle"),
}


class MissingExtraError(ImportError):
    """A feature's optional dependency is not installed; the message names the extra."""


def require(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` can be imported.

    Args:
        extra: a key of :data:`EXTRAS`.
        feature: what needs it, for the message (e.g. ``"ssam-theory reproduce"``).

    Raises:
        MissingExtraError: one line, e.g. ``ssam-theory reproduce needs nbclient (not
            installed): pip install 'ssam_theory[notebooks]'``.
    """
    if extra not in EXTRAS:
        raise ValueError(f"extra must be one of {', '.join(EXTRAS)}, got {extra!r}")
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{feature} needs {', '.join(missing)} (not installed): "
                                f"pip install 'ssam_theory[{extra}]'")
