"""Key-value buckets the jobs state lives in: NATS JetStream KV, or memory for unit tests.

Only what the leases need: read, create-if-absent, update-if-revision (compare-and-set), delete,
and a watch that replays current values then follows changes. Every broker failure reaches the
caller as a :class:`ConnectionFailedError`, never as a nats-py exception.

On NATS a watch is a push consumer created under a name with its filter in the request subject
(``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``), never nats-py's ordered consumer, whose
create request carries the filter only in its payload: a secured broker's permissions can then
hold each service to watching its own keys (:mod:`runtime_lib._security.nats_auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runtime_lib._errors import ConfigError, ConnectionFailedError


@dataclass(frozen=True, slots=True)
class Entry:
    value: bytes
    revision: int


Change = tuple[str, bytes | None]
"""A watched key and its new value; None when it was deleted."""


class KeyValueBucket(Protocol):
    async def get(self, key: str) -> Entry | None: ...

    async def create(self, key: str, value: bytes) -> int | None:
        """The new revision, or None when the key exists."""
        ...

    async def update(self, key: str, value: bytes, revision: int) -> int | None:
        """The new revision, or None when ``revision`` is no longer the key's last."""
        ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def delete(self, key: str) -> None: ...

    async def watch(self, prefix: str) -> Watch:
        """Current keys under ``prefix`` (``a.b.``), then every change, until closed."""
        ...


class Watch(Protocol):
    """An open watch: iterate its changes; ``close()`` ends the iteration."""

    def __aiter__(self) -> AsyncIterator[Change]: ...

    async def close(self) -> None: ...


_CLOSED = ("", None)


class _QueueWatch:
    def __init__(self, queue: asyncio.Queue[Change], on_close: Callable[[], None]) -> None:
        self._queue = queue
        self._on_close = on_close
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[Change]:
        while (change := await self._queue.get()) is not _CLOSED:
            yield change

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close()
            self._queue.put_nowait(_CLOSED)


class MemoryBucket:
    """In-process buckets for unit tests; not shared between processes, no TTL."""

    def __init__(self) -> None:
        self._data: dict[str, Entry] = {}
        self._revision = 0
        self._watchers: list[tuple[str, asyncio.Queue[Change]]] = []

    def _write(self, key: str, value: bytes | None) -> int:
        self._revision += 1
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = Entry(value, self._revision)
        for prefix, queue in self._watchers:
            if key.startswith(prefix):
                queue.put_nowait((key, value))
        return self._revision

    async def get(self, key: str) -> Entry | None:
        return self._data.get(key)

    async def create(self, key: str, value: bytes) -> int | None:
        return None if key in self._data else self._write(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int | None:
        entry = self._data.get(key)
        if entry is None or entry.revision != revision:
            return None
        return self._write(key, value)

    async def put(self, key: str, value: bytes) -> int:
        return self._write(key, value)

    async def delete(self, key: str) -> None:
        if key in self._data:
            self._write(key, None)

    async def watch(self, prefix: str) -> Watch:
        queue: asyncio.Queue[Change] = asyncio.Queue()
        for key, entry in list(self._data.items()):
            if key.startswith(prefix):
                queue.put_nowait((key, entry.value))
        watcher = (prefix, queue)
        self._watchers.append(watcher)
        return _QueueWatch(queue, lambda: self._watchers.remove(watcher))


def _broker_error(what: str, exc: BaseException) -> ConnectionFailedError:
    return ConnectionFailedError(f"jobs: {what} on the NATS KV store failed: {exc}")


# A watch's consumer outlives a connection lost without unsubscribing by this long.
_WATCH_INACTIVE_S = 300.0
_OPERATION = "KV-Operation"
_MARKER_REASON = "Nats-Marker-Reason"  # nats-server 2.11+: TTL/age expiry markers


def _cannot_create(bucket: str, exc: BaseException) -> ConfigError:
    return ConfigError(
        f"jobs: KV bucket {bucket} does not exist and could not be created ({exc!r}); on a "
        "secured broker services may not create buckets: create them as the provisioning "
        "identity with `sb-certs provision <url> --dir <CA dir>` (the embedded broker does it "
        "when it starts), see docs/jobs.md"
    )


class NatsBucket:
    """A JetStream KV bucket (nats-py ``KeyValue``) behind :class:`KeyValueBucket`."""

    def __init__(self, js: Any, kv: Any, bucket: str) -> None:
        self._js = js
        self._kv = kv
        self._bucket = bucket

    @classmethod
    async def open(cls, js: Any, bucket: str, *, ttl: float | None = None) -> NatsBucket:
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            kv = await cls._create(js, bucket, ttl)
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"opening bucket {bucket}", exc) from exc
        return cls(js, kv, bucket)

    @staticmethod
    async def _create(js: Any, bucket: str, ttl: float | None) -> Any:
        try:
            return await js.create_key_value(bucket=bucket, ttl=ttl, history=1)
        except nats.js.errors.BadRequestError:
            pass  # another instance created it first
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, TimeoutError) as exc:
            # A request the broker's permissions refuse is never answered.
            raise _cannot_create(bucket, exc) from exc
        except nats.errors.Error as exc:
            raise _broker_error(f"creating bucket {bucket}", exc) from exc
        try:
            return await js.key_value(bucket)
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"opening bucket {bucket}", exc) from exc

    async def get(self, key: str) -> Entry | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # KeyDeletedError too
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"reading {key}", exc) from exc
        if entry.value is None:
            return None
        return Entry(bytes(entry.value), int(entry.revision))

    async def create(self, key: str, value: bytes) -> int | None:
        try:
            return int(await self._kv.create(key, value))
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"creating {key}", exc) from exc

    async def update(self, key: str, value: bytes, revision: int) -> int | None:
        try:
            return int(await self._kv.update(key, value, last=revision))
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"updating {key}", exc) from exc

    async def put(self, key: str, value: bytes) -> int:
        try:
            return int(await self._kv.put(key, value))
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"writing {key}", exc) from exc

    async def delete(self, key: str) -> None:
        try:
            await self._kv.delete(key)
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"deleting {key}", exc) from exc

    async def watch(self, prefix: str) -> Watch:
        subject = f"$KV.{self._bucket}.{prefix}>"
        config = ConsumerConfig(
            name=f"w{uuid.uuid4().hex}",
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=_WATCH_INACTIVE_S,
        )
        try:
            sub = await self._js.subscribe(subject, stream=f"KV_{self._bucket}", config=config)
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"watching {prefix}", exc) from exc
        return _NatsWatch(sub, len(f"$KV.{self._bucket}."))


class _NatsWatch:
    # Closed by unsubscribing, not by cancelling its reader: nats-py may swallow a cancellation
    # that lands inside its own requests, and the reader would wait forever.
    def __init__(self, sub: Any, key_start: int) -> None:
        self._sub = sub
        self._key_start = key_start

    async def __aiter__(self) -> AsyncIterator[Change]:
        with contextlib.suppress(nats.errors.Error):  # ended by close()
            async for msg in self._sub.messages:
                headers = msg.headers or {}
                deleted = (
                    headers.get(_OPERATION) in ("DEL", "PURGE")
                    or _MARKER_REASON in headers
                    or not msg.data
                )
                yield msg.subject[self._key_start :], None if deleted else bytes(msg.data)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()
