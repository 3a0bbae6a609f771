"""``ssam-theory sweep``: ranges, landscapes, output, errors naming the flag."""


import numpy as np
import pytest

import ssam_theory as st
from ssam_theory.cli import main, parse_range


def test_parse_range():
    assert np.array_equal(parse_range("0:1:5"), np.linspace(0, 1, 5))
    assert np.array_equal(parse_range("1e-3:1:4:log"), np.geomspace(1e-3, 1, 4))
    assert np.array_equal(parse_range("0.1,0.2, 0.3"), [0.1, 0.2, 0.3])
    assert np.array_equal(parse_range("0.5"), [0.5])


@pytest.mark.parametrize("text", ["", "1:2", "1:2:0", "1:2:x", "a:2:3", "0:1:3:lin",
                                  "0:1:3:log", "1,,2", "nan", "1:inf:3", "1:2:3:4:5"])
def test_parse_range_rejects(text):
    with pytest.raises(ValueError, match="--lr"):
        parse_range(text, "--lr")


def test_cli_sweep_writes_result(tmp_path, capsys):
    out = tmp_path / "s.npz"
    code = main(["sweep", "--landscape", "quadratic:10,1", "--rule", "sgd", "--lr", "0.19,0.21",
                 "--rho", "0", "--steps", "2000", "--seeds", "2", "--out", str(out),
                 "--cache", str(tmp_path / "cache")])
    assert code == 0 and str(out) in capsys.readouterr().out
    res = st.SweepResult.load(out)
    assert res.shape == (2, 1, 2)
    assert np.all(res.outcome[0] == st.Outcome.CONVERGED)
    assert np.all(res.outcome[1] == st.Outcome.DIVERGED)
    direct = st.sweep(st.Quadratic(np.diag([10.0, 1.0])), "sgd", lr=[0.19, 0.21], rho=0.0,
                      steps=2000, seeds=2)
    assert direct.identical(res)


def test_cli_saddle_and_workers(tmp_path):
    out = tmp_path / "s.npz"
    assert main(["sweep", "--landscape", "saddle:1,2", "--rule", "usam", "--lr", "0.1",
                 "--rho", "0.45,0.55", "--steps", "3000", "--seeds", "0,1", "--saddle",
                 "--workers", "2", "--out", str(out), "--no-progress"]) == 0
    res = st.SweepResult.load(out)
    assert np.all(res.outcome[0, 0] == st.Outcome.ESCAPED)
    assert np.all(res.outcome[0, 1] == st.Outcome.TRAPPED)


@pytest.mark.parametrize("flag, bad", [
    ("--lr", "0.1:0.2"), ("--lr", "0:1:-3"), ("--rho", "x"), ("--seeds", "0"),
    ("--seeds", "a,b"), ("--landscape", "cube:1"), ("--landscape", "saddle:1"),
    ("--rule", "adam"), ("--steps", "-5"), ("--workers", "0"),
])
def test_cli_errors_name_the_flag(tmp_path, capsys, flag, bad):
    argv = {"--landscape": "quadratic:10,1", "--rule": "ssam", "--lr": "0.1", "--rho": "0.1",
            "--steps": "10", "--seeds": "1", "--workers": "1"}
    argv[flag] = bad
    args = ["sweep", *[x for kv in argv.items() for x in kv], "--out", str(tmp_path / "o.npz")]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert flag.lstrip("-") in err or flag in err, err
