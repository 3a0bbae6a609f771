"""``ssam-theory sweep``: ranges, landscapes, output, errors naming the flag."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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


# ---------------------------------------------------------------------------------------------
# every failure: one line on stderr, a non-zero exit code, before any work


def _sweep_args(tmp_path, **over):
    argv = {"--landscape": "quadratic:10,1", "--rule": "ssam", "--lr": "0.1", "--rho": "0.1",
            "--steps": "10", "--out": str(tmp_path / "o.npz")} | over
    return ["sweep", *[x for kv in argv.items() for x in kv], "--no-progress"]


@pytest.mark.parametrize("make_argv, code, match", [
    (lambda t: ["check", "--only", ","], 2, "--only"),
    (lambda t: ["check", "--only", "C99"], 2, "C99"),
    (lambda t: _sweep_args(t, **{"--out": str(t / "file.txt" / "o.npz")}), 1, "--out"),
    (lambda t: _sweep_args(t, **{"--out": str(t)}), 1, "--out.*directory"),
    (lambda t: _sweep_args(t, **{"--cache": str(t / "file.txt")}), 1, "--cache"),
    (lambda t: ["reproduce", "--out", str(t / "file.txt" / "figs")], 1, "--out"),
    (lambda t: ["reproduce", "--out", str(t / "figs"), "--jobs", "0"], 1, "--jobs"),
    (lambda t: _sweep_args(t, **{"--checkpoint-seconds": "0"}), 2, "checkpoint_seconds"),
    (lambda t: _sweep_args(t, **{"--seeds": str(2**63)}), 2, "seeds"),
    (lambda t: _sweep_args(t, **{"--momentum": "2"}), 2, "momentum"),
    (lambda t: _sweep_args(t, **{"--lr": "0:1:50000", "--rho": "0:1:40000"}), 2,
     "needs about .* available"),
    (lambda t: _sweep_args(t, **{"--lr": "0.1:0.2"}), 2, "--lr"),
])
def test_cli_failure_is_one_line(tmp_path, capsys, make_argv, code, match):
    (tmp_path / "file.txt").write_text("x")
    try:
        got = main(make_argv(tmp_path))
    except SystemExit as exc:
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(match, err), err
    assert not (tmp_path / "o.npz").exists()


def _env():
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


# 400 rows of SAM on a 200-d quadratic, about 1 s of work. With checkpoints every 0.05 s the
# time bound is below a step's fixed cost, so chunks take their floor size (where that cost is
# half a step: about 60 rows here, 7 chunks) and the first checkpoint comes early: the test's
# Ctrl-C, sent then, lands long before the end. (With 0.2 s the size follows the probe's timing:
# 100 rows here, up to the default 327 when rows time cheap; with two chunks the second once
# finished before the signal arrived, in CI.)
_EIGS = np.linspace(1.0, 20.0, 200)
_SLOW = ["sweep", "--landscape", "quadratic:" + ",".join(repr(float(x)) for x in _EIGS),
         "--rule", "sam", "--lr", "0.01:0.09:20", "--rho", "0.01:0.05:10", "--steps", "1500",
         "--seeds", "2", "--no-progress", "--checkpoint-seconds", "0.05"]


@pytest.mark.slow
def test_cli_ctrl_c_keeps_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "o.npz"
    partial = tmp_path / ".o.npz.partial"
    argv = [sys.executable, "-m", "ssam_theory.cli", *_SLOW, "--out", str(out)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and any(p.suffix == ".npz" for p in partial.iterdir()):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "resume" in err and "Traceback" not in err, err
    kept = [p for p in partial.iterdir() if p.suffix == ".npz"]
    assert kept and not out.exists()
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert not partial.exists()  # the default checkpoints are removed once the result is saved
    direct = st.sweep(st.Quadratic(np.diag(_EIGS)), "sam", lr=np.linspace(0.01, 0.09, 20),
                      rho=np.linspace(0.01, 0.05, 10), steps=1500, seeds=2, progress=False)
    res = st.SweepResult.load(out)
    for k in ("outcome", "event_step", "final_loss", "final_w", "growth"):
        assert np.array_equal(getattr(res, k), getattr(direct, k), equal_nan=True), k


def _descendants(pid):
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_cli_sigkill_leaves_no_worker(tmp_path):
    argv = [sys.executable, "-m", "ssam_theory.cli", *_SLOW, "--steps", "100000",
            "--workers", "2", "--out", str(tmp_path / "o.npz")]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, env=_env())
    try:
        deadline = time.monotonic() + 60
        workers = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [p for p in _descendants(proc.pid) if _alive(p)]
            time.sleep(0.05)
        assert len(workers) >= 2
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10  # workers poll their parent every 0.2 s
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    left = [p for p in workers if _alive(p)]
    for p in left:  # do not leave them behind even if the test fails
        os.kill(p, signal.SIGKILL)
    assert not left
