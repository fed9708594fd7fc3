"""Where a service's jobs state lives in the broker: leases, fire-time watermarks, pauses, the
last result of each job, and the one-shots waiting to fire.

Two KV buckets shared by every service on the broker, keys prefixed with the service: leases
(``sb_job_leases``, kept a week so a finished slot never fires again) and the rest
(``sb_jobs``, kept until deleted, so a one-shot a month away survives every restart).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from runtime_lib._jobs.kv import Change, KeyValueBucket, MemoryBucket, NatsBucket, Watch
from runtime_lib._jobs.leases import Leases

STATE_BUCKET = "sb_jobs"
LEASE_BUCKET = "sb_job_leases"
LEASE_KEEP_S = 7 * 24 * 3600
JOB_BUCKETS = (STATE_BUCKET, LEASE_BUCKET)


def key_token(service: str) -> str:
    """The first token of every key of ``service`` in both buckets (unlike the events' service
    token, two names that sanitise alike stay apart)."""
    token = re.sub(r"[^A-Za-z0-9_-]", "_", service)
    if token != service:  # keep two names that sanitise alike apart
        token += "-" + hashlib.sha256(service.encode()).hexdigest()[:8]
    return token


@dataclass(frozen=True, slots=True)
class Mark:
    """The latest fire time taken by any instance, for the definition ``identity``."""

    identity: str
    last_ms: int


@dataclass(frozen=True, slots=True)
class OneShot:
    job: str
    id: str
    run_at_ms: int
    payload: Any
    identity: str


@dataclass(frozen=True, slots=True)
class LastResult:
    slot: str
    ok: bool
    finished_ms: int
    attempts: int
    error: str | None  # the exception's type name only: its text may hold private data


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class JobStore:
    def __init__(self, service: str, state: KeyValueBucket, leases: KeyValueBucket) -> None:
        self._prefix = key_token(service) + "."
        self._state = state
        self.leases = Leases(leases)

    @classmethod
    async def on_nats(cls, service: str, js: Any) -> JobStore:
        """The store on a JetStream context (``nats.js.JetStreamContext``)."""
        return cls(
            service,
            await NatsBucket.open(js, STATE_BUCKET),
            await NatsBucket.open(js, LEASE_BUCKET, ttl=LEASE_KEEP_S),
        )

    @classmethod
    def in_memory(
        cls, service: str, state: MemoryBucket | None = None, leases: MemoryBucket | None = None
    ) -> JobStore:
        """For unit tests; pass the same buckets to several stores to play several instances."""
        return cls(service, state or MemoryBucket(), leases or MemoryBucket())

    def lease_key(self, job: str, slot: str) -> str:
        return f"{self._prefix}{job}.{slot}"

    # -- watermarks ------------------------------------------------------------------------

    async def mark(self, job: str) -> Mark | None:
        entry = await self._state.get(f"{self._prefix}mark.{job}")
        return None if entry is None else Mark(**json.loads(entry.value))

    async def advance_mark(self, job: str, identity: str, fire_ms: int) -> Mark | None:
        """Move the watermark up to ``fire_ms`` (never down); return the one it replaced."""
        key = f"{self._prefix}mark.{job}"
        value = _json(asdict(Mark(identity, fire_ms)))
        while True:
            entry = await self._state.get(key)
            if entry is None:
                if await self._state.create(key, value) is not None:
                    return None
                continue
            previous = Mark(**json.loads(entry.value))
            if previous.identity == identity and previous.last_ms >= fire_ms:
                return previous
            if await self._state.update(key, value, entry.revision) is not None:
                return previous

    # -- pauses and results ----------------------------------------------------------------

    async def paused(self, job: str) -> bool:
        return await self._state.get(f"{self._prefix}pause.{job}") is not None

    async def set_paused(self, job: str, paused: bool) -> None:
        key = f"{self._prefix}pause.{job}"
        if paused:
            await self._state.put(key, b"1")
        else:
            await self._state.delete(key)

    async def last_result(self, job: str) -> LastResult | None:
        entry = await self._state.get(f"{self._prefix}last.{job}")
        return None if entry is None else LastResult(**json.loads(entry.value))

    async def set_last_result(self, job: str, result: LastResult) -> None:
        await self._state.put(f"{self._prefix}last.{job}", _json(asdict(result)))

    # -- one-shots -------------------------------------------------------------------------

    async def add_once(self, once: OneShot) -> None:
        await self._state.put(f"{self._prefix}once.{once.job}.{once.id}", _json(asdict(once)))

    async def remove_once(self, job: str, once_id: str) -> None:
        await self._state.delete(f"{self._prefix}once.{job}.{once_id}")

    async def get_once(self, job: str, once_id: str) -> OneShot | None:
        entry = await self._state.get(f"{self._prefix}once.{job}.{once_id}")
        return None if entry is None else OneShot(**json.loads(entry.value))

    async def watch_once(self) -> Watch:
        """An open watch of every stored one-shot, then each change (:meth:`one_shot` reads it)."""
        return await self._state.watch(f"{self._prefix}once.")

    def one_shot(self, change: Change) -> tuple[str, str, OneShot | None]:
        """``(job, id, one-shot)`` of a watched change; None: the one-shot is gone."""
        key, value = change
        job, _, once_id = key[len(self._prefix) + len("once.") :].rpartition(".")
        return job, once_id, None if value is None else OneShot(**json.loads(value))
