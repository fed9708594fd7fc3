"""EventsRuntime: the outbox, the drainer, the bus and the subscriptions of one service process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, overload

from google.protobuf.message import Message

from runtime_lib._errors import (
    ConfigError,
    ConnectionFailedError,
    StateError,
    ValidationError,
)
from runtime_lib._events.bus import Bus, ConsumerSpec, DeadLetter
from runtime_lib._events.config import Broker, EventsConfig
from runtime_lib._events.context import EventContext
from runtime_lib._events.data_dir import resolve_data_dir
from runtime_lib._events.drainer import DRAIN_LADDER, Drainer
from runtime_lib._events.embedded import BrokerSecurity, EmbeddedNats
from runtime_lib._events.envelope import EventEnvelope, header_form, is_reserved_header
from runtime_lib._events.event_type import E, EventType, check_event
from runtime_lib._events.filters import PayloadFilter
from runtime_lib._events.memory_bus import shared_memory_bus
from runtime_lib._events.names import compile_pattern, service_token, validate_name
from runtime_lib._events.nats_bus import NatsBus, NatsConfig
from runtime_lib._events.nats_config import NatsTls
from runtime_lib._events.outbox import Outbox, OutboxAdmin
from runtime_lib._events.subscriber import (
    HANDLER_LADDER,
    Subscribers,
    SubscriberSettings,
    Subscription,
)
from runtime_lib._ids import new_event_id
from runtime_lib._lifecycle import ConnectionObserver, Lifecycle
from runtime_lib._telemetry.api import DISABLED, Telemetry
from runtime_lib._telemetry.metrics import OutboxStats

log = logging.getLogger("runtime_lib.events")

# A caller's event id goes into the header JSON and the broker's message id as it is.
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class EventsRuntime:
    """Durable publishing and subscribing for one service.

    Register subscriptions, then ``await start()``; ``await stop()`` stops every background task.
    """

    def __init__(
        self,
        *,
        service: str,
        data_dir: str | Path | None = None,
        events: EventsConfig | Broker = "embedded",
        ack_wait: float = 30.0,
        retry_ladder: Sequence[float] = HANDLER_LADDER,
        drain_ladder: Sequence[float] = DRAIN_LADDER,
        drain_batch: int = 256,
        publish_timeout: float = 5.0,
        stop_timeout: float = 5.0,
        telemetry: Telemetry = DISABLED,
        lifecycle: Lifecycle | None = None,
        nats_tls: NatsTls | None = None,
        broker_security: BrokerSecurity | None = None,
    ) -> None:
        config = events if isinstance(events, EventsConfig) else EventsConfig(broker=events)
        self.service = service
        self.data_dir = resolve_data_dir(data_dir)
        self._config = config
        self._settings = SubscriberSettings(
            max_attempts=config.max_attempts,
            max_in_flight=config.max_in_flight,
            ack_wait=ack_wait,
            retry_ladder=tuple(retry_ladder),
            bus_timeout=publish_timeout,
        )
        self._drain_ladder = tuple(drain_ladder)
        self._drain_batch = drain_batch
        self._publish_timeout = publish_timeout
        self._stop_timeout = stop_timeout
        self._group = service_token(service)
        self._message_types: dict[str, type[Message]] = {}
        self._event_names: dict[type[EventType], str] = {}
        self._pending: list[Subscription] = []
        self._bus: Bus | None = None
        self._embedded: EmbeddedNats | None = None
        self._outbox: Outbox | None = None
        self._drainer: Drainer | None = None
        self._subscribers: Subscribers | None = None
        self._start_lock = asyncio.Lock()
        self._ready = False
        self._telemetry = telemetry
        self._lifecycle = lifecycle
        self._nats_tls = nats_tls
        self._broker_security = broker_security
        telemetry.observe_outbox(self._outbox_stats)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._outbox is not None

    async def start(self) -> None:
        if self.started:
            return
        try:
            self._bus = await self._make_bus()
            if self._lifecycle is not None and isinstance(self._bus, ConnectionObserver):
                self._bus.observe_connection(self._lifecycle, self.service)
            await self._connect(self._bus)
            self._outbox = await asyncio.to_thread(
                Outbox.open,
                self.data_dir,
                self.service,
                max_rows=self._config.max_outbox_rows,
                max_bytes=self._config.max_outbox_bytes,
                sync=self._config.outbox_sync,
            )
            self._drainer = Drainer(
                self._outbox,
                self._bus,
                batch=self._drain_batch,
                publish_timeout=self._publish_timeout,
                ladder=self._drain_ladder,
                publisher=self._group,
            )
            self._drainer.start()
            self._subscribers = Subscribers(
                self._bus, self._settings, self._message_types.get, self._telemetry
            )
            for subscription in self._pending:
                await self._subscribers.add(subscription)
            await self._subscribers.start()
            self._ready = True
        except BaseException:
            await self.stop()
            raise

    async def _connect(self, bus: Bus) -> None:
        try:
            await bus.connect()
        except ConnectionFailedError as exc:
            if self._embedded is None:
                raise
            raise ConnectionFailedError(
                f"{exc.message}. That is the embedded broker named in"
                f" {self._embedded.state_file}, which the other processes of this data dir use;"
                " if it is stuck, stop it and the next process starts a fresh one"
            ) from None

    async def ensure_started(self) -> None:
        """Start unless started (safe to call from many tasks at once)."""
        if self._ready:
            return  # started: no lock on the publish path
        async with self._start_lock:
            await self.start()

    @property
    def has_subscriptions(self) -> bool:
        return bool(self._pending)

    async def has_backlog(self) -> bool:
        """Whether a previous run left events in this service's outbox."""
        return await asyncio.to_thread(Outbox.has_backlog, self.data_dir, self.service)

    def _outbox_stats(self) -> OutboxStats | None:
        """For the outbox gauges; called at metric collection, from any thread."""
        outbox = self._outbox
        if outbox is None:
            return None
        return OutboxStats(depth=outbox.rows, oldest_age=outbox.oldest_age())

    async def _make_bus(self) -> Bus:
        config = self._config.broker
        if config == "memory":
            return shared_memory_bus()
        if config == "embedded":
            security = self._broker_security
            embedded = EmbeddedNats(self.data_dir, security)
            url = await asyncio.to_thread(embedded.acquire)
            self._embedded = embedded  # released by stop() only once acquired
            tls = self._nats_tls if security is not None else None
            return NatsBus(NatsConfig(url=url, name=self.service), tls)
        if isinstance(config, str):  # a URL: EventsConfig checked it
            return NatsBus(NatsConfig(url=config, name=self.service), self._nats_tls)
        if isinstance(config, NatsConfig):
            return NatsBus(config, self._nats_tls, publisher=self.service)
        return config

    async def stop(self) -> None:
        """Stop subscribers, flush what the drainer can within ``stop_timeout``, close everything."""
        self._ready = False
        subscribers, self._subscribers = self._subscribers, None
        if subscribers is not None:
            await subscribers.stop()
        drainer, self._drainer = self._drainer, None
        if drainer is not None:
            await drainer.stop()
            await self._flush(drainer)
        bus, self._bus = self._bus, None
        if bus is not None:
            await bus.close()
        outbox, self._outbox = self._outbox, None
        if outbox is not None:
            await asyncio.to_thread(outbox.close)
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            await asyncio.to_thread(embedded.release)

    async def _flush(self, drainer: Drainer) -> None:
        end = time.monotonic() + self._stop_timeout
        with contextlib.suppress(Exception):
            while time.monotonic() < end:
                claimed = await asyncio.wait_for(drainer.drain_once(), end - time.monotonic())
                if not claimed:
                    return

    # -- publishing ----------------------------------------------------------------------------

    async def publish(
        self,
        event: EventType,
        *,
        idempotency_key: str | None = None,
        partition_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
        fire_and_forget: bool = False,
        event_id: str | None = None,
    ) -> str:
        """Store ``event`` in the outbox and return its id (UUIDv7) once durable.

        ``fire_and_forget`` returns before the commit (a crash may lose the event).
        ``event_id`` replaces the generated id: a publisher that may publish the same event again
        (a retried step) gives the same id each time, so subscribers see one event id.
        Raises InvalidEventNameError, OutboxFullError, ValidationError (reserved header names,
        a malformed event id).
        """
        outbox = self._outbox
        if outbox is None:
            raise StateError("publish before start(): await start() first")
        cls = type(event)
        name = self._event_names.get(cls)
        if name is None:  # checked once per class: publish is hot
            check_event(event)
            name = self._event_names[cls] = validate_name(cls.EVENT_NAME)
            self._message_types.setdefault(name, cls.PROTO)
        if headers:
            reserved = [key for key in headers if is_reserved_header(key)]
            if reserved:
                raise ValidationError(f"header names reserved by the event envelope: {reserved}")
        occurred_ms = (
            int(occurred_at.timestamp() * 1000) if occurred_at else time.time_ns() // 1_000_000
        )
        if event_id is None:
            event_id = new_event_id()
        elif not _EVENT_ID.fullmatch(event_id):
            raise ValidationError(
                f"event_id {event_id!r}: use 1 to 128 letters, digits or '.-_:' (e.g. a UUID)"
            )
        with self._telemetry.publish(name, event_id) as published:
            payload = event.to_proto().SerializeToString()
            form, encoded = header_form(
                event_id,
                occurred_ms,
                idempotency_key=idempotency_key or "",
                partition_key=partition_key or "",
                contract_hash=cls.CONTRACT_HASH,
                trace_headers=published.headers(),
                headers=headers,
            )
            await outbox.add_row(
                event_id, name, form, encoded, payload, durable=not fire_and_forget
            )
        return event_id

    # -- subscribing ---------------------------------------------------------------------------

    def register(self, *event_classes: type[EventType]) -> None:
        """Make the message types of these events known, so pattern filters can read them."""
        for cls in event_classes:
            self._message_types[validate_name(cls.EVENT_NAME)] = cls.PROTO

    @overload
    def subscribe(
        self,
        event: type[E],
        handler: Callable[[E, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None: ...

    @overload
    def subscribe(
        self,
        event: str,
        handler: Callable[[EventEnvelope, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None: ...

    def subscribe(
        self,
        event: type[EventType] | str,
        handler: Callable[[Any, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None:
        """Run ``handler`` for every event of this class, or every event matching a pattern.

        ``filter`` (``{"$.currency": "EUR"}``) delivers only matching payloads; ``dedupe`` skips
        event ids this subscription already handled; ``name`` tells apart two subscriptions with
        the same pattern and filter. Subscribe before ``start()``.
        """
        if self.started:
            raise StateError("subscribe before start()")
        event_cls: type[EventType] | None = None
        if isinstance(event, str):
            pattern = compile_pattern(event)
        else:
            event_cls = event
            pattern = compile_pattern(validate_name(event.EVENT_NAME))
            self._message_types.setdefault(pattern.text, event.PROTO)
        durable = Subscription.durable_name(self._group, pattern, dict(filter or {}), name)
        if any(s.spec.durable == durable for s in self._pending):
            raise ConfigError(
                f"{self.service} already subscribes to {pattern.text!r} with this filter: "
                "pass name= to tell the two subscriptions apart"
            )
        spec = ConsumerSpec(
            group=self._group,
            pattern=pattern,
            durable=durable,
            # One above max_attempts: the server's backstop if the last attempt's DLQ write fails.
            max_deliver=self._settings.max_attempts + 1,
            ack_wait=self._settings.ack_wait,
        )
        self._pending.append(
            Subscription(
                pattern=pattern,
                handler=handler,
                event_cls=event_cls,
                filter=PayloadFilter.parse(filter) if filter else None,
                dedupe=dedupe,
                spec=spec,
            )
        )

    # -- admin ---------------------------------------------------------------------------------

    @property
    def outbox(self) -> OutboxAdmin:
        if self._outbox is None:
            raise StateError("the outbox is open only between start() and stop()")
        return OutboxAdmin(self._outbox)

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise StateError("the bus is connected only between start() and stop()")
        return self._bus

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters on the bus (every group's)."""
        return await self.bus.dead_letters(limit)
