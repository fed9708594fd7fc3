"""Semantics both event backends must share, run against each: the in-process bus and real NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.memory_bus import MemoryBus
from tests.events.conftest import Factory, runtime_factory
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until


@pytest.fixture(params=["memory", "nats"])
async def runtimes(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Factory]:
    events: Any = (
        MemoryBus() if request.param == "memory" else request.getfixturevalue("nats_server").url
    )
    async with runtime_factory(tmp_path, events, retry_ladder=(0.02, 0.05)) as make:
        yield make


async def test_exhausted_attempts_go_to_the_dead_letter_queue(runtimes: Factory) -> None:
    attempts: list[int] = []

    async def broken(event: OrderPlaced, ctx: EventContext) -> None:
        attempts.append(ctx.attempt)
        raise ValueError("card declined")

    consumer = runtimes("broken", max_attempts=3)
    consumer.subscribe(OrderPlaced, broken)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    event_id = await publisher.publish(OrderPlaced(order_id="o-1"), headers={"tenant": "acme"})

    async def dead() -> bool:
        return len(await consumer.dead_letters()) == 1

    await wait_until(dead)
    await asyncio.sleep(0.3)  # nothing more arrives once the event is dead-lettered
    [letter] = await consumer.dead_letters()
    assert attempts == [1, 2, 3]
    assert letter.envelope.id == event_id
    assert letter.envelope.decode(OrderPlaced).order_id == "o-1"
    assert (letter.reason, letter.attempts, letter.group) == (
        "ValueError: card declined",
        3,
        "broken",
    )
    assert letter.headers["tenant"] == "acme"
    assert letter.pattern == "order.placed"


async def test_a_handler_sees_the_publishing_service(runtimes: Factory) -> None:
    publishers: list[str] = []

    async def record(event: OrderPlaced, ctx: EventContext) -> None:
        publishers.append(ctx.publisher)

    async def record_any(envelope: EventEnvelope, ctx: EventContext) -> None:
        publishers.append(envelope.publisher)  # a pattern subscription sees it too

    consumer = runtimes("billing")
    consumer.subscribe(OrderPlaced, record)
    consumer.subscribe("order.#", record_any)
    await consumer.start()
    publisher = runtimes("orders")
    await publisher.start()
    await publisher.publish(OrderPlaced(order_id="o-1"))
    await wait_until(lambda: len(publishers) == 2)
    assert publishers == ["orders", "orders"]
