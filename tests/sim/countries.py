"""Countries shared by the simulator's generator and manifest tests, generated once per process
(a few seconds each)."""

from __future__ import annotations

import functools

from chargemesh.sim.country import Country, generate

SMALL = 0.01
SEED = 7


@functools.cache
def small_country() -> Country:
    """Scale 0.01: ≈ 14,000 EVSEs at ≈ 2,700 stations."""
    return generate(SMALL, seed=SEED)


@functools.cache
def half_country() -> Country:
    """The same seed at half that scale, for the linearity checks."""
    return generate(SMALL / 2, seed=SEED)
