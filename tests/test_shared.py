"""Experiments shared within one reproduce run: computed once, loaded by later callers."""

import concurrent.futures as cf
import multiprocessing
from dataclasses import dataclass

import numpy as np
import pytest

from ssam_theory._shared import SHARE_ENV, share_key, shared


@dataclass(frozen=True)
class Config:
    steps: int
    grid: tuple


def _count(folder):
    return len(list(folder.glob("calls-*")))


def experiment(config: Config, x: np.ndarray, log: str, rules=None):
    """Writes one marker file per real computation, returns a deterministic result."""
    import os
    import pathlib

    pathlib.Path(log, f"calls-{os.getpid()}-{len(os.listdir(log))}").touch()
    return {"sum": float(x.sum()) * config.steps, "grid": config.grid}


shared_experiment = shared(experiment)


def test_without_the_environment_nothing_is_stored(tmp_path, monkeypatch):
    monkeypatch.delenv(SHARE_ENV, raising=False)
    log = tmp_path / "log"
    log.mkdir()
    for _ in range(2):
        assert shared_experiment(Config(3, (1, 2)), np.arange(4.0), str(log)) == \
            {"sum": 18.0, "grid": (1, 2)}
    assert _count(log) == 2


def test_computed_once_then_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARE_ENV, str(tmp_path / "share"))
    log = tmp_path / "log"
    log.mkdir()
    first = shared_experiment(Config(3, (1, 2)), np.arange(4.0), str(log))
    again = shared_experiment(Config(3, (1, 2)), x=np.arange(4.0), log=str(log))
    assert first == again and _count(log) == 1
    # any change of content is a new key: array bytes, a config field
    shared_experiment(Config(3, (1, 2)), np.arange(4.0) + 1e-300, str(log))
    shared_experiment(Config(4, (1, 2)), np.arange(4.0), str(log))
    assert _count(log) == 3


def test_keys_cover_contents_and_refuse_the_unknowable():
    key = share_key(experiment, (Config(3, (1,)), np.zeros(2), "x"), {})
    assert key == share_key(experiment, (Config(3, (1,)), np.zeros(2)), {"log": "x"})
    assert key != share_key(experiment, (Config(3, (1,)), np.zeros(2), "x"), {"rules": {}})
    v = np.zeros(2)
    v[1] = -0.0  # same repr-ish value, different bytes
    assert key != share_key(experiment, (Config(3, (1,)), v, "x"), {})
    # a random Generator hides its state: its identity is unknowable, so nothing is shared
    assert share_key(experiment, (Config(3, (1,)), np.zeros(2), "x"),
                     {"rules": np.random.default_rng(0)}) is None


def _call(share, log):
    import os

    os.environ[SHARE_ENV] = share
    return shared_experiment(Config(2, (5,)), np.ones(3), log)


def test_concurrent_processes_compute_once(tmp_path):
    log = tmp_path / "log"
    log.mkdir()
    share = str(tmp_path / "share")
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        results = list(pool.map(_call, [share] * 4, [str(log)] * 4))
    assert all(r == {"sum": 6.0, "grid": (5,)} for r in results)
    assert _count(log) == 1


@pytest.mark.parametrize("bad", [lambda: None])
def test_unidentifiable_arguments_still_run(tmp_path, monkeypatch, bad):
    monkeypatch.setenv(SHARE_ENV, str(tmp_path / "share"))
    log = tmp_path / "log"
    log.mkdir()
    shared_experiment(Config(1, ()), np.ones(1), str(log), rules=np.random.default_rng(1))
    shared_experiment(Config(1, ()), np.ones(1), str(log), rules=np.random.default_rng(1))
    assert _count(log) == 2
