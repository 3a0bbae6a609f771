"""Runs, sweeps and coupled linear-model runs equal the arrays saved in ``tests/data``.

The arrays were written by ``tests/golden.py`` from the code before a restructuring; this
test fails on any changed bit, so a refactor that changes a number cannot pass unnoticed.
A deliberate change of results regenerates the file in its own commit, with the reason.
"""

import numpy as np
from golden import PATH, compute


def test_numbers_unchanged_bit_for_bit():
    saved = np.load(PATH)
    now = compute()
    assert sorted(now) == sorted(saved.files)
    for k in saved.files:
        a, b = saved[k], now[k]
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert a.tobytes() == b.tobytes(), f"{k} changed"
