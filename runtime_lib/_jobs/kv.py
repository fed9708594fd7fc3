"""Key-value buckets the jobs state lives in: NATS JetStream KV, or memory for unit tests.

Only what the leases need: read, create-if-absent, update-if-revision (compare-and-set), delete,
and a watch that replays current values then follows changes. Every broker failure reaches the
caller as a :class:`ConnectionFailedError`, never as a nats-py exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import nats.errors
import nats.js.errors

from runtime_lib._errors import ConnectionFailedError


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


class NatsBucket:
    """A JetStream KV bucket (nats-py ``KeyValue``) behind :class:`KeyValueBucket`."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: Any, bucket: str, *, ttl: float | None = None) -> NatsBucket:
        try:
            try:
                kv = await js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                try:
                    kv = await js.create_key_value(bucket=bucket, ttl=ttl, history=1)
                except nats.js.errors.BadRequestError:
                    kv = await js.key_value(bucket)  # another instance created it first
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"opening bucket {bucket}", exc) from exc
        return cls(kv)

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
        try:
            watcher = await self._kv.watch(prefix + ">")
        except (nats.errors.Error, TimeoutError) as exc:
            raise _broker_error(f"watching {prefix}", exc) from exc
        return _NatsWatch(watcher)


class _NatsWatch:
    # Closed by stopping the watcher, not by cancelling its reader: nats-py may swallow a
    # cancellation that lands inside its own requests, and the reader would wait forever.
    def __init__(self, watcher: Any) -> None:
        self._watcher = watcher

    async def __aiter__(self) -> AsyncIterator[Change]:
        async for entry in self._watcher:
            if entry is None:
                continue  # the end of the initial values
            deleted = entry.operation in ("DEL", "PURGE") or entry.value is None
            yield entry.key, None if deleted else bytes(entry.value)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._watcher.stop()
