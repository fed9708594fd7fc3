"""Step kinds and driving, each on a real Temporal dev server: parallel top-level steps,
conditions, sleep, signals, events with and without a match, replay, the state limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

import runtime_lib as sb
from runtime_lib.workflows import (
    Child,
    Local,
    Publish,
    RunView,
    Sleep,
    WaitEvent,
    WaitSignal,
    Workflow,
    WorkflowFailedError,
    WorkflowsConfig,
)
from runtime_lib.workflows.dev_server import DevServer
from tests.events.helpers import wait_until
from tests.workflows.helpers import Bridges, counting, step_state


async def test_top_level_steps_run_in_parallel(bridge_for: Bridges) -> None:
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def meet(me: str, other: str) -> Local:
        async def fn(run: RunView) -> str:
            started[me].set()
            await started[other].wait()  # never returns if the steps ran one after the other
            return me

        return Local(id=me, fn=fn, attempts=1)

    bridge = await bridge_for(Workflow("meet", steps=(meet("a", "b"), meet("b", "a"))))
    outputs = await bridge.workflows.await_result(await bridge.workflows.start("meet"))
    assert outputs == {"a": "a", "b": "b"}


async def test_when_skips_a_step_and_its_dependents_still_run(bridge_for: Bridges) -> None:
    effects: Counter[str] = Counter()
    express = counting(effects, "express")
    graph = Workflow(
        "ship",
        steps=(
            Local(id="express", fn=express.fn, when=lambda run: bool(run.input["express"])),
            Local(id="pack", fn=counting(effects, "pack").fn, wait_for=("express",)),
        ),
    )
    bridge = await bridge_for(graph)
    run_id = await bridge.workflows.start("ship", {"express": False})
    await bridge.workflows.await_result(run_id)
    assert effects == Counter({"pack": 1})
    assert (await bridge.workflows.query(run_id)).steps == {
        "express": "skipped",
        "pack": "completed",
    }


async def test_sleep_then_step(bridge_for: Bridges) -> None:
    effects: Counter[str] = Counter()
    graph = Workflow(
        "nap",
        steps=(
            Sleep(id="nap", seconds=0.2),
            Local(id="after", fn=counting(effects, "after").fn, wait_for=("nap",)),
        ),
    )
    bridge = await bridge_for(graph)
    outputs = await bridge.workflows.await_result(await bridge.workflows.start("nap"))
    assert outputs == {"nap": None, "after": None}
    assert effects == Counter({"after": 1})


async def test_wait_signal_resumes_on_signal(bridge_for: Bridges) -> None:
    async def echo(run: RunView) -> Any:
        return run.output("approval")["by"]

    graph = Workflow(
        "approve",
        steps=(
            WaitSignal(id="approval", name="approve"),
            Local(id="approved_by", fn=echo, wait_for=("approval",)),
        ),
    )
    bridge = await bridge_for(graph)
    run_id = await bridge.workflows.start("approve")

    async def waiting() -> bool:
        return await step_state(bridge, run_id, "approval") == "running"

    await wait_until(waiting, what="the run to wait for its signal")
    await bridge.workflows.signal(run_id, "approve", {"by": "grace"})
    outputs = await bridge.workflows.await_result(run_id)
    assert outputs["approved_by"] == "grace"


async def test_wait_event_resumes_on_a_match_and_times_out_otherwise(
    app: SimpleNamespace, bridge_for: Bridges, nats_url: str
) -> None:
    settled = app.sb.PaymentSettled
    graph = Workflow(
        "settle",
        steps=(
            WaitEvent(
                id="settled",
                event=settled,
                match=lambda run: {"order_id": run.input["order_id"], "amount_cents": 4200},
                timeout=120.0,  # only a hang guard: the event is published right away
            ),
        ),
    )
    bridge = await bridge_for(graph, events=nats_url)
    run_id = await bridge.workflows.start("settle", {"order_id": "o-1"})

    async def waiting() -> bool:
        return await step_state(bridge, run_id, "settled") == "running"

    await wait_until(waiting, what="the run to wait for its event")
    # The provider stays up until the run ends: its outbox drains to the broker in the background.
    async with sb.Bridge("provider", events=nats_url) as provider:
        await provider.publish(
            settled(order_id="o-1", transaction_id="tx-2", amount_cents=1)
        )  # no match
        await provider.publish(settled(order_id="o-1", transaction_id="tx-1", amount_cents=4200))
        outputs = await bridge.workflows.await_result(run_id)
    # int64 fields read as JSON strings; the match compares them with ints all the same.
    assert outputs["settled"] == {
        "order_id": "o-1",
        "transaction_id": "tx-1",
        "amount_cents": "4200",
    }

    lonely = Workflow(
        "lonely",
        steps=(WaitEvent(id="settled", event=settled, timeout=0.5),),
    )
    other = await bridge_for(lonely, events=nats_url)
    with pytest.raises(WorkflowFailedError, match=r"step 'settled' failed: timed out after 0.5s"):
        await other.workflows.await_result(await other.workflows.start("lonely"))


async def test_state_over_the_limit_fails_the_step_and_compensates(bridge_for: Bridges) -> None:
    effects: Counter[str] = Counter()

    async def big(run: RunView) -> str:
        return "x" * 2000

    graph = Workflow(
        "big",
        max_state_bytes=1000,
        steps=(
            Local(
                id="first", fn=counting(effects, "first").fn, compensate=counting(effects, "undo")
            ),
            Local(id="big", fn=big, wait_for=("first",)),
        ),
    )
    bridge = await bridge_for(graph)
    with pytest.raises(
        WorkflowFailedError,
        match=r"step 'big' failed: run state is \d+ bytes, over the limit of 1000",
    ):
        await bridge.workflows.await_result(await bridge.workflows.start("big"))
    assert effects == Counter({"first": 1, "undo": 1})


async def test_a_crashing_step_reports_no_traceback_and_a_bad_path_fails_at_once(
    bridge_for: Bridges, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(run: RunView) -> None:
        raise RuntimeError("secret internal detail at /srv/app.py")

    async def bad_path(run: RunView) -> Any:
        return run.path("$.input.missing")

    bridge = await bridge_for(
        Workflow("crash", steps=(Local(id="boom", fn=crash, attempts=1),)),
        Workflow("path", steps=(Local(id="read", fn=bad_path, attempts=5),)),
    )
    with pytest.raises(WorkflowFailedError) as failed:
        await bridge.workflows.await_result(await bridge.workflows.start("crash"))
    assert "secret" not in str(failed.value)
    assert "the step crashed; its traceback is in the log of service 'flow'" in str(failed.value)
    assert "secret internal detail" in caplog.text  # kept in this service's own log

    with pytest.raises(WorkflowFailedError, match=r"building the step's input: .*'missing'"):
        await bridge.workflows.await_result(await bridge.workflows.start("path"))


async def test_child_workflow_output_and_failure(bridge_for: Bridges) -> None:
    async def double(run: RunView) -> int:
        return int(run.input["n"]) * 2

    async def refuse(run: RunView) -> None:
        raise sb.HandlerError("NO", "the child says no")

    child = Workflow("double", steps=(Local(id="twice", fn=double),))
    failing = Workflow("refuse", steps=(Local(id="no", fn=refuse),))
    parent = Workflow(
        "parent",
        steps=(Child(id="sub", workflow="double", input=lambda run: {"n": run.input["n"] + 1}),),
    )
    broken = Workflow("broken", steps=(Child(id="sub", workflow="refuse"),))
    bridge = await bridge_for(child, failing, parent, broken)
    outputs = await bridge.workflows.await_result(await bridge.workflows.start("parent", {"n": 20}))
    assert outputs == {"sub": {"twice": 42}}
    with pytest.raises(WorkflowFailedError, match=r"step 'sub' failed: .*NO: the child says no"):
        await bridge.workflows.await_result(await bridge.workflows.start("broken"))


class LosesFirstPublishReply(sb.Bridge):
    """A bridge whose first publish is stored and then reported as failed: the publish step
    made its effect and runs again, as after a kill -9 between the outbox commit and the
    engine hearing of it."""

    publishes = 0

    async def publish(self, event: Any, **options: Any) -> str:
        event_id = await super().publish(event, **options)
        self.publishes += 1
        if self.publishes == 1:
            raise RuntimeError("lost after the commit")
        return event_id


async def test_a_publish_step_run_twice_delivers_one_event_id(
    app: SimpleNamespace, temporal: DevServer, nats_url: str
) -> None:
    received: list[str] = []
    delivered = asyncio.Event()

    async def on_placed(event: Any, ctx: sb.EventContext) -> None:
        received.append(ctx.event_id)
        delivered.set()

    placed = Publish(id="placed", input=lambda run: app.sb.OrderPlaced(order_id="o-1"))
    flow = LosesFirstPublishReply(
        "flow", events=nats_url, workflows=WorkflowsConfig(address=temporal.address)
    )
    flow.workflows.register(Workflow("place", steps=(placed,)))
    shop = sb.Bridge("shop", events=nats_url)
    shop.subscribe(app.sb.OrderPlaced, on_placed)
    async with shop, flow:
        outputs = await flow.workflows.await_result(await flow.workflows.start("place"))
        await delivered.wait()
    assert flow.publishes == 2  # the step ran twice
    assert received == [outputs["placed"]["event_id"]]
