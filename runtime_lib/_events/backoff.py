"""The retry ladder both event retry loops climb: the drainer's resends and the handlers' retries.

Rung ``n`` is the delay after the ``n``-th failure, ±25 % jitter so retries of many rows or
deliveries that failed together do not return together; the last rung repeats.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

LADDER: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0)


def ladder_delay(attempts: int, ladder: Sequence[float] = LADDER) -> float:
    """Delay before try number ``attempts + 1`` (``attempts`` failed so far, >= 1)."""
    base = ladder[min(max(attempts, 1), len(ladder)) - 1]
    return base * random.uniform(0.75, 1.25)
