"""JobContext: what a job handler knows about the execution it is running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class JobContext:
    """One attempt of one execution.

    ``idempotency_key`` is the same for every attempt of a scheduled time, on every instance
    (``<job>:<slot>``): pass it to what the job calls so a retried run does its work once.
    ``cancelled`` becomes true when the run must stop: the service is stopping, the deadline
    passed, or ``lease_lost`` (another instance took the lease over, so it may run this slot too).
    """

    job: str
    execution_id: str
    scheduled_at: datetime  # UTC
    local_scheduled_at: datetime  # in the job's time zone
    attempt: int
    idempotency_key: str
    deadline: datetime | None
    payload: Any = None
    lease_lost: bool = False
    _cancel: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    async def wait_cancelled(self) -> None:
        """Return once the run must stop (to race it against long work)."""
        await self._cancel.wait()

    def _stop(self, lease_lost: bool = False) -> None:
        self.lease_lost = self.lease_lost or lease_lost
        self._cancel.set()
