"""Per-claim experiment settings: frozen dataclasses with ``quick()`` / ``full()``.

Every settings class of a claim is a frozen dataclass with a ``root`` field (the claim's
root seed) and two constructors, ``quick()`` (the registry in seconds) and ``full()`` (the
reproduction). Seeds of sub-experiments are spawned from the root with
:class:`numpy.random.SeedSequence`, never computed by arithmetic on seeds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Settings", "int_seed"]


class Settings:
    """Mixin of the per-claim settings dataclasses (each defines ``root: int``)."""

    root: int

    @classmethod
    def quick(cls):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @classmethod
    def full(cls):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @classmethod
    def of(cls, quick: bool):
        """``quick()`` or ``full()``."""
        return cls.quick() if quick else cls.full()

    def seeds(self, n: int) -> list[np.random.SeedSequence]:
        """``n`` independent seed sequences spawned from ``root``."""
        return np.random.SeedSequence(self.root).spawn(n)


def int_seed(seq: np.random.SeedSequence) -> int:
    """A 32-bit integer seed drawn from ``seq``, for APIs that take an ``int`` seed."""
    return int(seq.generate_state(1)[0])
