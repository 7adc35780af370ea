"""Derived seeds for the layers of a VAE, so a seeded model draws the same weights on every backend."""

from __future__ import annotations


class SeedCounter:
    """Hands out distinct derived seeds ``(seed * 1009 + i) mod (2**31 - 1)`` for i = start + 1, start + 2,
    ..., or None when unseeded. A part that starts at ``start`` draws the seeds a single counter would have
    given it after ``start`` earlier layers, so a VAE composed of parts initialises exactly as before."""

    def __init__(self, seed: int | None, start: int = 0):
        self.seed, self.i = seed, int(start)

    def __call__(self) -> int | None:
        self.i += 1
        return None if self.seed is None else (int(self.seed) * 1009 + self.i) % (2**31 - 1)
