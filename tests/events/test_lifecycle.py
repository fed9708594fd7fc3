"""bridge.on(...) connection callbacks against a real nats-server, and event failure logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime_lib import Bridge, ConnectionEvent, NatsKvRegistry
from runtime_lib._errors import ConfigError
from runtime_lib._events.config import EventsConfig
from runtime_lib._events.context import EventContext
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._nats_server import NatsServer
from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until


def _story(seen: list[ConnectionEvent], connection: str) -> list[tuple[str, int, str]]:
    return [(e.event, e.attempt, e.reason) for e in seen if e.connection == connection]


async def test_broker_and_registry_report_connected_reconnecting_disconnected(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    seen: list[ConnectionEvent] = []
    awaited: list[ConnectionEvent] = []

    async def async_callback(event: ConnectionEvent) -> None:
        awaited.append(event)

    bridge = Bridge(
        "orders",
        registry=NatsKvRegistry(nats_server.url),
        events=nats_server.url,
        data_dir=tmp_path,
    )
    bridge.on("connected", seen.append)
    bridge.on("reconnecting", seen.append)
    bridge.on("disconnected", seen.append)
    bridge.on("disconnected", async_callback)  # coroutine functions are run too
    bridge.subscribe(OrderPlaced, _ignore)  # so start() connects the broker
    await bridge.start()
    try:
        for connection in ("events", "registry"):
            assert _story(seen, connection) == [("connected", 0, "")]
        assert {(e.service_name, e.url) for e in seen} == {("orders", nats_server.url)}

        nats_server.stop()
        await wait_until(
            lambda: all(
                ("reconnecting", 1, "connection lost") in _story(seen, c)
                for c in ("events", "registry")
            ),
            what="both connections reconnecting",
        )
        nats_server.start()
        await wait_until(
            lambda: all(_story(seen, c)[-1][0] == "connected" for c in ("events", "registry")),
            what="both connections back",
        )
    finally:
        await bridge.stop()
    for connection in ("events", "registry"):
        story = _story(seen, connection)
        assert story[:3] == [
            ("connected", 0, ""),
            ("disconnected", 0, "connection lost"),
            ("reconnecting", 1, "connection lost"),
        ]
        retries = story[3:-2]  # each failed attempt announces the next one, with why
        assert [attempt for _, attempt, _ in retries] == list(range(2, len(retries) + 2))
        assert all(event == "reconnecting" and reason for event, _, reason in retries)
        assert story[-2:] == [("connected", 0, ""), ("disconnected", 0, "closed")]
    await wait_until(lambda: len(awaited) == 4, what="the coroutine callback")
    assert awaited == [e for e in seen if e.event == "disconnected"]


async def _ignore(event: OrderPlaced, ctx: EventContext) -> None:
    return None


def test_on_names_the_events_it_knows() -> None:
    with pytest.raises(ConfigError, match="use one of connected, reconnecting, disconnected"):
        Bridge("orders").on("ready", print)  # type: ignore[call-overload]


async def test_failed_handler_and_dead_letter_are_logged_with_event_and_trace_id(
    tmp_path: Path, nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="runtime_lib.events")

    async def failing(event: OrderPlaced, ctx: EventContext) -> None:
        raise RuntimeError("card declined")

    telemetry = Telemetry("orders", TelemetryConfig(exporter="memory"))
    runtime = EventsRuntime(
        service="orders",
        data_dir=tmp_path,
        retry_ladder=(0.05,),
        telemetry=telemetry,
        events=EventsConfig(broker=nats_server.url, max_attempts=2),
    )
    runtime.subscribe(OrderPlaced, failing)
    await runtime.start()
    try:
        event_id = await runtime.publish(OrderPlaced(order_id="1"))
        await wait_until(
            lambda: any("dead-lettered" in r.getMessage() for r in caplog.records),
            what="the dead-letter log record",
        )
    finally:
        await runtime.stop()
    records = [r for r in caplog.records if getattr(r, "event_id", None) == event_id]
    failed = [r for r in records if "handler for order.placed failed" in r.getMessage()]
    dead = [r for r in records if "dead-lettered" in r.getMessage()]
    assert len(failed) == 2 and len(dead) == 1
    trace_ids = {getattr(r, "trace_id", "") for r in records}
    assert len(trace_ids) == 1 and len(trace_ids.pop()) == 32  # the publish's trace
    for record in records:
        assert record.name == "runtime_lib.events"
        assert event_id in record.getMessage() and record.trace_id in record.getMessage()  # type: ignore[attr-defined]
    assert "card declined" in dead[0].getMessage()
