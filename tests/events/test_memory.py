"""EventsRuntime semantics on the in-process bus (real SQLite outbox under tmp_path)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime_lib._errors import InvalidEventNameError, ValidationError
from runtime_lib._events.bus import ConsumerSpec
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.memory_bus import MemoryBus
from runtime_lib._events.names import compile_pattern
from tests.events.conftest import Factory, runtime_factory
from tests.events.eventlib import OrderPaid, OrderPlaced, event_class
from tests.events.helpers import wait_until

FAST = {"retry_ladder": (0.01, 0.02), "drain_ladder": (0.05,)}


@pytest.fixture
async def runtimes(tmp_path: Path, memory_bus: MemoryBus) -> AsyncIterator[Factory]:
    async with runtime_factory(tmp_path, memory_bus, **FAST) as make:
        yield make


async def test_typed_publish_reaches_typed_handler_with_context(runtimes: Factory) -> None:
    got: list[tuple[OrderPlaced, EventContext]] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append((event, ctx))

    consumer = runtimes("billing")
    consumer.subscribe(OrderPlaced, handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    event_id = await publisher.publish(
        OrderPlaced(order_id="o-1", amount=42.5, currency="EUR"),
        idempotency_key="order:o-1",
        partition_key="customer-7",
        headers={"tenant": "acme"},
        occurred_at=when,
    )
    await wait_until(lambda: len(got) == 1, what="delivery")
    event, ctx = got[0]
    assert event == OrderPlaced(order_id="o-1", amount=42.5, currency="EUR")
    assert ctx.event_id == event_id
    assert ctx.name == "order.placed"
    assert ctx.attempt == 1
    assert ctx.headers == {"tenant": "acme"}
    assert ctx.occurred_at == when
    assert ctx.pattern == "order.placed"
    assert ctx.partition_key == "customer-7"
    assert ctx.idempotency_key == "order:o-1"
    assert ctx.envelope.contract_hash == OrderPlaced.CONTRACT_HASH


async def test_pattern_handler_gets_envelope_and_decodes(runtimes: Factory) -> None:
    got: list[tuple[str, OrderPlaced, str]] = []

    async def handler(envelope: EventEnvelope, ctx: EventContext) -> None:
        got.append((envelope.name, envelope.decode(OrderPlaced), ctx.pattern))

    consumer = runtimes("audit")
    consumer.subscribe("order.#", handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(event_class("order")(order_id="zero-segments"))
    await publisher.publish(OrderPaid(order_id="o-2"))
    await publisher.publish(event_class("orders.other")(order_id="not-mine"))
    await wait_until(lambda: len(got) == 2, what="two deliveries")
    await asyncio.sleep(0.1)
    assert sorted(got) == [
        ("order", OrderPlaced(order_id="zero-segments"), "order.#"),
        ("order.paid", OrderPlaced(order_id="o-2"), "order.#"),
    ]


async def test_one_event_two_patterns_runs_each_handler_once(runtimes: Factory) -> None:
    calls: list[str] = []

    async def wildcard(envelope: EventEnvelope, ctx: EventContext) -> None:
        calls.append(ctx.pattern)

    async def exact(event: OrderPaid, ctx: EventContext) -> None:
        calls.append(ctx.pattern)

    consumer = runtimes("notifications")
    consumer.subscribe("order.*", wildcard)
    consumer.subscribe(OrderPaid, exact)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPaid(order_id="o-2"))
    await wait_until(lambda: len(calls) == 2)
    await asyncio.sleep(0.1)
    assert sorted(calls) == ["order.*", "order.paid"]


async def test_every_service_gets_every_event_and_instances_share(runtimes: Factory) -> None:
    seen: dict[str, list[str]] = {"a1": [], "a2": [], "b": []}

    def recorder(key: str) -> Callable[[OrderPlaced, EventContext], Any]:
        async def handler(event: OrderPlaced, ctx: EventContext) -> None:
            seen[key].append(event.order_id)
            await asyncio.sleep(0.001)

        return handler

    for instance in ("a1", "a2"):
        runtime = runtimes("svc-a")  # same data_dir: the second instance takes outbox slot 1
        runtime.subscribe(OrderPlaced, recorder(instance))
        await runtime.start()
    service_b = runtimes("svc-b")
    service_b.subscribe(OrderPlaced, recorder("b"))
    await service_b.start()
    publisher = runtimes("orders")
    await publisher.start()
    ids = [f"o-{i}" for i in range(200)]
    await asyncio.gather(*(publisher.publish(OrderPlaced(order_id=i)) for i in ids))
    await wait_until(lambda: len(seen["b"]) == 200 and len(seen["a1"]) + len(seen["a2"]) == 200)
    await asyncio.sleep(0.1)
    assert sorted(seen["b"]) == sorted(ids)
    assert sorted(seen["a1"] + seen["a2"]) == sorted(ids)
    assert seen["a1"] and seen["a2"], "both instances of svc-a took a share"


async def test_filter_delivers_only_matching_payloads(runtimes: Factory) -> None:
    typed: list[str] = []
    raw: list[str] = []

    async def on_typed(event: OrderPlaced, ctx: EventContext) -> None:
        typed.append(event.order_id)

    async def on_raw(envelope: EventEnvelope, ctx: EventContext) -> None:
        raw.append(envelope.decode(OrderPlaced).order_id)

    consumer = runtimes("eu-desk")
    consumer.register(OrderPlaced)
    consumer.subscribe(OrderPlaced, on_typed, filter={"$.currency": "EUR"})
    consumer.subscribe("order.*", on_raw, filter={"$.currency": "EUR"})
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPlaced(order_id="usd-1", currency="USD"))
    await publisher.publish(OrderPlaced(order_id="eur-1", currency="EUR"))
    await wait_until(lambda: typed == ["eur-1"] and raw == ["eur-1"])


async def test_handler_error_is_retried_then_succeeds(runtimes: Factory) -> None:
    attempts: list[int] = []

    async def flaky(event: OrderPlaced, ctx: EventContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("not yet")

    consumer = runtimes("flaky", max_attempts=5)
    consumer.subscribe(OrderPlaced, flaky)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPlaced(order_id="o-1"))
    await wait_until(lambda: attempts == [1, 2, 3])
    await asyncio.sleep(0.1)
    assert attempts == [1, 2, 3]
    assert await consumer.dead_letters() == []


async def test_reject_dead_letters_at_once_and_retry_redelivers(runtimes: Factory) -> None:
    attempts: dict[str, list[int]] = {"reject": [], "retry": []}

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        attempts[event.order_id].append(ctx.attempt)
        if event.order_id == "reject":
            ctx.reject("bad order")
        elif ctx.attempt == 1:
            ctx.retry(0.01)

    consumer = runtimes("decider", max_attempts=5)
    consumer.subscribe(OrderPlaced, handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPlaced(order_id="reject"))
    await publisher.publish(OrderPlaced(order_id="retry"))

    async def done() -> bool:
        return attempts["retry"] == [1, 2] and len(await consumer.dead_letters()) == 1

    await wait_until(done)
    [letter] = await consumer.dead_letters()
    assert (letter.reason, letter.attempts) == ("bad order", 1)
    assert attempts["reject"] == [1]


async def test_same_partition_key_runs_one_at_a_time_in_order(runtimes: Factory) -> None:
    order: dict[str, list[int]] = {"k1": [], "k2": []}
    running: dict[str, int] = {"k1": 0, "k2": 0}
    overlap: list[str] = []

    async def handler(envelope: EventEnvelope, ctx: EventContext) -> None:
        key = ctx.partition_key
        running[key] += 1
        if running[key] > 1:
            overlap.append(key)
        await asyncio.sleep(random.uniform(0, 0.003))
        order[key].append(int(envelope.decode(OrderPlaced).order_id))
        running[key] -= 1

    consumer = runtimes("ledger", max_in_flight=16)
    consumer.subscribe("order.placed", handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    for i in range(60):
        await publisher.publish(OrderPlaced(order_id=str(i)), partition_key=f"k{i % 2 + 1}")
    await wait_until(lambda: len(order["k1"]) + len(order["k2"]) == 60)
    assert overlap == []
    assert order["k1"] == sorted(order["k1"]) and len(order["k1"]) == 30
    assert order["k2"] == sorted(order["k2"]) and len(order["k2"]) == 30


async def test_in_flight_is_bounded(runtimes: Factory) -> None:
    running = 0
    peak = 0
    done = 0

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        done += 1

    consumer = runtimes("bounded", max_in_flight=4)
    consumer.subscribe(OrderPlaced, handler)
    consumer.subscribe("order.*", lambda e, c: handler(e.decode(OrderPlaced), c))
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await asyncio.gather(*(publisher.publish(OrderPlaced(order_id=str(i))) for i in range(40)))
    await wait_until(lambda: done == 80)
    assert 1 < peak <= 4


async def test_broker_dedupes_by_idempotency_key(runtimes: Factory, memory_bus: MemoryBus) -> None:
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    consumer = runtimes("once")
    consumer.subscribe(OrderPlaced, handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPlaced(order_id="first"), idempotency_key="same")
    await publisher.publish(OrderPlaced(order_id="second"), idempotency_key="same")
    await publisher.publish(OrderPlaced(order_id="third"))
    await wait_until(lambda: len(got) == 2)
    await asyncio.sleep(0.1)
    assert got == ["first", "third"]


async def test_consumer_dedupe_by_event_id(runtimes: Factory, memory_bus: MemoryBus) -> None:
    plain: list[str] = []
    deduped: list[str] = []

    async def on_plain(envelope: EventEnvelope, ctx: EventContext) -> None:
        plain.append(envelope.id)

    async def on_deduped(envelope: EventEnvelope, ctx: EventContext) -> None:
        deduped.append(envelope.id)

    consumer = runtimes("exactly")
    consumer.subscribe("order.placed", on_plain)
    consumer.subscribe("order.placed", on_deduped, dedupe=True, name="deduped")
    await consumer.start()
    payload = OrderPlaced(order_id="o-1").to_proto().SerializeToString()
    # The same event reaching the bus twice under different message ids: a redelivery.
    for key in ("a", "b"):
        envelope = EventEnvelope(
            id="0190a000-0000-7000-8000-000000000001",
            name="order.placed",
            payload=payload,
            occurred_at_ms=0,
            idempotency_key=key,
        )
        await memory_bus.publish(envelope, 1.0)
    await wait_until(lambda: len(plain) == 2 and len(deduped) == 1)
    await asyncio.sleep(0.1)
    assert len(deduped) == 1


async def test_fire_and_forget_returns_an_id_and_still_delivers(runtimes: Factory) -> None:
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(ctx.event_id)

    consumer = runtimes("ff")
    consumer.subscribe(OrderPlaced, handler)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    ids = [
        await publisher.publish(OrderPlaced(order_id=str(i)), fire_and_forget=True)
        for i in range(50)
    ]
    await wait_until(lambda: len(got) == 50)
    assert sorted(got) == sorted(ids)


async def test_bad_names_and_reserved_headers_are_refused(runtimes: Factory) -> None:
    publisher = runtimes("orders")
    await publisher.start()
    with pytest.raises(InvalidEventNameError):
        await publisher.publish(event_class("Order.Placed")(order_id="x"))
    with pytest.raises(ValidationError):
        await publisher.publish(OrderPlaced(), headers={"sb-id": "forged"})
    with pytest.raises(InvalidEventNameError):
        runtimes("x").subscribe("order.>", lambda e, c: asyncio.sleep(0))


async def test_bus_dedupe_window_keeps_recent_ids_and_forgets_expired_ones() -> None:
    def envelope(msg: str) -> EventEnvelope:
        return EventEnvelope(id=msg, name="order.placed", payload=b"", occurred_at_ms=0)

    bus = MemoryBus()
    for n in range(12_000):  # beyond the size at which the old code rebuilt its dict
        await bus.publish(envelope(f"id-{n}"), 1.0)
    await bus.publish(envelope("id-0"), 1.0)
    await bus.publish(envelope("id-11999"), 1.0)
    assert bus.published == 12_000

    forgetful = MemoryBus(duplicate_window=0.0)  # every id expires at once
    for _ in range(3):
        await forgetful.publish(envelope("same"), 1.0)
    assert forgetful.published == 3


async def test_a_fetch_cancelled_as_an_event_arrives_is_cancelled() -> None:
    bus = MemoryBus()
    spec = ConsumerSpec("g", compile_pattern("order.placed"), "g-cancel", 5, 30.0)
    consumer = await bus.consumer(spec)
    fetch = asyncio.create_task(consumer.fetch(1, 60.0))
    for _ in range(3):  # the fetch, then the wait inside it, reach their await
        await asyncio.sleep(0)
    assert not fetch.done()
    arriving = EventEnvelope(id="e-1", name="order.placed", payload=b"", occurred_at_ms=1)
    await bus.publish(arriving, 1.0)
    fetch.cancel()  # in the same turn as the arrival
    await asyncio.wait({fetch}, timeout=30)
    assert fetch.cancelled()  # a swallowed cancel kept the subscriber's fetch loop alive
