"""Events through the Bridge: publish, subscribe and the outbox delegate to its EventsRuntime."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_lib._bridge import Bridge
from runtime_lib._errors import ConfigError, StateError
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.memory_bus import MemoryBus
from runtime_lib._events.runtime import EventsRuntime
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_drained, wait_until


async def test_bridge_publish_and_subscribe(tmp_path: Path) -> None:
    bus = MemoryBus()
    typed: list[OrderPlaced] = []
    raw: list[str] = []

    async def on_order(event: OrderPlaced, ctx: EventContext) -> None:
        typed.append(event)

    async def on_any(envelope: EventEnvelope, ctx: EventContext) -> None:
        raw.append(envelope.name)

    notifications = Bridge("notifications", data_dir=tmp_path / "n", events=bus)
    notifications.subscribe(OrderPlaced, on_order)
    notifications.subscribe("order.#", on_any)
    orders = Bridge("orders", data_dir=tmp_path / "o", events=bus)
    async with notifications, orders:
        assert not orders.events.started, "no subscriptions, no backlog: events start lazily"
        event_id = await orders.publish(OrderPlaced(order_id="o-1", amount=42.0))
        await wait_until(lambda: len(typed) == 1 and raw == ["order.placed"])
        assert typed == [OrderPlaced(order_id="o-1", amount=42.0)]
        assert event_id
        await wait_drained(orders.outbox)
        with pytest.raises(ConfigError):
            notifications.subscribe("late.*", on_any)
    assert not orders.events.started and not notifications.events.started


async def test_bridge_without_events_use_starts_nothing(tmp_path: Path) -> None:
    bridge = Bridge("rpc-only", data_dir=tmp_path)
    async with bridge:
        assert not bridge.events.started
    assert not (tmp_path / "nats").exists()
    with pytest.raises(StateError):
        await bridge.publish(OrderPlaced())


async def test_memory_events_are_shared_by_bridges_on_one_loop(tmp_path: Path) -> None:
    got: list[str] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append(event.order_id)

    sink = Bridge("sink", data_dir=tmp_path / "s", events="memory")
    sink.subscribe(OrderPlaced, handler)
    source = Bridge("source", data_dir=tmp_path / "p", events="memory")
    async with sink, source:
        await source.publish(OrderPlaced(order_id="m-1"))
        await wait_until(lambda: got == ["m-1"])


async def test_publishing_before_start_is_a_state_error_in_bridge_and_runtime(
    tmp_path: Path,
) -> None:
    """One answer for "too early": the Bridge and the EventsRuntime under it both say STATE."""
    event = OrderPlaced(order_id="o-1", amount=1.0)
    bridge = Bridge("orders", data_dir=tmp_path / "b", events=MemoryBus())
    with pytest.raises(StateError, match=r"start\(\) before publish"):
        await bridge.publish(event)
    runtime = EventsRuntime(service="orders", data_dir=tmp_path / "r", events=MemoryBus())
    with pytest.raises(StateError, match=r"publish before start"):
        await runtime.publish(event)
