"""The notebooks: executed headless in quick mode (as `ssam-theory reproduce --quick` does),
kept without outputs, in sync with their py:percent pairs, and free of retyped formulas."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from ssam_theory import plotting
from ssam_theory.reproduce import CLAIM_FIGURES, NOTEBOOKS, notebook_dir, reproduce

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
CLAIM_IDS = [f"C{i:02d}" for i in range(1, 11)] + ["C11a", "C11b", "C11c", "C12", "C12b",
                                                 "C13", "C14a", "C14b", "C15", "C16", "C17",
                                                 "C18", "C19"]
VERDICTS = ("holds", "violated", "inconclusive")


@pytest.fixture(scope="module")
def quick(tmp_path_factory, quick_checks):
    """`reproduce(quick=True)` once: the notebooks run here, two kernels at a time (they are
    independent and the machine has two cores). The claims report is written by the same
    `write_claims_report` that `reproduce` calls, from the session's registry run
    (conftest.py) rather than a second identical run."""
    import dataclasses

    from ssam_theory.reproduce import write_claims_report

    out = tmp_path_factory.mktemp("figures")
    result = reproduce(out=out, quick=True, jobs=2, claims=False)
    report, verdicts = write_claims_report(out, quick=True, runs=result.notebooks,
                                           results=[(c, r, 0.0) for c, r in quick_checks])
    result = dataclasses.replace(result, report=report, verdicts=verdicts,
                                 figures=sorted(out.glob("*.png")))
    return result


def test_every_notebook_executes_without_error(quick):
    result = quick
    assert [r.name for r in result.notebooks] == list(NOTEBOOKS)
    failed = {r.name: r.error for r in result.notebooks if r.error is not None}
    assert not failed, failed
    assert result.claim_error is None, result.claim_error
    assert result.ok


def test_figures_are_written_and_named_after_notebook_and_panel(quick):
    result = quick
    names = [p.stem for p in result.figures]
    assert len(names) >= 12, names
    for name in names:
        assert any(name.startswith(nb + "_") for nb in NOTEBOOKS), name
    for nb in NOTEBOOKS:
        assert any(n.startswith(nb + "_") for n in names), f"{nb} wrote no figure"
    for p in result.figures:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_claim_links_existing_figures(quick):
    result = quick
    present = {p.stem for p in result.figures}
    assert sorted(CLAIM_FIGURES) == CLAIM_IDS
    missing = {c: [f for f in figs if f not in present] for c, figs in CLAIM_FIGURES.items()}
    assert not any(missing.values()), missing


def test_claims_report_has_a_row_and_a_section_per_claim_with_its_figures(quick):
    result = quick
    text = result.report.read_text()
    for cid in CLAIM_IDS:
        rows = [ln for ln in text.splitlines() if ln.startswith(f"| {cid} |")]
        assert len(rows) == 1, cid
        assert rows[0].split(" | ")[3].split()[-1] == result.verdicts[cid], rows[0]
        assert f"(#{cid.lower()})" in rows[0]
        start = text.index(f'<a id="{cid.lower()}"></a>')
        end = text.find('<a id="', start + 1)
        section = text[start:end if end > 0 else len(text)]
        for fig in CLAIM_FIGURES[cid]:
            assert f"]({fig}.png)" in section, (cid, fig)
            assert (result.out / f"{fig}.png").is_file()


def _notebooks():
    return [NB_DIR / f"{name}.ipynb" for name in NOTEBOOKS]


def test_the_notebooks_are_the_ones_reproduce_runs():
    assert notebook_dir() == NB_DIR
    assert sorted(p.name for p in NB_DIR.glob("*.ipynb")) == sorted(
        p.name for p in _notebooks())
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_percent_pair(path):
    pair = path.with_suffix(".py")
    assert pair.exists(), f"{pair.name} missing (jupytext --sync)"
    a = jupytext.read(path)
    b = jupytext.read(pair)
    assert [(c.cell_type, c.source) for c in a.cells] == [
        (c.cell_type, c.source) for c in b.cells], f"{path.name} and {pair.name} differ"
    assert pair.read_text().startswith("# %%"), "pair must be in py:percent format"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_carries_the_python3_kernelspec(path):
    # so Jupyter opens it without asking for a kernel (the .py pair carries no metadata)
    kernel = nbformat.read(path, as_version=4).metadata.get("kernelspec", {})
    assert kernel.get("name") == "python3" and kernel.get("language") == "python", path.name


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_first_code_cell_is_the_tagged_parameter_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), path.name
    assert "QUICK = quick_mode()" in code[0].source


# Formulas and update rules live in the package (ssam_theory.theory, ssam_theory.rules); these
# patterns are the shapes a retyped one would take.
_FORBIDDEN = {
    "import *": r"import\s+\*",
    "a retyped square-root threshold": r"sqrt\(\s*1\s*\+\s*8",
    "a retyped 2/(...) threshold": r"\b2\s*/\s*\(",
    "a retyped cycle amplitude": r"/\s*\(\s*2\s*-",
    "a retyped USAM curvature λ + ρλ²": r"rho\w*\s*\*\s*\w*lam\w*\s*\*\*\s*2",
    "a perturbed-gradient evaluation": r"grad\(\s*\w+\s*\+",
    "a hand-written update w - lr * g": r"\w+\s*-\s*\w*lr\w*\s*\*\s*\w*grad",
    "a renormalization factor γ = ‖g‖/‖g̃‖": r"\bgamma\w*\s*=[^\n]*norm",
    "a numerical function (step/update/bound/rate/edge)":
        r"\bdef\s+\w*(step|update|bound|rate|edge|threshold|gamma)\w*\s*\(",
}


_STRING = re.compile(r'"[^"\n]*"' + r"|'[^'\n]*'")


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: p.stem)
def test_notebook_holds_no_formula_or_update_rule(path):
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    code = _STRING.sub('""', source)  # labels and titles may quote formulas; code may not
    for what, pattern in _FORBIDDEN.items():
        hit = re.search(pattern, code)
        assert hit is None, f"{path.name} holds {what}: {hit.group(0)!r}"
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, re.M)
    # numerical code comes from the package only; the tutorial notebook 07 also derives a
    # threshold of its own formula with sympy (and checks it equals the package's formula)
    allowed = ("numpy", "matplotlib.pyplot", *(("sympy",) if path.stem.startswith("07_")
                                                 else ()))
    assert all(m in allowed or m.split(".")[0] == "ssam_theory" for m in imports), imports
    assert "import ssam_theory as st" in source


def test_the_formula_check_can_fail():
    # the check above must catch a retyped threshold and a retyped update
    for text in ("eta = 2 / (lam + rho * lam**2)", "w = w - lr * grad(w + rho * g)",
                 "from ssam_theory import *", "gamma = np.linalg.norm(g) / norm(gt)"):
        assert any(re.search(p, text) for p in _FORBIDDEN.values()), text


def test_save_figure_names_the_file_after_notebook_and_panel(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = plotting.save_figure(fig, "01_quickstart", "panel", out=tmp_path)
    assert path == tmp_path / "01_quickstart_panel.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="panel"):
        plotting.save_figure(fig, "01_quickstart", "bad/name", out=tmp_path)
    plt.close(fig)


def test_reproduce_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="notebooks"):
        reproduce(out=tmp_path, notebooks=["99_missing"])
    with pytest.raises(ValueError, match="jobs"):
        reproduce(out=tmp_path, jobs=0)


def test_a_missing_extra_is_named_in_one_line(monkeypatch, tmp_path, capsys):
    # reproduce needs the [notebooks] extra; without nbclient the command says which extra to
    # install, in one line, instead of a traceback
    import importlib.util

    from ssam_theory.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "nbclient" else real(name, *a))
    assert main(["reproduce", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nbclient" in err, err
    assert "pip install 'ssam_theory[notebooks]'" in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def _fresh_clone(dest: Path) -> Path:
    """The repository's tracked files (as in the working tree) copied to ``dest``."""
    import shutil
    import subprocess

    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.mark.slow
def test_a_plain_install_ships_the_notebooks(tmp_path):
    """`pip install .` (not editable) of a fresh clone carries the notebooks as package data,
    and `reproduce` finds them there from any folder: the installed copies, byte for byte
    those of notebooks/. (CI goes further: a fresh virtual environment runs
    `ssam-theory reproduce --quick --out figures` from a fresh clone's root; see .ci/run.)"""
    import importlib.metadata
    import os
    import subprocess
    import sys

    clone = _fresh_clone(tmp_path / "clone")
    site = tmp_path / "site"
    # the build needs setuptools >= 68: this environment's copy if it has one (no download),
    # else pip's isolated build environment fetches it
    try:
        own = int(importlib.metadata.version("setuptools").split(".")[0]) >= 68
    except importlib.metadata.PackageNotFoundError:
        own = False
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), *(["--no-build-isolation"] if own else []), str(clone)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = ("import ssam_theory; from ssam_theory.reproduce import notebook_dir; "
             "print(ssam_theory.__file__); print(notebook_dir())")
    package, where = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                                    capture_output=True, text=True, check=True
                                    ).stdout.split()
    assert Path(package).parent == site / "ssam_theory"
    assert Path(where) == site / "ssam_theory" / "notebooks"
    for name in NOTEBOOKS:
        shipped = Path(where) / f"{name}.ipynb"
        assert shipped.read_bytes() == (NB_DIR / f"{name}.ipynb").read_bytes(), name
