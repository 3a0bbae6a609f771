"""Sweep checkpoints (resume after SIGKILL, corrupted chunks, cache key) and bounded memory."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ssam_theory as st
from ssam_theory.sweep.cache import load_chunk, save_chunk
from ssam_theory.sweep.kernel import ChunkSpec, run_chunk

DIAG = st.Quadratic(np.diag([10.0, 1.0]))
KW = dict(lr=np.linspace(0.01, 0.3, 10), rho=np.linspace(0.0, 0.5, 4), steps=300, seeds=2,
          chunk_size=16)  # 80 rows, 5 chunks


def _chunks(cache):
    return sorted(p for p in os.listdir(cache) if p.endswith(".npz"))


def test_cache_reuses_and_key_covers_parameters(tmp_path, monkeypatch):
    plain = st.sweep(DIAG, "ssam", **KW)
    first = st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW)
    assert first.stats["computed"] == 5 and first.stats["loaded"] == 0
    again = st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW)
    assert again.stats["loaded"] == 5 and again.stats["computed"] == 0
    assert plain.identical(first) and plain.identical(again)
    # any parameter change gives new keys (or, for chunk_size 20, another layout: 4 chunks)
    for change in ({"rho": KW["rho"] + 1e-12}, {"steps": 301}, {"seeds": [0, 2]},
                   {"chunk_size": 20}, {"saddle": [0.0, 0.0]}, {"patience": 4},
                   {"momentum": 0.1}, {"grad_tol": 1e-9}, {"w0": [1.0, 1.0]}):
        res = st.sweep(DIAG, "ssam", cache_dir=tmp_path, **(KW | change))
        assert res.stats["loaded"] == 0, change
        assert res.identical(st.sweep(DIAG, "ssam", **(KW | change))), change
    other = st.Quadratic(np.diag([10.0, 1.0 + 1e-15]))
    assert st.sweep(other, "ssam", cache_dir=tmp_path, **KW).stats["loaded"] == 0
    assert st.sweep(DIAG, "usam", cache_dir=tmp_path, **KW).stats["loaded"] == 0
    # ... and so does the package version
    monkeypatch.setattr(st, "__version__", "0.0.0-test")
    assert st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW).stats["loaded"] == 0


def test_corrupted_chunks_are_recomputed(tmp_path):
    plain = st.sweep(DIAG, "ssam", **KW)
    st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW)
    files = _chunks(tmp_path)
    assert len(files) == 5
    trunc = tmp_path / files[0]
    trunc.write_bytes(trunc.read_bytes()[:-100])  # truncated zip
    flip = tmp_path / files[2]
    raw = bytearray(flip.read_bytes())
    # flip one byte inside the final_w member's data (stored uncompressed): the zip's CRC or
    # the chunk's own SHA-256 must catch it
    at = raw.index(b"final_w.npy") + 200
    raw[at] ^= 0xFF
    flip.write_bytes(bytes(raw))
    res = st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW)
    assert res.stats["recomputed"] == 2 and res.stats["loaded"] == 3
    assert res.identical(plain)
    again = st.sweep(DIAG, "ssam", cache_dir=tmp_path, **KW)  # rewritten, now loads
    assert again.stats["loaded"] == 5 and again.identical(plain)


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import ssam_theory as st
    f = st.Quadratic(np.diag([10.0, 1.0]))
    st.sweep(f, "sam", lr=np.linspace(0.01, 0.15, 24), rho=[0.01, 0.05], steps=4000, seeds=2,
             chunk_size=8, cache_dir=sys.argv[1], progress=False)
""")
KILL_KW = dict(lr=np.linspace(0.01, 0.15, 24), rho=[0.01, 0.05], steps=4000, seeds=2,
               chunk_size=8)  # 96 rows of SAM (a 2-cycle: every row runs all steps), 12 chunks


@pytest.mark.slow  # over ~2 s on two cores
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(cache)])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if cache.exists() and len(_chunks(cache)) >= 3:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    n_done = len(_chunks(cache))
    assert 3 <= n_done < 12, n_done
    resumed = st.sweep(DIAG, "sam", cache_dir=cache, **KILL_KW)
    assert resumed.stats["loaded"] >= n_done - 0 and resumed.stats["recomputed"] == 0
    assert resumed.stats["computed"] == 12 - resumed.stats["loaded"]
    uninterrupted = st.sweep(DIAG, "sam", **KILL_KW)
    assert resumed.identical(uninterrupted)


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource
    import numpy as np
    import ssam_theory as st
    f = st.Quadratic(np.diag([10.0, 1.0]))
    res = st.sweep(f, "ssam", lr=np.linspace(0.01, 0.3, 1000), rho=np.linspace(0, 0.5, 1000),
                   steps=10, seeds=1, progress=False)
    assert res.outcome.size == 10**6
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
""")


@pytest.mark.slow  # over ~2 s on two cores
def test_million_configurations_below_one_gib():
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True, text=True,
                         check=True, timeout=300)
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 1024**2, f"peak RSS {peak_kib / 1024:.0f} MiB"


def test_chunk_checksum_detects_any_array_change(tmp_path):
    res = run_chunk(
        ChunkSpec(DIAG, "ssam", {"truncate": False, "adaptive": False, "momentum": 0.0,
                                       "weight_decay": 0.0, "eps": 0.0}, 20, 1e-8, 5, 1e12,
                        None, 1e-3, 1.0, None),
        np.array([0.1, 0.2]), np.array([0.0, 0.1]), np.array([0, 0]), np.zeros((1, 2)) + 1,
        np.array([0]))
    path = tmp_path / "c.npz"
    save_chunk(path, "k", 0, res)
    assert load_chunk(path, "k", 0)[1] == "ok"
    assert load_chunk(path, "other", 0)[1] == "corrupt"
    assert load_chunk(path, "k", 1)[1] == "corrupt"
    assert load_chunk(tmp_path / "missing.npz", "k", 0)[1] == "missing"


_TIMED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import ssam_theory as st
    f = st.Quadratic(np.diag(np.linspace(1.0, 20.0, 200)))
    st.sweep(f, "sam", lr=np.linspace(0.01, 0.09, 20), rho=np.linspace(0.01, 0.05, 10),
             steps=3000, seeds=2, cache_dir=sys.argv[1], progress=False,
             checkpoint_seconds=float(sys.argv[2]))
""")


@pytest.mark.slow
def test_sigkill_after_the_time_bound_resumes_from_saved_work(tmp_path):
    """A sweep that would fit one memory-sized chunk is still checkpointed: chunks are sized by
    a timing probe to take about ``checkpoint_seconds`` (0.3 s here, 30 s by default), so a
    kill a few bounds into the work finds chunks saved."""
    bound = 0.3
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", _TIMED_SCRIPT, str(cache), str(bound)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.exists() and any(p.name.endswith(".plan.json") for p in cache.iterdir()):
                break  # the probe is done: the work starts now
            time.sleep(0.01)
        time.sleep(4 * bound)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    n_done = len(_chunks(cache))
    assert n_done >= 1
    # 400 rows of SAM in d = 200 (SAM's cycle: every row runs all steps), about 2 s of work
    kw = dict(lr=np.linspace(0.01, 0.09, 20), rho=np.linspace(0.01, 0.05, 10), steps=3000,
              seeds=2)
    f = st.Quadratic(np.diag(np.linspace(1.0, 20.0, 200)))
    resumed = st.sweep(f, "sam", cache_dir=cache, checkpoint_seconds=bound, **kw)
    assert resumed.stats["loaded"] >= n_done and resumed.stats["chunks"] > 1
    assert resumed.identical(st.sweep(f, "sam", **kw))  # one big chunk: the same bits


def test_content_hash_ends_on_a_cycle_through_attributes():
    """A landscape holding a function whose closure holds the landscape again (a patched
    method) is hashed by content: the cycle ends at its ancestor, and the hash still sees a
    change of the data."""
    from ssam_theory.sweep.cache import content_hash

    def patched(f):
        original = f.grad

        def grad(W):
            return original(W) * f.scale

        f.grad = grad
        return f

    a = patched(st.Quadratic(np.diag([2.0, 1.0])))
    a.scale = 1.0
    b = patched(st.Quadratic(np.diag([2.0, 1.0])))
    b.scale = 1.0
    assert content_hash(a) == content_hash(b)
    b.scale = 2.0
    assert content_hash(a) != content_hash(b)
