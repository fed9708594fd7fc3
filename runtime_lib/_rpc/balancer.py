"""Power of two choices on in-flight calls, skipping endpoints whose breaker is open."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from runtime_lib._rpc.endpoints import Endpoint

E = TypeVar("E", bound=Endpoint[Any])


def pick(
    endpoints: Sequence[E], rng: random.Random, avoid: frozenset[str] = frozenset()
) -> E | None:
    """An endpoint to send to, preferring those not in ``avoid`` (already tried by this call)."""
    if len(endpoints) == 1:  # the common case: nothing to choose, only whether it may be used
        only = endpoints[0]
        return only if only.breaker.available() else None
    usable = [e for e in endpoints if e.breaker.available()]
    fresh = [e for e in usable if e.address not in avoid]
    candidates = fresh or usable
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    first, second = rng.sample(candidates, 2)
    return first if first.inflight <= second.inflight else second
