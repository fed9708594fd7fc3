"""Runs every scenario of tests/reference/conformance/events.yaml against real NATS.

Event names and patterns in the file are relative: each scenario gets a fresh namespace prefix.
The callee subscribes with raw patterns (and filters), the caller publishes typed OrderEvent
events; a scenario passes when the callee's deliveries are exactly the expected ones.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format

from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._nats_server import NatsServer

REPO = Path(__file__).resolve().parents[2]
# tests/conformance is not a package, so the shared event test helpers need the repo root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.events.eventlib import OrderEventPb, OrderPlaced, event_class  # noqa: E402
from tests.events.helpers import wait_until  # noqa: E402

SCENARIOS = REPO / "tests" / "reference" / "conformance"
EVENTS_FILE = SCENARIOS / "events.yaml"


def _scenarios() -> list[Any]:
    data = yaml.safe_load(EVENTS_FILE.read_text())
    return [pytest.param(s, id=s["name"]) for s in data["scenarios"]]


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


def _delivery_matches(expected: dict[str, Any], got: dict[str, Any]) -> bool:
    return all(got.get(key) == value for key, value in expected.items())


@pytest.mark.parametrize("scenario", _scenarios())
async def test_events_scenario(scenario: dict[str, Any], nats: NatsServer, tmp_path: Path) -> None:
    ns = f"c{uuid.uuid4().hex[:10]}"
    classes: dict[str, type[OrderPlaced]] = {
        name: event_class(f"{ns}.{name}") for name in scenario["caller"]["events"]
    }
    deliveries: list[dict[str, Any]] = []

    def record(pattern: str) -> Any:
        async def handler(envelope: EventEnvelope, ctx: EventContext) -> None:
            payload = json_format.MessageToDict(OrderEventPb.FromString(envelope.payload))
            deliveries.append(
                {
                    **payload,
                    "pattern": pattern,
                    "event": envelope.name.removeprefix(f"{ns}."),
                    "matched": ctx.pattern,
                }
            )

        return handler

    callee = EventsRuntime(service=f"callee-{ns}", data_dir=tmp_path / "callee", events=nats.url)
    callee.register(*classes.values())
    for sub in scenario["callee"]["subscriptions"]:
        callee.subscribe(f"{ns}.{sub['pattern']}", record(sub["pattern"]), filter=sub.get("filter"))
    caller = EventsRuntime(service=f"caller-{ns}", data_dir=tmp_path / "caller", events=nats.url)
    await callee.start()
    await caller.start()
    try:
        for step in scenario["steps"]:
            if "publish" in step:
                publish = step["publish"]
                message = json_format.ParseDict(publish.get("payload", {}), OrderEventPb())
                cls = classes[publish["event"]]
                await caller.publish(cls.from_proto(message))
            elif "deliveries" in step:
                expected: list[dict[str, Any]] = step["deliveries"]
                count = len(expected)
                await wait_until(
                    lambda n=count: len(deliveries) >= n,  # type: ignore[misc]
                    what=f"{count} deliveries",
                )
                # Give stray or duplicate deliveries a moment to show up before counting.
                await asyncio.sleep(0.3)
                assert len(deliveries) == len(expected), deliveries
                unmatched = list(deliveries)
                for want in expected:
                    hit = next((d for d in unmatched if _delivery_matches(want, d)), None)
                    assert hit is not None, f"no delivery matches {want}: {deliveries}"
                    assert hit["matched"] == f"{ns}.{want['pattern']}"
                    unmatched.remove(hit)
                deliveries.clear()
            else:
                pytest.fail(f"unknown step {step}")
    finally:
        await caller.stop()
        await callee.stop()
