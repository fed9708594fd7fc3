"""A span per step of every kind in the run's one trace, each emitted once although the worker
that takes the run over after a restart replays the steps that had ended."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import runtime_lib as sb
from runtime_lib.workflows import (
    Child,
    Parallel,
    Sequence,
    Sleep,
    WaitEvent,
    WaitSignal,
    Workflow,
    WorkflowsConfig,
)
from runtime_lib.workflows.dev_server import DevServer
from tests.events.helpers import wait_until
from tests.workflows.helpers import sb_trace


async def test_each_step_kind_has_one_span_across_a_worker_restart(
    app: SimpleNamespace, temporal: DevServer, nats_url: str, tmp_path: Path
) -> None:
    settled = app.sb.PaymentSettled
    graph = Workflow(
        "spans",
        steps=(
            Sequence(
                id="flow",
                steps=(
                    Sleep(id="nap", seconds=0.01),
                    Parallel(
                        id="waits",
                        steps=(
                            WaitSignal(id="approval", name="go"),
                            WaitEvent(
                                id="settled",
                                event=settled,
                                match=lambda run: {"order_id": "o-1"},
                                timeout=600.0,  # a hang guard: the event is published at once
                            ),
                        ),
                    ),
                ),
            ),
            Child(id="sub", workflow="leaf", wait_for=("flow",)),
        ),
    )
    leaf = Workflow("leaf", steps=(Sleep(id="leaf_nap", seconds=0.01),))
    spans_file = tmp_path / "spans.jsonl"
    telemetry = sb.TelemetryConfig(exporter="file", path=spans_file)

    def instance() -> sb.Bridge:
        bridge = sb.Bridge(
            "flow",
            events=nats_url,
            telemetry=telemetry,
            workflows=WorkflowsConfig(address=temporal.address),
        )
        bridge.workflows.register(graph, leaf)
        return bridge

    async with instance() as first:
        run_id = await first.workflows.start("spans")

        async def waiting() -> bool:
            steps = (await first.workflows.query(run_id)).steps
            return steps.get("approval") == steps.get("settled") == "running"

        await wait_until(waiting, what="the run to wait for its signal and event")
    # The first worker is gone; the next one replays nap (ended) and the waits (begun).
    async with instance() as second, sb.Bridge("provider", events=nats_url) as provider:
        await second.workflows.signal(run_id, "go")
        await provider.publish(settled(order_id="o-1", transaction_id="tx-1", amount_cents=1))
        outputs = await second.workflows.await_result(run_id)
    assert outputs["sub"] == {"leaf_nap": None}

    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    (root,) = [s for s in spans if s["name"] == "workflow spans"]
    trace = [s for s in spans if s["trace_id"] == root["trace_id"]]
    steps = Counter(s["name"] for s in trace if s["name"].startswith("workflow step "))
    kinds = ["flow", "nap", "waits", "approval", "settled", "sub", "leaf_nap"]
    assert steps == Counter({f"workflow step {kind}": 1 for kind in kinds})

    shown = await sb_trace(spans_file, root["trace_id"])
    for kind in kinds:
        assert f"workflow step {kind}" in shown
