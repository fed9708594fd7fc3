"""Service registry on a NATS JetStream key-value bucket.

Each serving bridge puts ``<service>.<instance id>`` = {address, methods: {path: contract hash}}
on start, puts it again every ``ttl / 3`` (the heartbeat) and deletes it on stop. Every bridge
watches the whole bucket into a local table, so resolving a name never waits on the network. An
entry not refreshed within its writer's ``ttl`` is treated as gone (its process died without saying so); the
bucket's own max age removes it from the server too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError

from runtime_lib._errors import ConfigError, ConnectionFailedError
from runtime_lib._events.nats_config import NatsTls
from runtime_lib._lifecycle import Lifecycle, NatsWatch
from runtime_lib._nats_connect import connect_nats
from runtime_lib._registry.base import Instance

_log = logging.getLogger("runtime_lib.registry")

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_DELETED = ("DEL", "PURGE")


@dataclass(slots=True)
class _Seen:
    instance: Instance
    expires: float


class NatsKvRegistry:
    """``NatsKvRegistry("nats://127.0.0.1:4222")``; ``ttl`` bounds how long a dead process lingers."""

    def __init__(
        self,
        url: str,
        *,
        bucket: str = "sb_services",
        ttl: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if not _NAME.match(bucket):
            raise ConfigError(f"registry bucket {bucket!r}: use letters, digits, '-' and '_'")
        self._url = url
        self._bucket = bucket
        self._ttl = ttl
        self._connect_timeout = connect_timeout
        self._instance_id = uuid.uuid4().hex[:16]
        self._nc: Any = None
        self._kv: Any = None
        self._watcher: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._key: str | None = None
        self._value = b""
        self._seen: dict[str, _Seen] = {}
        self._watch: NatsWatch | None = None
        self._tls: NatsTls | None = None

    def use_tls(self, tls: NatsTls) -> None:
        """Connect with the service's certificate (``Bridge(tls=...)`` calls this); the bucket
        must then exist already (a service may only look it up and write its own keys)."""
        self._tls = tls

    def observe_connection(self, lifecycle: Lifecycle, service_name: str) -> None:
        """Report this registry's connection to ``bridge.on`` callbacks (as ``"registry"``)."""
        self._watch = lifecycle.watch("registry", service_name, self._url)

    async def start(self) -> None:
        watch = self._watch
        try:
            self._nc = await connect_nats(
                self._url,
                connect_timeout=self._connect_timeout,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
                **(watch.options() if watch is not None else {}),
                **(self._tls() if self._tls is not None else {}),
            )
        except ConfigError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(
                f"registry: cannot reach NATS at {self._url}: {exc}"
            ) from exc
        if watch is not None:
            watch.closing = False
            watch.connected()
        js = self._nc.jetstream(timeout=self._connect_timeout)
        try:
            self._kv = await js.key_value(self._bucket)
        except BucketNotFoundError:
            config = KeyValueConfig(bucket=self._bucket, history=1, ttl=self._ttl)
            self._kv = await js.create_key_value(config=config)
        self._watcher = await self._kv.watchall()
        loaded = asyncio.get_running_loop().create_future()
        self._tasks.append(asyncio.create_task(self._follow(loaded), name="sb-registry-watch"))
        # The first snapshot is in before start() returns, so a name resolves right away.
        await asyncio.wait_for(asyncio.shield(loaded), self._connect_timeout)

    async def register(self, service: str, address: str, methods: Mapping[str, str]) -> None:
        if not _NAME.match(service):
            raise ConfigError(f"service name {service!r}: use letters, digits, '-' and '_'")
        self._key = f"{service}.{self._instance_id}"
        self._value = json.dumps(
            {"service": service, "address": address, "methods": dict(methods), "ttl": self._ttl},
            sort_keys=True,
        ).encode()
        await self._kv.put(self._key, self._value)
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="sb-registry-heartbeat"))

    def instances(self, service: str) -> Sequence[Instance]:
        now = time.monotonic()
        prefix = f"{service}."
        return [
            seen.instance
            for key, seen in self._seen.items()
            if key.startswith(prefix) and seen.expires > now
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._key is not None and self._kv is not None:
            try:
                await asyncio.wait_for(self._kv.delete(self._key), self._connect_timeout)
            except Exception as exc:  # the TTL removes it anyway
                _log.warning("registry: could not withdraw %s: %s", self._key, exc)
            self._key = None
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._watcher.stop(), self._connect_timeout)
            self._watcher = None
        if self._nc is not None:
            if self._watch is not None:
                self._watch.closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), self._connect_timeout)
            self._nc = None

    async def _follow(self, loaded: asyncio.Future[None]) -> None:
        async for entry in self._watcher:
            if entry is None:  # end of the initial snapshot
                if not loaded.done():
                    loaded.set_result(None)
                continue
            if entry.operation in _DELETED or not entry.value:
                self._seen.pop(entry.key, None)
                continue
            try:
                record = json.loads(entry.value)
                instance = Instance(address=record["address"], methods=record["methods"])
                ttl = float(record["ttl"])
            except (ValueError, KeyError, TypeError):
                _log.warning("registry: ignoring malformed entry %s", entry.key)
                continue
            self._seen[entry.key] = _Seen(instance, _written_at(entry.created) + ttl)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._kv.put(self._key, self._value)
            except Exception as exc:  # NATS away for a moment: the next beat tries again
                _log.warning("registry: heartbeat failed: %s", exc)


def _written_at(created: object) -> float:
    """The monotonic instant an entry was written: a snapshot entry may already be old."""
    now = time.monotonic()
    if isinstance(created, datetime):
        return now - max(0.0, time.time() - created.timestamp())
    return now
