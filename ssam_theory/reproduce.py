r"""``ssam-theory reproduce``: run every notebook headless, then write the claims report.

Each notebook of :data:`NOTEBOOKS` (found by :func:`notebook_dir`) is executed
top to bottom in a fresh Jupyter kernel (``nbclient`` + ``ipykernel``), with its directory as
working directory and these environment variables set for the kernel:

* ``MPLBACKEND=Agg`` — headless Matplotlib;
* ``SSAM_THEORY_FIGURES=<out>`` — where :func:`ssam_theory.plotting.save_figure` writes
  ``<notebook>_<panel>.png``;
* ``SSAM_THEORY_QUICK=1`` with ``--quick`` (else ``0``) — each notebook's parameter cell
  (the first code cell, tagged ``parameters``) reads it through
  :func:`ssam_theory.plotting.quick_mode` and shrinks grids and step counts.

While the notebooks run, every claim of the registry (:mod:`ssam_theory.claims`) is checked
(quick or full, like the notebooks) in a pool of worker processes; then ``<out>/claims.md``
(:func:`ssam_theory.claims.report.render_report`: a one-glance table, then per claim its
statement, the formula, a predicted-vs-measured table, the verdict and why, and the figures
that show it, :data:`CLAIM_FIGURES`) and ``<out>/claims.json`` (the same records, bulky
evidence left out: :func:`ssam_theory.claims.report.compact`) are written. Nothing is
written outside ``out``; the README's claims table is refreshed only on request
(``update_readme=``, ``--update-readme``).

An experiment that a notebook and a claim both need (marked with
:func:`ssam_theory._shared.shared`) runs once: the first process to ask computes it, later
ones (waiting if it is still running) load it from a private directory that lives as long as
the run.

Progress: a tqdm bar on a terminal, else one line per finished notebook or claim (stderr).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ._extras import require
from ._shared import SHARE_ENV

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

#: The order in which notebooks and claims start: the most expensive first (CPU seconds of a
#: full run; the claims that compute an experiment a notebook also shows come early, so that
#: the notebook finds it done). Only the order depends on it, never a result; unlisted items
#: start last, in reading order. Results are reported in reading order.
START_FIRST: tuple[str, ...] = (
    "C11c", "C14b", "C19", "C13", "C11b", "C11a", "05_saddles", "C03", "C02", "C14a", "C06",
    "06_linear_models", "04_expansiveness", "07_your_own_analysis", "03_stability",
    "02_renormalization", "01_quickstart",
)

QUICK_TIMEOUT = 300  # seconds per cell in quick mode (generous: CI machines are slow)
FULL_TIMEOUT = 1800  # seconds per cell in full mode


def notebook_dir() -> Path:
    """The directory holding the notebooks that :func:`reproduce` runs.

    An installed copy (``pip install .``, editable or not) carries them as the package data
    ``ssam_theory/notebooks/`` (built from the repository's ``notebooks/`` folder), found with
    :mod:`importlib.resources`, so ``ssam-theory reproduce`` works from any folder. A source
    tree that is only on ``sys.path`` (no install) has no such data: there the repository's
    ``notebooks/`` folder next to the package is used, which is also the folder researchers
    open and edit.

    Raises:
        FileNotFoundError: neither is there (a copy installed without its package data).
    """
    shipped = resources.files("ssam_theory").joinpath("notebooks")
    if isinstance(shipped, Path) and any(shipped.glob("*.ipynb")):
        return shipped
    checkout = Path(__file__).resolve().parents[1] / "notebooks"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"no notebooks in {shipped} nor in {checkout}: reinstall ssam_theory "
        "(pip install .) so that its package data is present")


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

    env = dict(os.environ)  # includes SHARE_ENV, set by reproduce() for the whole run
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


class _Progress:
    """Which notebook or claim runs: a tqdm bar on a terminal, else one line per item."""

    def __init__(self, total: int, enabled: bool | None = None, stream=None):
        self.stream = sys.stderr if stream is None else stream
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = tty if enabled is None else bool(enabled)
        self.total, self.done, self.running = total, 0, []
        self.bar = None
        if self.enabled and tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="reproduce", unit="item", file=self.stream)

    def start(self, name: str) -> None:
        self.running.append(name)
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(self.running))

    def finish(self, name: str, seconds: float, status: str) -> None:
        if name in self.running:
            self.running.remove(name)
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(", ".join(self.running))
            self.bar.update(1)
        elif self.enabled:
            print(f"[{self.done}/{self.total}] {name}: {status} ({seconds:.1f} s)",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _claims_pool(workers: int):
    """A process pool for the claim checks (spawned: no fork of a threaded process)."""
    import concurrent.futures as cf
    import multiprocessing

    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


async def _check_claim(pool, claim_id: str, quick: bool, progress: _Progress):
    from .claims.report import run_one

    loop = asyncio.get_running_loop()
    progress.start(f"claim {claim_id}")
    start = time.perf_counter()
    try:
        if pool is None:
            result, seconds = run_one(claim_id, quick)
        else:
            result, seconds = await loop.run_in_executor(pool, run_one, claim_id, quick)
    except Exception as exc:  # reported with the claim's id, and the command exits non-zero
        progress.finish(f"claim {claim_id}", time.perf_counter() - start, "FAILED")
        return claim_id, None, f"{claim_id}: {type(exc).__name__}: {exc}"
    progress.finish(f"claim {claim_id}", seconds, result.verdict)
    return claim_id, (result, seconds), None


async def _run_all(paths, out, quick, jobs, claim_ids, pool, progress):
    gate = asyncio.Semaphore(jobs)

    async def notebook(p):
        async with gate:
            progress.start(f"notebook {p.stem}")
            run = await _execute(p, out, quick, asyncio.Semaphore(1))
            progress.finish(f"notebook {p.stem}", run.seconds,
                            "ok" if run.error is None else "FAILED")
            return run

    async def claims():
        # the claims run one after another in the pool's workers, concurrently with the
        # notebooks' kernels; with several workers, several claims at a time
        return await asyncio.gather(*(_check_claim(pool, c, quick, progress)
                                      for c in claim_ids))

    runs_and_claims = await asyncio.gather(claims(), *(notebook(p) for p in paths))
    return list(runs_and_claims[1:]), runs_and_claims[0]


def _start_order(names):
    """``names`` sorted by :data:`START_FIRST` (stable: unlisted ones keep their order)."""
    rank = {n: i for i, n in enumerate(START_FIRST)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))


def write_claims_report(out, quick: bool = False, figures=None,
                        runs: list[NotebookRun] | None = None, results=None,
                        seconds: float | None = None) -> tuple[Path, dict[str, str]]:
    """Write ``<out>/claims.md`` and ``<out>/claims.json`` from the claims registry.

    Args:
        out: output directory (the figures are expected there).
        quick: the quick checks (and said so in the report).
        figures: the figure stems present (default: the PNGs in ``out``); a claim embeds
            those of :data:`CLAIM_FIGURES` that exist.
        runs: notebook runs to list at the end.
        results: ``[(claim, result, seconds), …]`` already computed; default: run every
            check now.
        seconds: wall time of the checks (default: measured here).

    Returns:
        ``(path of claims.md, {claim id: verdict})``.
    """
    from .claims import REGISTRY
    from .claims.report import compact, records, render_report, run_one

    out = Path(out)
    present = {p.stem for p in out.glob("*.png")} if figures is None else set(figures)
    if results is None:
        start = time.perf_counter()
        results = [(c, *run_one(c.id, quick)) for c in REGISTRY]
        seconds = time.perf_counter() - start
    recs = records([(c, r) for c, r, _ in results], {c.id: t for c, _, t in results})
    text = render_report(recs, CLAIM_FIGURES, present, quick=quick, seconds=seconds,
                         version=_version(),
                         notebooks=[(r.name, r.seconds, r.error) for r in runs or ()])
    path = out / "claims.md"
    _atomic_write_text(path, text)
    _atomic_write_text(out / "claims.json",
                       json.dumps(compact(recs), indent=1, ensure_ascii=False) + "\n")
    return path, {r["id"]: r["verdict"] for r in recs}


def readme_claims_block(report_text: str, prefix: str = "figures/") -> str:
    """The README's claims block (summary line, verdict meaning, one-glance table) made from
    a ``claims.md`` report, its links prefixed with the report's folder."""
    from .claims.report import readme_block

    return readme_block(report_text, prefix)


def sync_readme(readme, report) -> bool:
    """Replace the README's generated claims block with the one of ``report`` (claims.md).

    Links point from the README's folder to the report's. Returns whether the README had
    the markers (and was rewritten).
    """
    from .claims.report import README_END, README_START

    readme, report = Path(readme), Path(report)
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    folder = os.path.relpath(report.resolve().parent, readme.resolve().parent)
    prefix = "" if folder == "." else folder.replace(os.sep, "/") + "/"
    block = readme_claims_block(report.read_text(encoding="utf-8"), prefix=prefix)
    _atomic_write_text(readme, head + block + tail)
    return True


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _version() -> str:
    from . import __version__

    return __version__


def reproduce(out="figures", quick: bool = False, notebooks=None, jobs: int | None = None,
              source=None, claims: bool = True, update_readme=None,
              claim_workers: int | None = None,
              progress: bool | None = None) -> Reproduction:
    """Execute the notebooks headless and, meanwhile, the claim checks; write the figures,
    ``claims.md`` and ``claims.json`` to ``out``.

    Args:
        out: output directory; PNGs named ``<notebook>_*`` from a previous run are removed first.
        quick: small grids and step counts (``SSAM_THEORY_QUICK=1`` in every kernel).
        notebooks: names (stems) to run, default :data:`NOTEBOOKS`.
        jobs: how many notebooks run at the same time (each in its own kernel); default
            the number of CPUs.
        source: directory holding the ``.ipynb`` files, default :func:`notebook_dir`.
        claims: also run the claim checks and write the report.
        update_readme: path of a README whose generated claims block is refreshed from the
            report (``None``: no file outside ``out`` is touched).
        claim_workers: worker processes for the claim checks, running while the notebooks
            run (default: the number of CPUs; 0: in this process, after the notebooks).
            Notebooks and claims start longest first (:data:`START_FIRST`); one that needs
            an experiment another process is computing waits for it, and the other
            processes keep the CPUs busy meanwhile.
        progress: ``True``/``False``; ``None`` shows progress iff stderr is a terminal.

    Returns:
        A :class:`Reproduction`.
    """
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    claim_workers = (os.cpu_count() or 1) if claim_workers is None else claim_workers
    for name, val, low in (("jobs", jobs, 1), ("claim_workers", claim_workers, 0)):
        if not isinstance(val, int) or isinstance(val, bool) or val < low:
            raise ValueError(f"{name} must be an int >= {low}, got {val!r}")
    require("notebooks", "ssam-theory reproduce")
    names = NOTEBOOKS if notebooks is None else tuple(notebooks)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ValueError(f"notebooks must be among {', '.join(NOTEBOOKS)}; got {unknown}")
    source = notebook_dir() if source is None else Path(source)
    paths = [source / f"{n}.ipynb" for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"notebooks not found: {', '.join(missing)} (reinstall "
                         "ssam_theory with its package data, or pass source=)")
    readme = None if update_readme is None else Path(update_readme)
    if readme is not None and not readme.is_file():
        raise ValueError(f"update_readme: no such file {str(readme)!r}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        for stale in out.glob(f"{name}_*.png"):
            stale.unlink()
    from .claims import REGISTRY

    claim_ids = _start_order([c.id for c in REGISTRY]) if claims else []
    order = {p.stem: i for i, p in enumerate(paths)}  # reading order, for the results
    by_name = {p.stem: p for p in paths}
    paths = [by_name[n] for n in _start_order(list(by_name))]
    bar = _Progress(len(paths) + len(claim_ids), progress)
    start = time.perf_counter()
    # experiments that notebooks and claims both need are computed once (ssam_theory._shared);
    # the kernels and the claim workers inherit the directory through the environment
    share = tempfile.TemporaryDirectory(prefix="ssam-share-")
    previous = os.environ.get(SHARE_ENV)
    os.environ[SHARE_ENV] = share.name
    pool = _claims_pool(claim_workers) if claim_ids and claim_workers > 0 else None
    try:
        if pool is None:
            runs, checked = asyncio.run(_run_all(paths, out, quick, jobs, [], None, bar))
            checked = [asyncio.run(_check_claim(None, c, quick, bar)) for c in claim_ids]
        else:
            runs, checked = asyncio.run(_run_all(paths, out, quick, jobs, claim_ids, pool,
                                                 bar))
    finally:
        if pool is not None:
            pool.shutdown()
        bar.close()
        if previous is None:
            os.environ.pop(SHARE_ENV, None)
        else:
            os.environ[SHARE_ENV] = previous
        share.cleanup()
    claims_seconds = time.perf_counter() - start
    runs = sorted(runs, key=lambda r: order[r.name])  # reading order again
    report, verdicts, claim_error = None, {}, None
    errors = [e for _, _, e in checked if e is not None]
    if errors:
        claim_error = "; ".join(errors)
    elif claim_ids:
        from .claims import by_id

        results = [(by_id(cid), *res) for cid, res, _ in
                   sorted(checked, key=lambda c: REGISTRY.index(by_id(c[0])))]
        try:
            report, verdicts = write_claims_report(
                out, quick=quick, runs=runs, results=results,
                seconds=sum(t for _, _, t in results) if pool is None else claims_seconds)
        except Exception as exc:  # reported, and the command exits non-zero
            claim_error = f"{type(exc).__name__}: {exc}"
    if report is not None and readme is not None:
        sync_readme(readme, report)
    figures = sorted(out.glob("*.png"))
    return Reproduction(out, quick, list(runs), figures, report, time.perf_counter() - start,
                        claim_error, verdicts)
