"""The checkout saga in one process: real gRPC on loopback, a real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import runtime_lib as sb
from runtime_lib.workflows import (
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowsConfig,
    WorkflowTerminalError,
)
from runtime_lib.workflows.dev_server import DevServer
from tests.workflows.helpers import sb_trace

ORDER = {"order_id": "o-1", "customer": "ada", "sku": "book", "quantity": 2, "amount_cents": 4200}


@pytest.fixture
async def checkout(
    app: SimpleNamespace, temporal: DevServer, services: dict[str, list[str]]
) -> AsyncIterator[sb.Bridge]:
    bridge = sb.Bridge(
        "checkout", registry=services, workflows=WorkflowsConfig(address=temporal.address)
    )
    bridge.workflows.register(app.saga.CHECKOUT)
    async with bridge:
        yield bridge


async def test_saga_completes_each_effect_once(checkout: sb.Bridge, ledger: Any) -> None:
    run_id = await checkout.workflows.start("checkout", ORDER)
    outputs = await checkout.workflows.await_result(run_id)
    assert outputs["ship"] == {"tracking_id": "t-o-1"}
    assert outputs["charge"] == {"transaction_id": "tx-o-1", "amount_cents": "4200"}
    assert set(outputs["placed"]) == {"event_id"}
    assert dict(ledger.counts) == {
        "reserve o-1": 1,
        "charge o-1": 1,
        "notify o-1": 1,
        "ship o-1": 1,
    }
    # wait_for: reserve first, ship after both of charge and notify.
    assert ledger.order[0] == "reserve o-1"
    assert ledger.order[3] == "ship o-1"
    status = await checkout.workflows.query(run_id)
    assert status.state == "completed"
    assert status.steps == dict.fromkeys(
        ["reserve", "charge", "notify", "ship", "placed"], "completed"
    )


async def test_failed_ship_compensates_charge_then_reserve_once(
    checkout: sb.Bridge, ledger: Any
) -> None:
    run_id = await checkout.workflows.start("checkout", {**ORDER, "quantity": 500})
    with pytest.raises(WorkflowFailedError, match=r"step 'ship' failed: TOO_HEAVY"):
        await checkout.workflows.await_result(run_id)
    undo = [e for e in ledger.order if e.startswith(("refund", "release"))]
    assert undo == ["refund o-1", "release o-1"]  # reverse order of completion, each once
    assert "ship o-1" not in ledger.counts
    status = await checkout.workflows.query(run_id)
    assert status.state == "failed"
    assert status.steps["ship"] == "failed"
    assert status.steps["charge"] == status.steps["reserve"] == "compensated"
    assert status.steps["notify"] == "completed"  # no compensation declared
    assert status.steps["placed"] == "pending"


async def test_unknown_run_and_finished_run_errors(checkout: sb.Bridge) -> None:
    with pytest.raises(WorkflowNotFoundError):
        await checkout.workflows.query("no-such-run")
    with pytest.raises(WorkflowNotFoundError):
        await checkout.workflows.start("no-such-workflow", {})
    run_id = await checkout.workflows.start("checkout", ORDER)
    await checkout.workflows.await_result(run_id)
    with pytest.raises(sb.ConflictError, match="a run with this id exists"):
        await checkout.workflows.start("checkout", ORDER, run_id=run_id)
    with pytest.raises(WorkflowTerminalError):
        await checkout.workflows.cancel(run_id)
    with pytest.raises(WorkflowTerminalError):
        await checkout.workflows.signal(run_id, "go", {})


async def test_cancel_compensates_completed_steps(
    app: SimpleNamespace, temporal: DevServer, ledger: Any
) -> None:
    charging = asyncio.Event()

    class HeldPayment(app.services.Payment):  # type: ignore[misc, name-defined]
        async def charge(self, request: Any, ctx: sb.CallContext) -> Any:
            charging.set()
            await asyncio.Event().wait()  # until the call is cancelled

    handlers = {**app.services.handlers(ledger), "payment": HeldPayment(ledger)}
    async with app.services.serve(handlers) as registry:
        bridge = sb.Bridge(
            "checkout", registry=registry, workflows=WorkflowsConfig(address=temporal.address)
        )
        bridge.workflows.register(app.saga.CHECKOUT)
        async with bridge:
            run_id = await bridge.workflows.start("checkout", ORDER)
            await charging.wait()
            await bridge.workflows.cancel(run_id)
            with pytest.raises(WorkflowCancelledError):
                await bridge.workflows.await_result(run_id)
            status = await bridge.workflows.query(run_id)
    assert status.state == "cancelled"
    assert status.steps["reserve"] == "compensated"
    assert ledger.counts["release o-1"] == 1
    assert "charge o-1" not in ledger.counts and "refund o-1" not in ledger.counts


async def test_one_trace_with_a_span_per_step(
    app: SimpleNamespace, temporal: DevServer, ledger: Any, tmp_path: Path
) -> None:
    spans_file = tmp_path / "spans.jsonl"
    telemetry = sb.TelemetryConfig(exporter="file", path=spans_file)
    async with app.services.serve(app.services.handlers(ledger), telemetry=telemetry) as registry:
        bridge = sb.Bridge(
            "checkout",
            registry=registry,
            workflows=WorkflowsConfig(address=temporal.address),
            telemetry=telemetry,
        )
        bridge.workflows.register(app.saga.CHECKOUT)
        async with bridge:
            run_id = await bridge.workflows.start("checkout", ORDER)
            await bridge.workflows.await_result(run_id)
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    (root,) = [s for s in spans if s["name"] == "workflow checkout"]
    trace = [s for s in spans if s["trace_id"] == root["trace_id"]]
    steps = sorted(s["name"] for s in trace if s["name"].startswith("workflow step "))
    assert steps == [
        f"workflow step {n}" for n in sorted(["charge", "notify", "placed", "reserve", "ship"])
    ]
    served = {s["service"] for s in trace if s["kind"] == "SERVER"}
    assert served == {"inventory", "payment", "notify", "shipping"}  # the callees joined it

    shown = await sb_trace(spans_file, root["trace_id"])
    assert "workflow step ship" in shown and "checkout.Shipping/Ship" in shown


async def test_replay_from_charge_reuses_reserve(checkout: sb.Bridge, ledger: Any) -> None:
    first = await checkout.workflows.start("checkout", ORDER)
    await checkout.workflows.await_result(first)
    second = await checkout.workflows.replay(first, from_step="charge")
    assert second != first
    outputs = await checkout.workflows.await_result(second)
    assert outputs["reserve"] == {"reservation_id": "r-o-1", "order_id": "o-1"}
    # charge and what waits for it run again (a new run: new idempotency keys); reserve and
    # notify, which do not wait for charge, are reused.
    assert dict(ledger.counts) == {
        "reserve o-1": 1,
        "notify o-1": 1,
        "charge o-1": 2,
        "ship o-1": 2,
    }
    status = await checkout.workflows.query(second)
    assert status.steps["reserve"] == status.steps["notify"] == "reused"
    assert status.steps["charge"] == status.steps["placed"] == "completed"


async def test_query_and_replay_while_no_instance_of_the_service_runs(
    app: SimpleNamespace, temporal: DevServer, services: dict[str, list[str]], ledger: Any
) -> None:
    config = WorkflowsConfig(address=temporal.address)

    def checkout() -> sb.Bridge:
        bridge = sb.Bridge("checkout", registry=services, workflows=config)
        bridge.workflows.register(app.saga.CHECKOUT)
        return bridge

    async with checkout() as first:
        run_id = await first.workflows.start("checkout", ORDER)
        await first.workflows.await_result(run_id)
    # No worker of checkout runs now; a bridge without the graph asks.
    async with sb.Bridge("driver", workflows=config) as driver:
        status = await driver.workflows.query(run_id)
        assert status.workflow == "checkout" and status.state == "completed"
        assert status.input == ORDER
        assert status.outputs["reserve"] == {"reservation_id": "r-o-1", "order_id": "o-1"}
        assert set(status.steps.values()) == {"completed"}
        with pytest.raises(
            sb.ConfigError,
            match=r"has no step 'nope'; its steps: charge, notify, placed, reserve, ship",
        ):
            await driver.workflows.replay(run_id, from_step="nope")
        second = await driver.workflows.replay(run_id, from_step="charge")
        waiting = await driver.workflows.query(second)
        assert (waiting.workflow, waiting.state, waiting.steps) == ("checkout", "running", {})
        async with checkout():  # an instance comes back and runs the new run
            await driver.workflows.await_result(second)
            replayed = await driver.workflows.query(second)
    assert replayed.steps["reserve"] == replayed.steps["notify"] == "reused"
    assert replayed.steps["charge"] == replayed.steps["ship"] == "completed"
    assert dict(ledger.counts) == {
        "reserve o-1": 1,
        "notify o-1": 1,
        "charge o-1": 2,
        "ship o-1": 2,
    }
