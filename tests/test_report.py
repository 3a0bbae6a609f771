"""The claims report: the README table, figures/claims.md, the terminal table and check's JSON,
all rendered from one set of records; plus the per-claim settings of the threshold claims."""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from ssam_theory.claims import REGISTRY, Result, Row, by_id, run_checks
from ssam_theory.claims.report import (
    README_END,
    README_START,
    SUMMARY_END,
    SUMMARY_START,
    formulas_for,
    readme_block,
    records,
    render_report,
    summary_line,
    summary_table,
    terminal_table,
)
from ssam_theory.cli import main
from ssam_theory.reproduce import (
    CLAIM_FIGURES,
    readme_claims_block,
    sync_readme,
    write_claims_report,
)

ROOT = Path(__file__).resolve().parents[1]
MAX_ROW = 300  # characters of one README table row, markup included


def _text(row: str) -> str:
    """The visible text of a Markdown table row (link targets dropped)."""
    return re.sub(r"\]\([^)]*\)", "]", row)


# ------------------------------------------------------------------ made-up records

def _fake(claim_id, verdict, rows=(), key="k", evidence=None):
    claim = by_id(claim_id)
    ev = dict(evidence or {"x": 1})
    if verdict == "violated":
        ev.setdefault("counterexample", {"lr": 0.3, "diverged": False})
    if verdict == "inconclusive":
        ev.setdefault("reason", "the premise is absent here")
    return claim, Result("pred " + claim_id, "meas " + claim_id, verdict, ev, key=key,
                         rows=rows)


@pytest.fixture
def fake_records():
    rows = (Row("ρ = 0.1", "η* = 0.1", "8/8", True), Row("ρ = 0.4", "η* = 0.04", "7/8", False))
    results = [_fake("C01", "holds", rows[:1], key="2/λ = 0.2: 16/16"),
               _fake("C02", "violated", rows, key="x" * 200),
               _fake("C03", "inconclusive")]
    return records(results, {"C01": 0.5, "C02": 1.25})


def test_summary_line_counts_each_verdict(fake_records):
    assert summary_line(fake_records) == "3 claims: 1 hold, 1 violated, 1 inconclusive"


def test_summary_table_rows_are_short_and_link_to_sections(fake_records):
    table = summary_table(fake_records, "figures/claims.md").splitlines()
    assert table[0] == "| id | claim | source | verdict | key number | details |"
    for line, rec in zip(table[2:], fake_records):
        assert len(line) <= MAX_ROW, line  # a 200-character key is cut to 80
        assert f"(figures/claims.md#{rec['id'].lower()})" in line
    assert "x" * 80 not in table[3] and "…" in table[3]


def test_report_sections_tables_counterexample_reason_and_figures(fake_records):
    figs = {"C01": ("a", "b"), "C02": ("c",), "C03": ()}
    text = render_report(fake_records, figs, present={"a", "c"}, quick=True, seconds=3.0,
                         version="0", notebooks=[("01_x", 2.0, None), ("02_y", 1.0, "E\nBoom")])
    for rec in fake_records:
        assert f'<a id="{rec["id"].lower()}"></a>' in text
        assert f"`ssam-theory check --only {rec['id']}`" in text
        assert f"`{rec['check']}`" in text
    c01 = text[text.index("## C01"):text.index("## C02")]
    assert "![a](a.png)" in c01 and "b.png" not in c01  # only figures that exist
    assert "| ρ = 0.1 | η* = 0.1 | 8/8 | ✓ |" in c01
    assert "`ssam_theory.theory.gd_max_lr(lam)` $= \\frac{2}{\\lambda}$" in c01
    c02 = text[text.index("## C02"):text.index("## C03")]
    assert "**Counterexample.**" in c02 and '"lr": 0.3' in c02 and "| 7/8 | ✗ |" in c02
    c03 = text[text.index("## C03"):text.index("## Notebooks")]
    # no rows: predicted and measured shown as one row; the reason says why
    assert "| pred C03 | meas C03 | — |" in c03 and "the premise is absent here" in c03
    assert "FAILED: Boom" in text


def test_readme_block_is_the_report_summary_with_links_to_the_report(fake_records):
    text = render_report(fake_records, {}, version="0")
    block = readme_block(text, "figures/")
    assert block.startswith(README_START) and block.endswith(README_END)
    assert summary_line(fake_records) in block and "**holds**" in block
    assert "(figures/claims.md#c01)" in block and "(#c01)" not in block
    assert SUMMARY_START not in block and SUMMARY_END not in block


def test_terminal_table_one_line_per_claim(fake_records):
    lines = terminal_table(fake_records, width=100).splitlines()
    assert len(lines) == len(fake_records) + 1
    assert lines[0].startswith("C01   holds") and lines[0].endswith("0.5 s")
    assert all(len(ln) <= 100 for ln in lines)
    assert lines[-1] == summary_line(fake_records)


def test_every_claim_names_formulas_that_exist():
    from ssam_theory import theory

    for c in REGISTRY:
        for name in formulas_for(c.id):
            assert name in theory.FORMULAS
    assert "stability_root" in formulas_for("C05") and "sam_edge" in formulas_for("C05")
    assert set(formulas_for("C11")) <= set(formulas_for("C11a"))  # sub-claims inherit C11's


# ------------------------------------------------------------------ real checks

def test_check_json_has_structured_rows_and_documented_fields(capsys):
    assert main(["check", "--quick", "--json", "--only", "C05,C08"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in recs] == ["C05", "C08"]
    for r in recs:
        assert set(r) >= {"id", "title", "source", "tag", "statement", "setting", "verdict",
                          "key", "predicted", "measured", "rows", "evidence", "check",
                          "formulas", "seconds"}
        assert r["rows"] and all(set(row) == {"setting", "predicted", "measured", "passes"}
                                 for row in r["rows"])
        assert 0 < len(r["key"]) <= 80 and r["seconds"] >= 0
        assert r["check"].startswith("ssam_theory.claims.")
    with contextlib.redirect_stdout(io.StringIO()) as buf, pytest.raises(SystemExit):
        main(["check", "--help"])
    for field in ("rows", "passes", "key", "check", "formulas", "counterexample"):
        assert field in buf.getvalue()


def test_check_prints_a_compact_table(capsys):
    assert main(["check", "--quick", "--only", "C05"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("C05   holds") and out[0].rstrip().endswith(" s")
    assert out[1] == "1 claims: 1 hold, 0 violated, 0 inconclusive"


@pytest.mark.parametrize("cid", ["C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08",
                                 "C15", "C16", "C17"])
def test_owned_claims_give_key_and_rows(cid):
    check = by_id(cid).check
    if cid in ("C02", "C06", "C17"):  # the slowest: a smaller setting keeps this test fast
        settings = _small_settings(cid)
        result = check(quick=True, settings=settings)
    else:
        result = check(quick=True)
    assert result.verdict == "holds", result.measured
    assert 0 < len(result.key) <= 80
    assert 1 <= len(result.rows) <= 12
    assert all(r.passes is not False for r in result.rows)


def _small_settings(cid):
    from ssam_theory.claims.quadratic import C02Settings, C06Settings
    from ssam_theory.claims.stability import C17Settings

    return {"C02": C02Settings(2, kappas=(10.0,), per_kappa=1),
            "C06": C06Settings(6, kappas=(10.0,), per_kappa=1),
            "C17": C17Settings(lrs=(0.19,), rhos=(1.0,))}[cid]


def test_settings_are_frozen_with_quick_full_and_spawned_seeds():
    from dataclasses import FrozenInstanceError

    from ssam_theory.claims.quadratic import C01Settings

    q, f = C01Settings.quick(), C01Settings.full()
    assert q.n_starts < f.n_starts and max(q.kappas) < max(f.kappas)
    with pytest.raises(FrozenInstanceError):
        q.root = 3
    a, b = q.instances(), q.instances()  # reproducible
    assert all((x.lam == y.lam).all() and (x.starts == y.starts).all() for x, y in zip(a, b))
    assert len({tuple(x.lam) for x in a}) == len(a)  # independent spectra


def test_write_claims_report_writes_only_into_out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "03_stability_sam_edge.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    results = [(c, r, 0.1) for c, r in run_checks(["C05"], quick=True)]
    before = set(tmp_path.rglob("*"))
    path, verdicts = write_claims_report(out, quick=True, results=results, seconds=0.1)
    new = set(tmp_path.rglob("*")) - before
    assert new == {out / "claims.md", out / "claims.json"} and verdicts == {"C05": "holds"}
    text = path.read_text()
    assert "![03_stability_sam_edge](03_stability_sam_edge.png)" in text
    assert json.loads((out / "claims.json").read_text())[0]["id"] == "C05"
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{README_START}\nstale\n{README_END}\nbottom\n")
    assert sync_readme(readme, path)
    body = readme.read_text()
    assert body.startswith("top\n") and body.endswith("\nbottom\n")
    assert "(out/claims.md#c05)" in body and "stale" not in body


def test_progress_prints_one_line_per_item_off_a_terminal():
    from ssam_theory.reproduce import _Progress

    buf = io.StringIO()
    p = _Progress(2, enabled=True, stream=buf)
    p.start("claim C01")
    p.start("notebook 01_x")
    p.finish("claim C01", 0.5, "holds")
    assert p.running == ["notebook 01_x"]
    p.close()
    assert buf.getvalue() == "[1/2] claim C01: holds (0.5 s)\n"
    quiet = io.StringIO()
    _Progress(1, stream=quiet).finish("x", 1.0, "ok")  # not a terminal: silent by default
    assert quiet.getvalue() == ""


# ------------------------------------------------------------------ the committed files

def _committed():
    readme = (ROOT / "README.md").read_text()
    report = (ROOT / "figures" / "claims.md").read_text()
    return readme, report


def test_readme_claims_block_is_generated_from_the_report():
    readme, report = _committed()
    block = readme[readme.index(README_START):readme.index(README_END) + len(README_END)]
    assert block == readme_claims_block(report)


def test_readme_rows_are_short_and_cover_the_registry():
    readme, _ = _committed()
    block = readme[readme.index(README_START):readme.index(README_END)]
    rows = [ln for ln in block.splitlines() if re.match(r"\| C\d", ln)]
    assert [r.split("|")[1].strip() for r in rows] == [c.id for c in REGISTRY]
    for row in rows:
        assert len(_text(row)) <= MAX_ROW, row
    assert re.search(r"\d+ claims: \d+ hold, \d+ violated, \d+ inconclusive", block)
    assert "**inconclusive**" in block


def test_report_has_a_section_per_claim_with_table_and_its_figures():
    """Every claim has a section with its predicted-vs-measured table, the command that
    reruns it, and every one of its figures that the committed figures/ holds (a fresh
    reproduction writes them all: tests/test_notebooks.py checks that)."""
    _, report = _committed()
    for c in REGISTRY:
        start = report.index(f'<a id="{c.id.lower()}"></a>')
        end = report.find('<a id="', start + 1)
        section = report[start:end if end > 0 else len(report)]
        assert "| setting | predicted | measured | agrees |" in section, c.id
        assert f"ssam-theory check --only {c.id}" in section
        for stem in CLAIM_FIGURES.get(c.id, ()):
            if (ROOT / "figures" / f"{stem}.png").is_file():
                assert f"![{stem}]({stem}.png)" in section, (c.id, stem)


def test_every_embedded_figure_exists():
    _, report = _committed()
    embedded = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert embedded
    missing = [f for f in embedded if not (ROOT / "figures" / f).is_file()]
    assert not missing, missing
