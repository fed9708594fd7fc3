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
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runtime_lib._errors import ConfigError, ConnectionFailedError

log = logging.getLogger("runtime_lib.jobs")


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
_WATCH_HEARTBEAT_S = 5.0
# Silence (not even a heartbeat) after which the consumer is taken for gone: three beats missed.
_WATCH_SILENCE_S = 3 * _WATCH_HEARTBEAT_S
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
        watch = _NatsWatch(self._js, self._bucket, prefix)
        try:
            await watch.subscribe()
        except (nats.errors.Error, TimeoutError) as exc:
            await watch.close()
            raise _broker_error(f"watching {prefix}", exc) from exc
        return watch


class _NatsWatch:
    """A push consumer on the bucket's keys under a prefix, created afresh (new name, from the
    next stream sequence) when its heartbeats stop (a broker restart drops it) or a message is
    missing, as nats-py's ordered consumer does; a new name because the old consumer may still
    exist, and the server refuses to change its start."""

    def __init__(self, js: Any, bucket: str, prefix: str) -> None:
        self._js = js
        self._stream = f"KV_{bucket}"
        self._subject = f"$KV.{bucket}.{prefix}>"
        self._key_start = len(f"$KV.{bucket}.")
        self._sub: Any = None
        self._next_seq = 0  # 0: nothing seen yet, start from each key's last value
        self._delivered = 0
        self._closed = asyncio.Event()

    async def subscribe(self) -> None:
        # A plain subscription of the JetStream context's connection, not js.subscribe, which
        # hides the heartbeats this watch goes by.
        nc = self._js._nc
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        self._sub = await nc.subscribe(nc.new_inbox())
        config = ConsumerConfig(
            name=f"w{uuid.uuid4().hex}",
            filter_subject=self._subject,
            deliver_subject=self._sub.subject,
            ack_policy=AckPolicy.NONE,
            max_deliver=1,
            mem_storage=True,
            num_replicas=1,
            idle_heartbeat=_WATCH_HEARTBEAT_S,
            inactive_threshold=_WATCH_INACTIVE_S,
        )
        if self._next_seq:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = self._next_seq
        else:
            config.deliver_policy = DeliverPolicy.LAST_PER_SUBJECT
        self._delivered = 0
        await self._js.add_consumer(self._stream, config)

    async def __aiter__(self) -> AsyncIterator[Change]:
        while not self._closed.is_set():
            try:
                msg = await self._sub.next_msg(timeout=_WATCH_SILENCE_S)
            except nats.errors.Error:  # silence, or the connection closed
                if self._closed.is_set():
                    return
                await self._resubscribe()
                continue
            change = self._change(msg)
            if change is False:
                await self._resubscribe()
            elif change is not None:
                yield change

    def _change(self, msg: Any) -> Change | Literal[False] | None:
        """The change a message carries; None: a heartbeat; False: a message was missed."""
        if msg.headers and msg.headers.get("Status") == "100":
            return None  # an idle heartbeat: the consumer is alive
        meta = msg.metadata
        if meta.sequence.consumer != self._delivered + 1:
            return False
        self._delivered = meta.sequence.consumer
        self._next_seq = meta.sequence.stream + 1
        headers = msg.headers or {}
        deleted = (
            headers.get(_OPERATION) in ("DEL", "PURGE") or _MARKER_REASON in headers or not msg.data
        )
        return msg.subject[self._key_start :], None if deleted else bytes(msg.data)

    async def _resubscribe(self) -> None:
        # Retried until it works or the watch is closed: the broker may be restarting.
        while not self._closed.is_set():
            try:
                await self.subscribe()
                return
            except (nats.errors.Error, TimeoutError) as exc:
                log.debug("jobs: re-creating the watch of %s failed: %s", self._subject, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), _WATCH_HEARTBEAT_S)

    async def close(self) -> None:
        self._closed.set()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
