r"""``ssam-theory reproduce``: run every notebook headless, then write the claims report.

Each notebook of :data:`NOTEBOOKS` (in the repository's ``notebooks/`` directory) is executed
top to bottom in a fresh Jupyter kernel (``nbclient`` + ``ipykernel``), with its directory as
working directory and these environment variables set for the kernel:

* ``MPLBACKEND=Agg`` — headless Matplotlib;
* ``SSAM_THEORY_FIGURES=<out>`` — where :func:`ssam_theory.plotting.save_figure` writes
  ``<notebook>_<panel>.png``;
* ``SSAM_THEORY_QUICK=1`` with ``--quick`` (else ``0``) — each notebook's parameter cell
  (the first code cell, tagged ``parameters``) reads it through
  :func:`ssam_theory.plotting.quick_mode` and shrinks grids and step counts.

Then every claim of the registry (:mod:`ssam_theory.claims`) is checked (quick or full, like
the notebooks) and ``<out>/claims.md`` is written: the table C01–C17 with predicted, measured,
verdict and links to the figures that show each claim (:data:`CLAIM_FIGURES`).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CLAIM_FIGURES",
    "NOTEBOOKS",
    "NotebookRun",
    "Reproduction",
    "notebook_dir",
    "reproduce",
    "write_claims_report",
]

#: The notebooks, in reading order (file stems in ``notebooks/``; also the figure prefixes).
NOTEBOOKS: tuple[str, ...] = (
    "01_quickstart",
    "02_renormalization",
    "03_stability",
    "04_expansiveness",
    "05_saddles",
    "06_linear_models",
    "07_your_own_analysis",
)

#: The figures (file stems in the output directory) that show each claim.
CLAIM_FIGURES: dict[str, tuple[str, ...]] = {
    "C01": ("03_stability_phase_diagrams", "03_stability_max_lr"),
    "C02": ("03_stability_phase_diagrams", "03_stability_max_lr"),
    "C03": ("03_stability_phase_diagrams", "03_stability_max_lr"),
    "C04": ("03_stability_sam_cycle",),
    "C05": ("03_stability_sam_edge",),
    "C06": ("03_stability_phase_diagrams", "03_stability_loss_curves"),
    "C07": ("02_renormalization_convex", "02_renormalization_nonconvex",
            "02_renormalization_truncation"),
    "C08": ("04_expansiveness_one_step",),
    "C09": ("05_saddles_quadratic_phase",),
    "C10": ("05_saddles_sam_trap", "05_saddles_quadratic_phase"),
    "C11a": ("05_saddles_attraction", "05_saddles_quadratic_phase", "05_saddles_beale_phase"),
    "C11b": ("05_saddles_escape_speed", "05_saddles_beale_paths"),
    "C11c": ("05_saddles_noise_escape",),
    "C12": ("05_saddles_msd", "05_saddles_escape_times"),
    "C12b": ("05_saddles_msd",),
    "C13": ("04_expansiveness_divergence",),
    "C14a": ("06_linear_models_stability",),
    "C14b": ("06_linear_models_risk",),
    "C15": ("06_linear_models_descent",),
    "C16": ("03_stability_loss_curves",),
    "C17": ("03_stability_nssam_flat",),
    "C18": ("06_linear_models_batch_one",),
    "C19": ("07_your_own_analysis_network_escape",),
}

QUICK_TIMEOUT = 300  # seconds per cell in quick mode (generous: CI machines are slow)
FULL_TIMEOUT = 1800  # seconds per cell in full mode


def notebook_dir() -> Path:
    """The repository's ``notebooks/`` directory (next to the package in a source checkout)."""
    return Path(__file__).resolve().parents[1] / "notebooks"


@dataclass(frozen=True)
class NotebookRun:
    """One notebook's execution: name, wall-clock seconds, error text (``None`` if it ran)."""

    name: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce` did: the runs, the figures written and the report's path."""

    out: Path
    quick: bool
    notebooks: list[NotebookRun]
    figures: list[Path]
    report: Path | None
    seconds: float
    claim_error: str | None = None
    verdicts: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every notebook ran and the report was written."""
        return self.report is not None and all(r.error is None for r in self.notebooks)


def _kernel_env(out: Path, quick: bool) -> dict[str, str]:
    from .plotting import FIGURE_DIR_ENV, QUICK_ENV

    env = dict(os.environ)
    env.update({"MPLBACKEND": "Agg", FIGURE_DIR_ENV: str(out), QUICK_ENV: "1" if quick else "0",
                "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    return env


async def _execute(path: Path, out: Path, quick: bool, gate: asyncio.Semaphore) -> NotebookRun:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from traitlets.config import Config

    async with gate:
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        error = None
        # the kernel talks over local IPC sockets in a private temporary directory (no TCP port)
        with tempfile.TemporaryDirectory(prefix="ssam-kernel-") as sockets:
            ipc = Config({"KernelManager": {"transport": "ipc",
                                            "ip": str(Path(sockets) / "kernel")}})
            client = NotebookClient(nb, timeout=QUICK_TIMEOUT if quick else FULL_TIMEOUT,
                                    kernel_name="python3", allow_errors=False, config=ipc,
                                    resources={"metadata": {"path": str(path.parent)}})
            try:
                await client.async_execute(env=_kernel_env(out, quick), cwd=str(path.parent))
            except (CellExecutionError, CellTimeoutError) as exc:
                error = str(exc)
            except Exception as exc:  # a kernel that dies is reported, not raised
                error = f"{type(exc).__name__}: {exc}"
        return NotebookRun(path.stem, time.perf_counter() - start, error)


async def _execute_all(paths, out, quick, jobs):
    gate = asyncio.Semaphore(jobs)
    return await asyncio.gather(*(_execute(p, out, quick, gate) for p in paths))


def _cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def write_claims_report(out, quick: bool = False, figures=None,
                        runs: list[NotebookRun] | None = None) -> tuple[Path, dict[str, str]]:
    """Check every registered claim and write ``<out>/claims.md``.

    Args:
        out: output directory (the figures are expected there).
        quick: run the quick checks.
        figures: the figure stems present (default: the PNGs in ``out``); a claim links to
            those of :data:`CLAIM_FIGURES` that exist.
        runs: notebook runs to list under the table.

    Returns:
        ``(path, {claim id: verdict})``.
    """
    from .claims import run_checks

    out = Path(out)
    present = {p.stem for p in out.glob("*.png")} if figures is None else set(figures)
    start = time.perf_counter()
    results = run_checks(None, quick=quick)
    seconds = time.perf_counter() - start
    lines = [
        "# Claims report",
        "",
        f"Generated by `ssam-theory reproduce{' --quick' if quick else ''}` with ssam_theory "
        f"{_version()}: every verdict below was computed by the package's checks "
        f"({'quick' if quick else 'full'} mode, {seconds:.0f} s), never written by hand. "
        "`holds`: the measurement agrees with the prediction on both sides of every "
        "threshold; `violated`: the numbers contradict it (the counterexample is in the "
        "measured column); `inconclusive`: the check could not decide.",
        "",
        "| id | claim | source | predicted | measured | verdict | figures |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = {}
    for claim, result in results:
        links = [f"[{name}]({name}.png)" for name in CLAIM_FIGURES.get(claim.id, ())
                 if name in present]
        verdicts[claim.id] = str(result.verdict)
        lines.append(
            f"| {claim.id} | {_cell(claim.title)} | {_cell(claim.source)} | "
            f"{_cell(result.predicted)} | {_cell(result.measured)} | "
            f"**{_cell(result.verdict)}** | {'<br>'.join(links) or '—'} |"
        )
    counts = {v: list(verdicts.values()).count(v) for v in ("holds", "violated", "inconclusive")}
    lines += ["", "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
    if runs:
        lines += ["", "## Notebooks", "", "| notebook | seconds | status |", "|---|---|---|"]
        for r in runs:
            status = "ran" if r.error is None else "FAILED: " + _cell(r.error.splitlines()[-1]
                                                                     if r.error else "")
            lines.append(f"| `notebooks/{r.name}.ipynb` | {r.seconds:.1f} | {status} |")
    path = out / "claims.md"
    _atomic_write_text(path, "\n".join(lines) + "\n")
    return path, verdicts


README_START = "<!-- claims-table:start (generated by ssam-theory reproduce; do not edit) -->"
README_END = "<!-- claims-table:end -->"


def readme_claims_block(report_text: str, prefix: str = "figures/") -> str:
    """The claims table of a ``claims.md`` report, figure links prefixed for the README."""
    lines = report_text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| id |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")),
               len(lines))
    table = "\n".join(lines[start:end])
    table = re.sub(r"\]\(([^)/]+\.png)\)", lambda m: f"]({prefix}{m.group(1)})", table)
    verdicts = next((ln for ln in lines[end:] if ln.startswith("Verdicts:")), "")
    return "\n".join([README_START, table, "", verdicts, README_END])


def sync_readme(readme, report) -> bool:
    """Replace the README's generated claims table with the one of ``report`` (claims.md).

    Returns whether the README had the markers (and was rewritten).
    """
    readme, report = Path(readme), Path(report)
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    block = readme_claims_block(report.read_text(encoding="utf-8"),
                                prefix=f"{report.parent.name}/")
    _atomic_write_text(readme, head + block + tail)
    return True


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _version() -> str:
    from . import __version__

    return __version__


def reproduce(out="figures", quick: bool = False, notebooks=None, jobs: int = 1,
              source=None, claims: bool = True) -> Reproduction:
    """Execute the notebooks headless and write their figures and the claims report to ``out``.

    Args:
        out: output directory; PNGs named ``<notebook>_*`` from a previous run are removed first.
        quick: small grids and step counts (``SSAM_THEORY_QUICK=1`` in every kernel).
        notebooks: names (stems) to run, default :data:`NOTEBOOKS`.
        jobs: how many notebooks run at the same time (each in its own kernel).
        source: directory holding the ``.ipynb`` files, default :func:`notebook_dir`.
        claims: also run the claim checks and write ``claims.md``.

    Returns:
        A :class:`Reproduction`.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    names = NOTEBOOKS if notebooks is None else tuple(notebooks)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ValueError(f"notebooks must be among {', '.join(NOTEBOOKS)}; got {unknown}")
    source = notebook_dir() if source is None else Path(source)
    paths = [source / f"{n}.ipynb" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"notebooks not found: {', '.join(missing)} (run from a source "
                         "checkout of ssam_theory, or pass source=)")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        for stale in out.glob(f"{name}_*.png"):
            stale.unlink()
    start = time.perf_counter()
    runs = asyncio.run(_execute_all(paths, out, quick, jobs))
    report, verdicts, claim_error = None, {}, None
    if claims:
        try:
            report, verdicts = write_claims_report(out, quick=quick, runs=runs)
        except Exception as exc:  # reported, and the command exits non-zero
            claim_error = f"{type(exc).__name__}: {exc}"
    readme = out.parent / "README.md"
    if report is not None and not quick and out.name == "figures" and readme.is_file():
        sync_readme(readme, report)  # the full reproduction of a checkout refreshes its README
    figures = sorted(out.glob("*.png"))
    return Reproduction(out, quick, list(runs), figures, report, time.perf_counter() - start,
                        claim_error, verdicts)
