"""Jobs through the Bridge: a job that calls a generated client's method over real gRPC, one that
publishes an event, a span per execution joined to what it calls, and the job metrics."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import runtime_lib as sb
from runtime_lib._jobs import JobContext, call, publish
from tests.events.eventlib import OrderPlaced
from tests.jobs.helpers import until

# The generated Echo service of the RPC tests, built by their own helper.
sys.path.insert(0, str(Path(__file__).parents[1] / "runtime"))
echo_service: Any = importlib.import_module("echo_service")


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    yield echo_service.load(echo_service.build(tmp_path_factory.mktemp("echo-jobs")))


def _memory() -> sb.TelemetryConfig:
    return sb.TelemetryConfig(exporter="memory")


async def test_a_job_calls_a_client_method_with_its_idempotency_key(
    echo: ModuleType, tmp_path: Path
) -> None:
    pb = sys.modules["echo_pkg.echo_pb2"]
    handler = echo_service.make_handler(echo)
    server = sb.Bridge("callee", data_dir=tmp_path / "callee")
    server.serve(handler)
    caller = sb.Bridge("caller", events="memory", data_dir=tmp_path / "caller", telemetry=_memory())
    async with server:
        client: Any = caller.client(echo.CalleeClient, address=server.address)
        caller.jobs.add("ping", call(client.info, pb.Echo(text="hi")))
        async with caller:
            slot = await caller.jobs.trigger("ping")
            await until(lambda: handler.served["info"] == 1)
            await until(lambda: bool(caller.telemetry.memory.metrics().get("sb.jobs.succeeded")))
            [info] = await caller.jobs.list()
    # The server saw the job's stable idempotency key.
    assert handler.contexts[0].idempotency_key == f"ping:{slot}"
    assert info.name == "ping" and info.trigger == "when scheduled"
    assert info.last_result is not None and info.last_result.ok

    spans = caller.telemetry.memory.spans()
    [job_span] = [s for s in spans if s.name == "job ping"]
    calls = [
        s for s in spans if s.parent is not None and s.parent.span_id == job_span.context.span_id
    ]
    assert calls, "the client call is not a child of the job's span"
    assert job_span.attributes is not None
    assert job_span.attributes["sb.job.idempotency_key"] == f"ping:{slot}"
    metrics = caller.telemetry.memory.metrics()
    for name in ("sb.jobs.fired", "sb.jobs.succeeded", "sb.jobs.lag"):
        assert metrics.get(name), name


async def test_a_job_publishes_an_event(tmp_path: Path) -> None:
    bridge = sb.Bridge("orders", events="memory", data_dir=tmp_path, telemetry=_memory())
    got: list[tuple[OrderPlaced, str | None]] = []

    async def on_order(event: OrderPlaced, ctx: sb.EventContext) -> None:
        got.append((event, ctx.envelope.idempotency_key))

    bridge.subscribe(OrderPlaced, on_order)
    bridge.jobs.add(
        "announce", publish(bridge, lambda ctx: OrderPlaced(order_id=ctx.idempotency_key))
    )
    async with bridge:
        slot = await bridge.jobs.trigger("announce")
        await until(lambda: len(got) == 1)
    event, key = got[0]
    assert event.order_id == key == f"announce:{slot}"


async def test_failures_and_retries_are_counted(tmp_path: Path) -> None:
    bridge = sb.Bridge("svc", events="memory", data_dir=tmp_path, telemetry=_memory())
    calls: list[int] = []

    @bridge.job("flaky", max_attempts=2, retry=sb.JobRetry("1ms", "1ms", 1, 0))
    async def flaky(ctx: JobContext) -> None:
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    async with bridge:
        await bridge.jobs.trigger("flaky")
        await until(lambda: bool(bridge.telemetry.memory.metrics().get("sb.jobs.succeeded")))
        metrics = bridge.telemetry.memory.metrics()
    assert calls == [1, 2]
    assert [point.value for _, point in metrics["sb.jobs.failed"]] == [1]
    assert [point.value for _, point in metrics["sb.jobs.retried"]] == [1]
    spans = [s for s in bridge.telemetry.memory.spans() if s.name == "job flaky"]
    assert [s.status.is_ok for s in spans] == [False, True]


def test_duplicate_job_name_fails_at_registration() -> None:
    bridge = sb.Bridge("svc", events="memory")

    @bridge.job("nightly", cron="0 3 * * *", tz="Europe/Berlin")
    async def nightly(ctx: JobContext) -> None: ...

    with pytest.raises(sb.ConfigError, match="job 'nightly': name"):
        bridge.job("nightly", interval="1h")(nightly)
    with pytest.raises(sb.ConfigError, match="job 'other': tz"):
        bridge.job("other", cron="0 3 * * *", tz="Berlin/Europe")(nightly)


async def test_jobs_live_on_the_embedded_broker_by_default(tmp_path: Path) -> None:
    bridge = sb.Bridge("svc", data_dir=tmp_path)
    runs: list[str] = []

    @bridge.job("remind")
    async def remind(ctx: JobContext) -> None:
        runs.append(ctx.payload["user"])

    async with bridge:
        await bridge.jobs.schedule("remind", at="10ms", payload={"user": "u-1"})
        await until(lambda: runs == ["u-1"])
    # The one-shot was stored in the embedded nats-server's JetStream, under data_dir.
    assert any((tmp_path / "nats" / "store").rglob("*sb_jobs*"))
