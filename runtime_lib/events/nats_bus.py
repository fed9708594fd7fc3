"""The JetStream bus.

- One stream (``SB_EVENTS``, subjects ``sb.ev.>``, interest retention) holds events until every
  consumer group has acknowledged them. Subjects end in a sentinel token (see :mod:`names`).
- A durable pull consumer per (service, subscription) with ``deliver_policy=new``: a group sees
  events published after it first subscribed; its instances compete for them.
- Publishes carry ``Nats-Msg-Id`` (idempotency key or event id); the stream's
  ``duplicate_window`` outlasts the drainer's longest gap between two sends of one row, so a
  resend after a lost ack or a crash is dropped by the broker.
- Redelivery is ``nak(delay)``, chosen by the subscriber. The subscriber dead-letters on its last
  attempt; the server's ``max_deliver`` is one higher as a backstop.
- Dead letters go to a second stream (``SB_DLQ``, subjects ``sb.dlq.<group>.<name>``), with the
  original headers plus ``sb-dlq-reason``, ``sb-dlq-attempts``, ``sb-dlq-group``,
  ``sb-dlq-pattern``. Dedupe marks live in a KV bucket with a TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from runtime_lib.errors import ConfigError, ConnectionFailedError
from runtime_lib.events.bus import ConsumerSpec, DeadLetter, Delivery, PublishRejected
from runtime_lib.events.envelope import H_ID, H_IDEMPOTENCY_KEY, H_NATS_MSG_ID, EventEnvelope
from runtime_lib.events.names import subject_for
from runtime_lib.lifecycle import Lifecycle, NatsWatch

if TYPE_CHECKING:
    from runtime_lib.events.outbox import OutboxRow

log = logging.getLogger("runtime_lib.events")

H_DLQ_REASON = "sb-dlq-reason"
H_DLQ_ATTEMPTS = "sb-dlq-attempts"
H_DLQ_GROUP = "sb-dlq-group"
H_DLQ_PATTERN = "sb-dlq-pattern"


@dataclass(frozen=True, slots=True)
class NatsConfig:
    """Where and how to reach JetStream. ``events="nats://host:4222"`` is ``NatsConfig(url=...)``."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "SB_EVENTS"
    dlq_stream: str = "SB_DLQ"
    dedupe_bucket: str = "sb_dedupe"
    # Longer than the drainer's top rung (10 min + 25 %) so any resend of a row is deduped.
    duplicate_window: float = 20 * 60
    max_age: float = 7 * 24 * 3600
    dlq_max_age: float = 30 * 24 * 3600
    dedupe_ttl: float = 24 * 3600
    connect_timeout: float = 5.0
    request_timeout: float = 5.0
    name: str = ""


class NatsDelivery:
    def __init__(self, msg: Msg, envelope: EventEnvelope) -> None:
        self.msg = msg
        self.envelope = envelope
        self.attempt = int(msg.metadata.num_delivered)

    async def ack(self) -> None:
        await self.msg.ack()

    async def nak(self, delay: float) -> None:
        await self.msg.nak(delay=delay)

    async def term(self) -> None:
        await self.msg.term()

    async def in_progress(self) -> None:
        await self.msg.in_progress()


_PULL_ENDED = frozenset({"404", "408", "409"})  # no messages, request expired, conflict
_HEARTBEAT = "100"


class NatsConsumer:
    """A durable pull consumer, read through an inbox of our own.

    One pull request per fetch: ``{"batch": n, "no_wait": true, "expires": ...}`` waits up to
    ``expires`` for the first message, then the server sends what it has (at most ``n``) and
    ends the request with a 404 status, so one round trip brings a whole batch. Each request
    has its own reply subject, so a status that ends an earlier request (say, one that expired
    after its fetch gave up) is told apart; an event such a request still brings waits here for
    the next fetch. ``PullSubscription.fetch`` instead pays a task, a timer and a uuid per
    message.
    """

    def __init__(self, nc: Client, stream: str, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._prefix = ""
        self._tokens = itertools.count()
        self._sub: Subscription | None = None
        # Messages in arrival order; data messages left from an earlier request stay for the next.
        self._queue: deque[Msg] = deque()
        self._wakeup: asyncio.Future[None] | None = None

    async def open(self) -> None:
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{inbox}.*", cb=self._arrived)
        self._prefix = f"{inbox}."

    async def _arrived(self, msg: Msg) -> None:
        self._queue.append(msg)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        msgs: list[Msg] = []
        reply = ""
        if self._take(msgs, batch, reply) or len(msgs) >= batch:
            return await self._deliveries(msgs)
        reply = f"{self._prefix}{next(self._tokens)}"
        request: dict[str, int | bool] = {"batch": batch - len(msgs), "no_wait": True}
        if not msgs:
            # Without expires a no_wait request ends at once; with it, it waits for a first one.
            request["expires"] = max(int(timeout_s * 1e9) - 100_000, 1_000_000)
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=reply)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._take(msgs, batch, reply) and len(msgs) < batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup = wakeup = loop.create_future()
            try:
                await asyncio.wait_for(wakeup, remaining)
            except TimeoutError:
                break
            finally:
                self._wakeup = None
        return await self._deliveries(msgs)

    def _take(self, msgs: list[Msg], batch: int, reply: str) -> bool:
        """Move queued data messages into ``msgs`` (up to ``batch``); True once the pull request
        answered on ``reply`` has ended."""
        queue = self._queue
        while queue and len(msgs) < batch:
            msg = queue.popleft()
            headers = msg.headers
            status = headers.get("Status") if headers else None
            if not status:
                msgs.append(msg)
            elif msg.subject != reply or status == _HEARTBEAT:
                continue  # the end of an earlier request, or a heartbeat
            elif status in _PULL_ENDED or msgs:
                return True  # ended; another status with messages in hand: return those first
            else:
                raise nats.js.errors.APIError.from_msg(msg)
        return False

    async def _deliveries(self, msgs: list[Msg]) -> list[Delivery]:
        out: list[Delivery] = []
        for msg in msgs:
            try:
                envelope = EventEnvelope.from_headers(msg.headers or {}, msg.data)
            except Exception as exc:
                log.warning("dropping a message that is not an event on %s: %s", msg.subject, exc)
                await msg.term()
                continue
            out.append(NatsDelivery(msg, envelope))
        return out

    async def close(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


def _header_value(text: str, limit: int = 1024) -> str:
    # A header value cannot span lines.
    return " ".join(text.split())[:limit]


class _AckBatch:
    """The PubAcks of one drained batch: one future and one timer for the whole batch."""

    __slots__ = ("done", "missing", "results")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self.results: list[BaseException | None] = [_NO_ACK] * size
        self.missing = size
        self.done = done

    def settle(self, index: int, result: BaseException | None) -> None:
        if self.results[index] is _NO_ACK:
            self.results[index] = result
            self.missing -= 1
            if not self.missing and not self.done.done():
                self.done.set_result(None)


_NO_ACK: BaseException = TimeoutError("no PubAck within the publish timeout")


def _pub_ack_result(msg: Msg) -> BaseException | None:
    """None for a PubAck (a duplicate counts as stored), else the error it carries."""
    headers = msg.headers
    if headers and headers.get("Status") == "503":
        return nats.js.errors.NoStreamResponseError()
    data = msg.data
    if data.startswith(b'{"stream":') and b'"error"' not in data:
        return None  # a PubAck: no need to parse it
    try:
        response = json.loads(msg.data)
    except ValueError as exc:
        return exc
    error = response.get("error") if isinstance(response, dict) else None
    if error is None:
        return None
    try:
        nats.js.errors.APIError.from_error(error)
    except nats.js.errors.BadRequestError as exc:
        return PublishRejected(str(exc))
    except Exception as exc:
        return exc
    return nats.js.errors.APIError(description=str(error))


class NatsBus:
    def __init__(self, config: NatsConfig) -> None:
        self.config = config
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._kv_lock = asyncio.Lock()
        self._reconnect_callbacks: list[Callable[[], None]] = []
        # The drainer's PubAcks: one wildcard inbox, a counter token per message.
        self._ack_prefix = ""
        self._ack_tokens = itertools.count()
        self._acks: dict[str, tuple[_AckBatch, int]] = {}
        self._subjects: dict[str, str] = {}
        self._watch: NatsWatch | None = None

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise ConnectionFailedError("the NATS bus is not connected")
        return self._js

    def observe_connection(self, lifecycle: Lifecycle, service_name: str) -> None:
        """Report this bus's connection to ``bridge.on`` callbacks (as ``"events"``)."""
        self._watch = lifecycle.watch("events", service_name, self.config.url)

    async def connect(self) -> None:
        config = self.config
        watch = self._watch
        watched = watch.options() if watch is not None else {}
        on_reconnected = watched.pop("reconnected_cb", None)

        async def reconnected() -> None:
            for callback in self._reconnect_callbacks:
                callback()
            if on_reconnected is not None:
                await on_reconnected()

        async def error(exc: Exception) -> None:
            log.debug("nats: %s", exc)

        watched.setdefault("error_cb", error)
        try:
            self._nc = await asyncio.wait_for(
                nats.connect(
                    config.url,
                    name=config.name or None,
                    connect_timeout=max(1, round(config.connect_timeout)),
                    reconnect_time_wait=0.25,
                    max_reconnect_attempts=-1,
                    reconnected_cb=reconnected,
                    **watched,
                ),
                config.connect_timeout * 2,
            )
        except Exception as exc:
            raise ConnectionFailedError(f"cannot connect to NATS at {config.url}: {exc}") from exc
        self._js = self._nc.jetstream(timeout=config.request_timeout)
        if watch is not None:
            watch.closing = False
            watch.connected()
        await self._ensure_stream(
            StreamConfig(
                name=config.stream,
                subjects=["sb.ev.>"],
                retention=RetentionPolicy.INTEREST,
                storage=StorageType.FILE,
                duplicate_window=config.duplicate_window,
                max_age=config.max_age,
            )
        )
        await self._ensure_stream(
            StreamConfig(
                name=config.dlq_stream,
                subjects=["sb.dlq.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                duplicate_window=config.duplicate_window,
                max_age=config.dlq_max_age,
            )
        )

    async def _ensure_stream(self, stream: StreamConfig) -> None:
        assert stream.name is not None
        try:
            await self.js.stream_info(stream.name)
            return
        except nats.js.errors.NotFoundError:
            pass
        try:
            await self.js.add_stream(stream)
        except nats.js.errors.BadRequestError as exc:
            # Another process created it first, perhaps with other limits: use theirs.
            log.debug("stream %s exists: %s", stream.name, exc)

    async def close(self) -> None:
        nc, self._nc, self._js, self._kv = self._nc, None, None, None
        self._ack_prefix = ""
        if nc is not None:
            if self._watch is not None:
                self._watch.closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), self.config.request_timeout)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_callbacks.append(callback)

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        headers = envelope.to_headers()
        headers[H_NATS_MSG_ID] = envelope.msg_id
        try:
            await self.js.publish(
                subject_for(envelope.name), envelope.payload, timeout=timeout_s, headers=headers
            )
        except (nats.errors.MaxPayloadError, nats.js.errors.BadRequestError) as exc:
            raise PublishRejected(str(exc) or type(exc).__name__) from exc

    async def send_batch(
        self, rows: Sequence[OutboxRow], timeout_s: float
    ) -> Awaitable[list[BaseException | None]]:
        """Write every row to the stream (in order) now; the awaitable gives one result per row.

        The drainer's fast path: the rows' stored headers go out as they are (plus
        ``Nats-Msg-Id``), the PubAcks come back on one wildcard inbox, and the whole batch has
        one future and one timeout, where ``js.publish`` pays a task, a future, a timer and a
        reply inbox per message.
        """
        nc = self._nc
        if nc is None:
            raise ConnectionFailedError("the NATS bus is not connected")
        if not self._ack_prefix:
            prefix = nc.new_inbox()
            await nc.subscribe(f"{prefix}.*", cb=self._on_ack)
            self._ack_prefix = f"{prefix}."
        loop = asyncio.get_running_loop()
        batch = _AckBatch(len(rows), loop.create_future())
        acks, subjects, prefix = self._acks, self._subjects, self._ack_prefix
        tokens: list[str] = []
        for index, row in enumerate(rows):
            headers = row.headers
            headers[H_NATS_MSG_ID] = headers.get(H_IDEMPOTENCY_KEY) or headers[H_ID]
            subject = subjects.get(row.name)
            if subject is None:
                subject = subjects[row.name] = subject_for(row.name)
            token = str(next(self._ack_tokens))
            acks[token] = (batch, index)
            tokens.append(token)
            try:
                await nc.publish(subject, row.payload, reply=prefix + token, headers=headers)
            except nats.errors.MaxPayloadError as exc:
                batch.settle(index, PublishRejected(str(exc) or type(exc).__name__))
            except Exception as exc:
                batch.settle(index, exc)
        return self._await_acks(batch, tokens, timeout_s)

    async def _await_acks(
        self, batch: _AckBatch, tokens: list[str], timeout_s: float
    ) -> list[BaseException | None]:
        try:
            if batch.missing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(batch.done), timeout_s)
        finally:
            acks = self._acks
            for token in tokens:
                acks.pop(token, None)
        return batch.results

    async def _on_ack(self, msg: Msg) -> None:
        waiting = self._acks.pop(msg.subject[len(self._ack_prefix) :], None)
        if waiting is not None:
            batch, index = waiting
            batch.settle(index, _pub_ack_result(msg))

    async def consumer(self, spec: ConsumerSpec) -> NatsConsumer:
        config = ConsumerConfig(
            durable_name=spec.durable,
            description=f"{spec.group} <- {spec.pattern.text}",
            filter_subject=spec.pattern.nats_filter,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=spec.ack_wait,
            max_deliver=spec.max_deliver,
            deliver_policy=DeliverPolicy.NEW,
        )
        info = await self.js.add_consumer(self.config.stream, config)
        if info.config.filter_subject != spec.pattern.nats_filter:
            raise ConfigError(
                f"consumer {spec.durable} has filter {info.config.filter_subject!r}, "
                f"expected {spec.pattern.nats_filter!r}"
            )
        if self._nc is None:
            raise ConnectionFailedError("the NATS bus is not connected")
        consumer = NatsConsumer(self._nc, self.config.stream, spec.durable)
        await consumer.open()
        return consumer

    async def dead_letter(self, delivery: Delivery, letter: DeadLetter, timeout_s: float) -> None:
        envelope = letter.envelope
        headers = dict(letter.headers) or envelope.to_headers()
        headers[H_DLQ_REASON] = _header_value(letter.reason) or "unknown"
        headers[H_DLQ_ATTEMPTS] = str(letter.attempts)
        headers[H_DLQ_GROUP] = letter.group
        headers[H_DLQ_PATTERN] = letter.pattern
        headers[H_NATS_MSG_ID] = f"{letter.group}:{envelope.id}"
        subject = f"sb.dlq.{letter.group}.{envelope.name}"
        await self.js.publish(subject, envelope.payload, timeout=timeout_s, headers=headers)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        info = await self.js.stream_info(self.config.dlq_stream)
        out: list[DeadLetter] = []
        if not info.state.messages:
            return out
        seq = max(info.state.first_seq, 1)
        while seq <= info.state.last_seq and len(out) < limit:
            try:
                raw = await self.js.get_msg(self.config.dlq_stream, seq)
            except nats.js.errors.NotFoundError:
                seq += 1
                continue
            headers: dict[str, str] = dict(raw.headers or {})
            out.append(
                DeadLetter(
                    envelope=EventEnvelope.from_headers(headers, raw.data or b""),
                    group=headers.get(H_DLQ_GROUP, ""),
                    pattern=headers.get(H_DLQ_PATTERN, ""),
                    reason=headers.get(H_DLQ_REASON, ""),
                    attempts=int(headers.get(H_DLQ_ATTEMPTS, "0")),
                    headers=headers,
                )
            )
            seq += 1
        return out

    async def _dedupe_kv(self) -> KeyValue:
        async with self._kv_lock:
            if self._kv is None:
                try:
                    self._kv = await self.js.key_value(self.config.dedupe_bucket)
                except nats.js.errors.BucketNotFoundError:
                    self._kv = await self.js.create_key_value(
                        bucket=self.config.dedupe_bucket, ttl=self.config.dedupe_ttl, history=1
                    )
            return self._kv

    async def seen(self, group: str, event_id: str) -> bool:
        kv = await self._dedupe_kv()
        try:
            entry: Any = await kv.get(f"{group}.{event_id}")
        except nats.js.errors.KeyNotFoundError:
            return False
        return entry is not None

    async def mark_seen(self, group: str, event_id: str) -> None:
        kv = await self._dedupe_kv()
        await kv.put(f"{group}.{event_id}", b"1")
