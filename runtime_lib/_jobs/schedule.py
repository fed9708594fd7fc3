"""The pure decisions of the scheduler: which missed fire times to run, what to do when the
previous run is still in flight, how long to wait before a retry. No I/O, no clock of their own."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from runtime_lib._jobs.leases import LeaseState
from runtime_lib._jobs.spec import Catchup, JobSpec, Overlap, RetrySpec

# A cap on the fire times replayed after downtime (an every-second job down for a day).
MAX_CATCHUP = 10_000

OverlapAction = Literal["run", "skip", "buffer"]


def fire_times_between(spec: JobSpec, after: datetime, until: datetime) -> list[datetime]:
    """Fire times ``t`` with ``after < t <= until``, the most recent :data:`MAX_CATCHUP`."""
    times: list[datetime] = []
    cursor = after
    while (fire := spec.next_fire(cursor)) is not None and fire <= until:
        times.append(fire)
        if len(times) > MAX_CATCHUP:
            del times[0]
        cursor = fire
    return times


def catchup_fires(policy: Catchup, missed: list[datetime]) -> list[datetime]:
    """Of the fire times missed while no instance ran, the ones to fire now."""
    if policy == "fire_all":
        return list(missed)
    if policy == "fire_once":
        return missed[-1:]
    return []


def overlap_action(policy: Overlap, in_flight: LeaseState | None) -> OverlapAction:
    """What a new fire time does while the run before it is ``in_flight`` (``running`` or
    ``buffered``; None: finished)."""
    if in_flight is None or policy == "allow":
        return "run"
    if policy == "skip":
        return "skip"
    # buffer_one: one waits behind the running one; a second one while one waits is dropped.
    return "skip" if in_flight == "buffered" else "buffer"


def retry_delay(retry: RetrySpec, failed_attempt: int, rng: random.Random) -> timedelta:
    """The wait after attempt ``failed_attempt`` (1-based) failed."""
    base = min(retry.initial_ms * retry.multiplier ** (failed_attempt - 1), retry.max_ms)
    spread = base * retry.jitter
    return timedelta(milliseconds=max(0.0, base + rng.uniform(-spread, spread)))
