"""Dedupe marks: the event ids a subscription has handled, in a KV bucket with a TTL.

A subscription with ``dedupe=True`` skips an event whose id it has marked (a redelivery after
the handler ran but its ack was lost). The bucket is created on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue


class DedupeMarks:
    def __init__(self, js: Callable[[], JetStreamContext], bucket: str, ttl: float) -> None:
        self._js = js
        self._bucket = bucket
        self._ttl = ttl
        self._kv: KeyValue | None = None
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        """Forget the bucket handle (the connection it was bound to is closed)."""
        self._kv = None

    async def _open(self) -> KeyValue:
        async with self._lock:
            if self._kv is None:
                js = self._js()
                try:
                    self._kv = await js.key_value(self._bucket)
                except nats.js.errors.BucketNotFoundError:
                    self._kv = await js.create_key_value(
                        bucket=self._bucket, ttl=self._ttl, history=1
                    )
            return self._kv

    async def seen(self, group: str, event_id: str) -> bool:
        kv = await self._open()
        try:
            entry: Any = await kv.get(f"{group}.{event_id}")
        except nats.js.errors.KeyNotFoundError:
            return False
        return entry is not None

    async def mark(self, group: str, event_id: str) -> None:
        kv = await self._open()
        await kv.put(f"{group}.{event_id}", b"1")
