"""The JetStream backend against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from runtime_lib._events.bus import ConsumerSpec
from runtime_lib._events.context import EventContext
from runtime_lib._events.embedded import EmbeddedNats
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.names import compile_pattern
from runtime_lib._events.nats_bus import NatsBus
from runtime_lib._events.nats_config import NatsConfig
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._nats_server import NatsServer
from tests.events.conftest import Factory, runtime_factory
from tests.events.eventlib import OrderPaid, OrderPlaced, event_class
from tests.events.helpers import wait_until


@pytest.fixture
async def runtimes(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[Factory]:
    async with runtime_factory(tmp_path, nats_server.url, retry_ladder=(0.05, 0.1)) as make:
        yield make


async def test_round_trip_wildcards_and_fan_out(runtimes: Factory) -> None:
    got: list[tuple[str, str, str]] = []

    async def on_any(envelope: EventEnvelope, ctx: EventContext) -> None:
        got.append(("audit", ctx.pattern, envelope.name))

    async def on_paid(event: OrderPaid, ctx: EventContext) -> None:
        got.append(("billing", ctx.pattern, event.order_id))

    audit = runtimes("audit")
    audit.subscribe("order.#", on_any)
    await audit.start()
    billing = runtimes("billing")
    billing.subscribe(OrderPaid, on_paid)
    await billing.start()
    orders = runtimes("orders")
    await orders.start()
    await orders.publish(event_class("order")(order_id="bare"))
    await orders.publish(OrderPaid(order_id="o-1"))
    await orders.publish(event_class("shipping.sent")())
    await wait_until(lambda: len(got) == 3)
    await asyncio.sleep(0.2)
    assert sorted(got) == [
        ("audit", "order.#", "order"),
        ("audit", "order.#", "order.paid"),
        ("billing", "order.paid", "o-1"),
    ]


async def test_duplicate_publish_is_dropped_by_the_broker(runtimes: Factory) -> None:
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    consumer = runtimes("once")
    consumer.subscribe(OrderPlaced, handler, dedupe=True)
    await consumer.start()
    orders = runtimes("orders")
    await orders.start()
    await orders.publish(OrderPlaced(order_id="a"), idempotency_key="k")
    await orders.publish(OrderPlaced(order_id="b"), idempotency_key="k")
    await orders.publish(OrderPlaced(order_id="c"))
    await wait_until(lambda: len(got) == 2)
    await asyncio.sleep(0.3)
    # "a" and "c" are different events (each its own dedupe partition): they may run in either
    # order, and each handler first awaits its own KV lookup.
    assert sorted(got) == ["a", "c"]


async def test_consumer_dedupe_survives_redelivery(
    runtimes: Factory, nats_server: NatsServer
) -> None:
    got: list[str] = []

    async def handler(envelope: EventEnvelope, ctx: EventContext) -> None:
        got.append(envelope.id)

    consumer = runtimes("exactly")
    consumer.subscribe("order.placed", handler, dedupe=True)
    await consumer.start()
    envelope = EventEnvelope(
        id="0190a000-0000-7000-8000-000000000002",
        name="order.placed",
        payload=b"",  # an event whose fields are all defaults
        occurred_at_ms=0,
    )
    for key in ("a", "b"):  # the same event id under two broker message ids
        await consumer.bus.publish(
            EventEnvelope(**{**_fields(envelope), "idempotency_key": key}), 5.0
        )
    await wait_until(lambda: len(got) == 1)
    await asyncio.sleep(0.5)
    assert got == [envelope.id]


def _fields(envelope: EventEnvelope) -> dict[str, Any]:
    return {name: getattr(envelope, name) for name in EventEnvelope.__slots__}


async def test_embedded_server_is_shared_and_stopped_by_the_last_user(tmp_path: Path) -> None:
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    consumer = EventsRuntime(service="sink", data_dir=tmp_path, events="embedded")
    consumer.subscribe(OrderPlaced, handler)
    publisher = EventsRuntime(service="orders", data_dir=tmp_path, events="embedded")
    await consumer.start()
    await publisher.start()
    try:
        embedded = EmbeddedNats(tmp_path)
        url = embedded._running_url()
        assert url is not None
        await publisher.publish(OrderPlaced(order_id="e-1"))
        await wait_until(lambda: got == ["e-1"])
    finally:
        await publisher.stop()
        assert embedded._running_url() == url, "still used by the consumer"
        await consumer.stop()
    assert embedded._running_url() is None


async def test_nats_config_object(tmp_path: Path, nats_server: NatsServer) -> None:
    runtime = EventsRuntime(
        service="orders",
        data_dir=tmp_path,
        events=NatsConfig(url=nats_server.url, stream="CUSTOM_EVENTS", dlq_stream="CUSTOM_DLQ"),
    )
    await runtime.start()
    try:
        await runtime.publish(OrderPlaced(order_id="x"))
        assert await runtime.dead_letters() == []
    finally:
        await runtime.stop()


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.SB_EVENTS.sb_orders_0123.3.812.809.1764640000000000000.17",
        "$JS.ACK.hub.ACCHASH.SB_EVENTS.sb_orders_0123.4.812.809.1764640000000000000.17",
        "$JS.ACK.hub.ACCHASH.SB_EVENTS.sb_orders_0123.5.812.809.1764640000000000000.17.tok",
    ],
)
def test_attempt_is_the_delivery_count_of_every_ack_subject_form(reply: str) -> None:
    from nats.aio.msg import Msg

    from runtime_lib._events.pull_consumer import NatsDelivery

    msg = Msg(None, subject="sb.ev.order.placed.e", reply=reply)  # type: ignore[arg-type]
    envelope = EventEnvelope(id="e", name="order.placed", payload=b"", occurred_at_ms=0)
    assert NatsDelivery(msg, envelope).attempt == msg.metadata.num_delivered


async def test_a_fetch_cancelled_as_an_event_arrives_is_cancelled(nats_server: NatsServer) -> None:
    import nats
    from nats.aio.msg import Msg

    from runtime_lib._events.pull_consumer import NatsConsumer

    client = await nats.connect(nats_server.url)
    try:
        js = client.jetstream()
        await js.add_stream(name="CANCEL", subjects=["cancel.>"])
        await js.add_consumer("CANCEL", durable_name="reader")
        consumer = NatsConsumer(client, "CANCEL", "reader")
        await consumer.open()
        fetch = asyncio.create_task(consumer.fetch(1, 60.0))
        await wait_until(lambda: consumer._wakeup is not None or fetch.done(), what="the fetch")
        assert not fetch.done()
        await consumer._arrived(Msg(client, subject="cancel.x", data=b"x"))
        fetch.cancel()  # in the same turn as the arrival
        await asyncio.wait({fetch}, timeout=30)
        assert fetch.cancelled()  # a swallowed cancel kept the subscriber's fetch loop alive
        await consumer.close()
    finally:
        await client.close()


def test_pub_ack_results() -> None:
    from types import SimpleNamespace

    import nats.js.errors

    from runtime_lib._events.bus import PublishRejected
    from runtime_lib._events.pub_acks import pub_ack_result as _pub_ack_result

    def ack(data: bytes, headers: dict[str, str] | None = None) -> Any:
        return SimpleNamespace(data=data, headers=headers)

    assert _pub_ack_result(ack(b'{"stream":"SB_EVENTS","seq":7}')) is None
    assert _pub_ack_result(ack(b'{"stream":"SB_EVENTS","seq":7,"duplicate":true}')) is None
    assert _pub_ack_result(ack(b'{"seq":7,"stream":"SB_EVENTS"}')) is None  # any key order
    bad = b'{"error":{"code":400,"err_code":10054,"description":"maximum payload exceeded"}}'
    assert isinstance(_pub_ack_result(ack(bad)), PublishRejected)
    busy = b'{"error":{"code":503,"description":"jetstream not ready"}}'
    result = _pub_ack_result(ack(busy))
    assert isinstance(result, nats.js.errors.APIError) and not isinstance(result, PublishRejected)
    none = _pub_ack_result(ack(b"", {"Status": "503"}))
    assert isinstance(none, nats.js.errors.NoStreamResponseError)


async def test_consumer_fetch_batches_bounds_and_stale_statuses(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """One pull request per fetch: what is there comes at once (never more than asked), an
    empty fetch waits for the first event, and the end of an earlier, expired request does not
    cut a later fetch short."""
    import time

    from runtime_lib._events.bus import ConsumerSpec
    from runtime_lib._events.names import compile_pattern
    from runtime_lib._events.nats_bus import NatsBus

    bus = NatsBus(NatsConfig(url=nats_server.url))
    await bus.connect()
    try:
        pattern = compile_pattern("fetch.#")
        spec = ConsumerSpec("g", pattern, "sb_g_fetch", max_deliver=6, ack_wait=30.0)
        consumer = await bus.consumer(spec)

        def envelope(i: int) -> EventEnvelope:
            return EventEnvelope(id=f"f-{i}", name="fetch.it", payload=b"", occurred_at_ms=i)

        started = time.monotonic()
        assert await consumer.fetch(4, 0.2) == []  # expires: the 408 arrives after this
        assert time.monotonic() - started >= 0.19
        for i in range(5):
            await bus.publish(envelope(i), 5.0)
        first = await consumer.fetch(3, 5.0)
        assert [d.envelope.id for d in first] == ["f-0", "f-1", "f-2"]
        started = time.monotonic()
        rest = await consumer.fetch(10, 5.0)  # two there: no waiting for ten
        assert [d.envelope.id for d in rest] == ["f-3", "f-4"]
        assert time.monotonic() - started < 1.0
        for delivery in first + rest:
            assert delivery.attempt == 1
            await delivery.ack()

        async def later() -> None:
            await asyncio.sleep(0.3)
            await bus.publish(envelope(9), 5.0)

        task = asyncio.create_task(later())
        started = time.monotonic()
        waited = await consumer.fetch(8, 5.0)
        await task
        assert [d.envelope.id for d in waited] == ["f-9"]
        assert 0.25 < time.monotonic() - started < 2.0
        await waited[0].nak(0.0)
        again = await consumer.fetch(8, 5.0)
        assert [(d.envelope.id, d.attempt) for d in again] == [("f-9", 2)]
        await again[0].ack()
        await consumer.close()
    finally:
        await bus.close()


async def test_consumers_and_events_from_before_subjects_named_the_publisher(
    nats_server: NatsServer,
) -> None:
    bus = NatsBus(NatsConfig(url=nats_server.url, name="billing"))
    await bus.connect()
    try:
        # A durable as the previous release made it, and an event it published.
        old = ConsumerConfig(
            name="billing-old",
            durable_name="billing-old",
            filter_subject="sb.ev.order.placed._",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.NEW,
        )
        await bus.js.add_consumer("SB_EVENTS", old)
        headers = {"sb-id": "e-old", "sb-name": "order.placed"}
        await bus.js.publish("sb.ev.order.placed._", b"", headers=headers)
        spec = ConsumerSpec(
            group="billing",
            pattern=compile_pattern("order.placed"),
            durable="billing-old",
            max_deliver=2,
            ack_wait=30.0,
        )
        consumer = await bus.consumer(spec)  # updated to the new filter, backlog kept
        try:
            deliveries = await consumer.fetch(1, 30.0)
            assert [(d.envelope.id, d.envelope.publisher) for d in deliveries] == [("e-old", "")]
        finally:
            await consumer.close()
    finally:
        await bus.close()


async def test_an_event_whose_header_contradicts_its_subject_is_dropped(
    nats_server: NatsServer,
) -> None:
    bus = NatsBus(NatsConfig(url=nats_server.url, name="billing"))
    await bus.connect()
    try:
        spec = ConsumerSpec(
            group="billing",
            pattern=compile_pattern("order.#"),
            durable="billing-orders",
            max_deliver=2,
            ack_wait=30.0,
        )
        consumer = await bus.consumer(spec)
        try:
            # Permitted subject (payment may publish payment.done), another event in the header.
            forged = {"sb-id": "e-forged", "sb-name": "order.paid"}
            await bus.js.publish("sb.ev.order.placed.payment", b"", headers=forged)
            honest = {"sb-id": "e-honest", "sb-name": "order.placed"}
            await bus.js.publish("sb.ev.order.placed.orders", b"", headers=honest)
            delivered: list[tuple[str, str]] = []
            while not delivered:
                delivered += [
                    (d.envelope.id, d.envelope.publisher) for d in await consumer.fetch(2, 30.0)
                ]
            assert delivered == [("e-honest", "orders")]
        finally:
            await consumer.close()
    finally:
        await bus.close()
