"""Shared fixtures.

``quick_checks`` runs the claims registry once per test session in quick mode; the claims
tests (tests/test_claims.py) read its records and the reproduction tests
(tests/test_notebooks.py) write their report from it, instead of running it twice.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def quick_checks():
    """``ssam_theory.claims.run_checks(None, quick=True)``: every claim, quick settings,
    the package's own rules, as ``[(Claim, Result), ...]`` in registry order."""
    from ssam_theory.claims import run_checks

    return run_checks(None, quick=True)


def pytest_collection_modifyitems(config, items):
    """A test that needs the session's registry run (directly or through another fixture) is
    slow: the run takes about 20 s on two cores. ``pytest -m "not slow"`` skips them all."""
    for item in items:
        if "quick_checks" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
