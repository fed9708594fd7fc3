"""The JetStream bus: one NATS connection and the parts that use it, each in its own module.

- :mod:`streams`: the events stream (``SB_EVENTS``, ``sb.ev.>``, interest retention) and the
  dead-letter stream, created when missing. Subjects end in a sentinel token (:mod:`names`).
- :mod:`pull_consumer`: a durable pull consumer per (service, subscription) with
  ``deliver_policy=new``: a group sees events published after it first subscribed; its instances
  compete for them. Redelivery is ``nak(delay)``, chosen by the subscriber, which dead-letters on
  its last attempt; the server's ``max_deliver`` is one higher as a backstop.
- :mod:`pub_acks`: the drainer's batches and their PubAcks. Publishes carry ``Nats-Msg-Id``
  (idempotency key or event id), so the broker drops a resend within the duplicate window.
- :mod:`dead_letters` and :mod:`dedupe`: the dead-letter stream's writes and reads, and the
  dedupe marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runtime_lib._errors import ConfigError, ConnectionFailedError
from runtime_lib._events.bus import ConsumerSpec, DeadLetter, Delivery, PublishRejected
from runtime_lib._events.dead_letters import read_dead_letters, write_dead_letter
from runtime_lib._events.dedupe import DedupeMarks
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.held_acks import HeldAcks
from runtime_lib._events.names import service_token, subject_for
from runtime_lib._events.nats_config import NatsConfig, NatsTls
from runtime_lib._events.pub_acks import PubAckBatcher
from runtime_lib._events.pull_consumer import NatsConsumer
from runtime_lib._events.streams import ensure_streams
from runtime_lib._lifecycle import Lifecycle, NatsWatch
from runtime_lib._nats_connect import connect_nats

if TYPE_CHECKING:
    from runtime_lib._events.outbox import OutboxRow

__all__ = ["NatsBus", "NatsConfig"]

log = logging.getLogger("runtime_lib.events")


class NatsBus:
    """``tls``: connect with the service's certificate (``Bridge(tls=...)``); the streams must
    then exist already (created by the provisioning identity: a service may only look them up).
    ``publisher``: the service whose events this bus publishes (default ``config.name``); it is
    the last token of their subjects."""

    def __init__(
        self, config: NatsConfig, tls: NatsTls | None = None, *, publisher: str | None = None
    ) -> None:
        self.config = config
        self._tls = tls
        self.publisher = service_token(config.name if publisher is None else publisher)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._batcher: PubAckBatcher | None = None
        # One for the connection: any consumer's fetch sends the acks every consumer holds.
        self._acks = HeldAcks()
        self._dedupe = DedupeMarks(lambda: self.js, config.dedupe_bucket, config.dedupe_ttl)
        self._reconnect_callbacks: list[Callable[[], None]] = []
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
                connect_nats(
                    config.url,
                    name=config.name or None,
                    connect_timeout=max(1, round(config.connect_timeout)),
                    reconnect_time_wait=0.25,
                    max_reconnect_attempts=-1,
                    reconnected_cb=reconnected,
                    **watched,
                    **(self._tls() if self._tls is not None else {}),
                ),
                config.connect_timeout * 2,
            )
        except ConfigError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(f"cannot connect to NATS at {config.url}: {exc}") from exc
        self._js = self._nc.jetstream(timeout=config.request_timeout)
        self._batcher = PubAckBatcher(self._nc, self.publisher)
        if watch is not None:
            watch.closing = False
            watch.connected()
        await ensure_streams(self._js, config)

    async def close(self) -> None:
        nc, self._nc, self._js, self._batcher = self._nc, None, None, None
        self._dedupe.reset()
        if nc is not None:
            if self._watch is not None:
                self._watch.closing = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), self.config.request_timeout)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_callbacks.append(callback)

    async def publish(self, envelope: EventEnvelope, timeout_s: float) -> None:
        try:
            await self.js.publish(
                subject_for(envelope.name, self.publisher),
                envelope.payload,
                timeout=timeout_s,
                headers=envelope.to_headers(),
            )
        except (nats.errors.MaxPayloadError, nats.js.errors.BadRequestError) as exc:
            raise PublishRejected(str(exc) or type(exc).__name__) from exc

    async def send_batch(
        self, rows: Sequence[OutboxRow], timeout_s: float
    ) -> Awaitable[list[BaseException | None]]:
        """The drainer's fast path (:class:`PubAckBatcher`)."""
        if self._batcher is None:
            raise ConnectionFailedError("the NATS bus is not connected")
        return await self._batcher.send_batch(rows, timeout_s)

    async def consumer(self, spec: ConsumerSpec) -> NatsConsumer:
        config = ConsumerConfig(
            # With a name, nats-py creates it on $JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>,
            # where the broker's permissions can pin the filter (docs/security.md).
            name=spec.durable,
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
        consumer = NatsConsumer(self._nc, self.config.stream, spec.durable, self._acks)
        await consumer.open()
        return consumer

    async def dead_letter(self, delivery: Delivery, letter: DeadLetter, timeout_s: float) -> None:
        await write_dead_letter(self.js, letter, timeout_s)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await read_dead_letters(self.js, self.config.dlq_stream, limit)

    async def seen(self, group: str, event_id: str) -> bool:
        return await self._dedupe.seen(group, event_id)

    async def mark_seen(self, group: str, event_id: str) -> None:
        await self._dedupe.mark(group, event_id)
