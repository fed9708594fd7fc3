"""Leases: who runs one scheduled time of a job, decided by compare-and-set on a KV revision.

A lease is the key ``<job>.<slot>`` (slot: the fire time in Unix ms, or ``once-<id>``). The
first instance to *create* it runs that slot; the others see it exists and stand by. The holder
renews it (``update(last=revision)``) every third of its TTL; a holder that dies stops renewing,
and once the TTL has passed any instance may take the lease over by updating it at the revision
it read: only one update at that revision can win. A renewal that fails means another instance
took over, and the run is told through its context. Finished leases stay (state ``done``,
``failed``, ``skipped``, ``cancelled``) so the slot never fires twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from runtime_lib._jobs.kv import KeyValueBucket

LeaseState = Literal["running", "buffered", "done", "failed", "skipped", "cancelled"]
LIVE_STATES: frozenset[LeaseState] = frozenset({"running", "buffered"})


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    owner: str
    state: LeaseState
    attempt: int
    expires_ms: int
    # For a skipped slot: the slot still in flight that made it skip (overlap chains follow it).
    after: str | None = None

    def live(self, now_ms: int) -> bool:
        return self.state in LIVE_STATES and self.expires_ms > now_ms

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LeaseRecord:
        return cls(**json.loads(raw))


@dataclass(slots=True)
class Lease:
    """A lease this instance holds; ``revision`` is the one its next compare-and-set expects."""

    key: str
    revision: int
    record: LeaseRecord
    taken_over: bool = False
    # The heartbeat and the run both write the lease: one compare-and-set at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


class Leases:
    def __init__(self, bucket: KeyValueBucket) -> None:
        self._bucket = bucket

    async def read(self, key: str) -> LeaseRecord | None:
        entry = await self._bucket.get(key)
        return None if entry is None else LeaseRecord.decode(entry.value)

    async def acquire(
        self,
        key: str,
        *,
        owner: str,
        ttl_ms: int,
        now_ms: int,
        max_attempts: int,
        state: LeaseState = "running",
    ) -> Lease | None:
        """Create the lease, or take over one whose holder stopped renewing; None if neither."""
        record = LeaseRecord(owner, state, 1, now_ms + ttl_ms)
        revision = await self._bucket.create(key, record.encode())
        if revision is not None:
            return Lease(key, revision, record)
        entry = await self._bucket.get(key)
        if entry is None:
            return None  # removed meanwhile (bucket age): that slot is long past
        held = LeaseRecord.decode(entry.value)
        if held.state not in LIVE_STATES or held.expires_ms > now_ms:
            return None
        attempt = held.attempt + 1 if held.state == "running" else held.attempt
        if attempt > max_attempts:
            # The last attempt's holder died: record the failure once, run nothing.
            failed = replace(held, owner=owner, state="failed")
            await self._bucket.update(key, failed.encode(), entry.revision)
            return None
        record = LeaseRecord(owner, held.state, attempt, now_ms + ttl_ms, held.after)
        revision = await self._bucket.update(key, record.encode(), entry.revision)
        if revision is None:
            return None  # another instance took it over at the same revision
        return Lease(key, revision, record, taken_over=True)

    async def create_final(self, key: str, record: LeaseRecord) -> bool:
        """Settle a slot nobody ran yet (skipped, cancelled); False if someone holds it."""
        return await self._bucket.create(key, record.encode()) is not None

    async def write(self, lease: Lease, change: Callable[[LeaseRecord], LeaseRecord]) -> bool:
        """Compare-and-set the held lease to ``change(current)``; False: the lease was lost."""
        async with lease.lock:
            record = change(lease.record)
            revision = await self._bucket.update(lease.key, record.encode(), lease.revision)
            if revision is None:
                return False
            lease.revision = revision
            lease.record = record
            return True
