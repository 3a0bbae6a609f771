"""Project hygiene: lint, the README's commands, CI running exactly the README's test command."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert block, "README.md must open with a code block of commands"
    return [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one():
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    reproduce, test = cmds
    assert "reproduce" in reproduce and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), "CI must run the README's test command verbatim"


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed (pip install -e '.[test]')")
    out = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_claims_table_is_the_generated_one():
    """README's claims table: a copy of figures/claims.md made by `reproduce`, never typed."""
    from ssam_theory.reproduce import README_END, README_START, readme_claims_block

    text = (ROOT / "README.md").read_text()
    block = text[text.index(README_START):text.index(README_END) + len(README_END)]
    report = (ROOT / "figures" / "claims.md").read_text()
    assert block == readme_claims_block(report)
    assert "C01" in block and "C17" in block


def test_readme_figures_exist():
    text = (ROOT / "README.md").read_text()
    images = re.findall(r"\]\((figures/[^)]+\.png)\)", text)
    assert len(images) >= 4
    for rel in images:
        assert (ROOT / rel).is_file(), rel


def test_sync_readme_replaces_only_the_marked_block(tmp_path):
    from ssam_theory.claims.report import SUMMARY_END, SUMMARY_START
    from ssam_theory.reproduce import README_END, README_START, sync_readme

    report = tmp_path / "figures" / "claims.md"
    report.parent.mkdir()
    report.write_text(f"# r\n\n{SUMMARY_START}\n**1 claims: 1 hold.**\n\n| id | claim |\n"
                      f"|---|---|\n| C01 | [C01](#c01) |\n{SUMMARY_END}\n\n## C01\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{README_START}\nold\n{README_END}\nbottom\n")
    assert sync_readme(readme, report)
    assert readme.read_text() == (f"top\n{README_START}\n**1 claims: 1 hold.**\n\n"
                                  f"| id | claim |\n|---|---|\n"
                                  f"| C01 | [C01](figures/claims.md#c01) |\n"
                                  f"{README_END}\nbottom\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not sync_readme(plain, report)
