"""Parallel and Sequence groups on a real Temporal dev server: order inside nested groups,
compensation of completed inner steps, when/wait_for on a group, JSON-path input inside one."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from runtime_lib.workflows import (
    Call,
    Local,
    Parallel,
    RunView,
    Sequence,
    Workflow,
    WorkflowFailedError,
)
from tests.workflows.helpers import Bridges, counting


def recording(order: list[str], name: str, **options: Any) -> Local:
    async def fn(run: RunView) -> str:
        order.append(name)
        return name

    return Local(id=name, fn=fn, **options)


async def test_nested_groups_run_in_order_and_in_parallel(bridge_for: Bridges) -> None:
    order: list[str] = []
    started = {"b": asyncio.Event(), "c": asyncio.Event()}

    def meet(me: str, other: str) -> Local:
        async def fn(run: RunView) -> str:
            started[me].set()
            await started[other].wait()  # never returns unless both run at once
            order.append(me)
            return str(run.path("$.a")) + me  # reads the output of the step before the group

        return Local(id=me, fn=fn, attempts=1)

    graph = Workflow(
        "nested",
        steps=(
            Sequence(
                id="seq",
                steps=(
                    recording(order, "a"),
                    Parallel(id="par", steps=(meet("b", "c"), meet("c", "b"))),
                    recording(order, "d"),
                ),
            ),
            recording(order, "e", wait_for=("seq",)),
        ),
    )
    bridge = await bridge_for(graph)
    run_id = await bridge.workflows.start("nested")
    outputs = await bridge.workflows.await_result(run_id)
    assert order[0] == "a" and sorted(order[1:3]) == ["b", "c"] and order[3:] == ["d", "e"]
    assert outputs == {"a": "a", "b": "ab", "c": "ac", "par": None, "d": "d", "seq": None, "e": "e"}
    status = await bridge.workflows.query(run_id)
    assert set(status.steps.values()) == {"completed"}


async def test_a_failure_inside_a_group_compensates_completed_inner_steps_newest_first(
    bridge_for: Bridges,
) -> None:
    undone: list[str] = []
    b_done = asyncio.Event()

    def undo(name: str) -> Local:
        async def fn(run: RunView) -> None:
            undone.append(name)

        return Local(id=f"undo_{name}", fn=fn)

    async def b(run: RunView) -> str:
        b_done.set()
        return "b"

    async def c(run: RunView) -> None:
        await b_done.wait()  # fails only once its sibling has completed
        raise ValueError("c breaks")  # a crash: retried, then the step fails

    graph = Workflow(
        "undo",
        steps=(
            Sequence(
                id="seq",
                steps=(
                    Local(id="a", fn=counting(Counter(), "a").fn, compensate=undo("a")),
                    Parallel(
                        id="par",
                        steps=(
                            Local(id="b", fn=b, compensate=undo("b")),
                            Local(id="c", fn=c, attempts=1, compensate=undo("c")),
                        ),
                    ),
                    Local(id="d", fn=counting(Counter(), "d").fn, compensate=undo("d")),
                ),
            ),
        ),
    )
    bridge = await bridge_for(graph)
    run_id = await bridge.workflows.start("undo")
    with pytest.raises(WorkflowFailedError, match=r"step 'c' failed: the step crashed"):
        await bridge.workflows.await_result(run_id)
    assert undone == ["b", "a"]  # reverse order of completion, each once; c, d never completed
    status = await bridge.workflows.query(run_id)
    assert status.state == "failed"
    assert status.steps == {
        "seq": "failed",
        "a": "compensated",
        "par": "failed",
        "b": "compensated",
        "c": "failed",
        "d": "pending",
    }


async def test_when_on_a_group_skips_it_and_what_waits_for_it_runs(bridge_for: Bridges) -> None:
    effects: Counter[str] = Counter()
    graph = Workflow(
        "gift",
        steps=(
            Parallel(
                id="wrap",
                when=lambda run: bool(run.input["gift"]),
                steps=(counting(effects, "paper"), counting(effects, "ribbon")),
            ),
            counting(effects, "ship", wait_for=("wrap",)),
        ),
    )
    bridge = await bridge_for(graph)
    run_id = await bridge.workflows.start("gift", {"gift": False})
    await bridge.workflows.await_result(run_id)
    assert effects == Counter({"ship": 1})
    assert (await bridge.workflows.query(run_id)).steps == {
        "wrap": "skipped",
        "paper": "skipped",
        "ribbon": "skipped",
        "ship": "completed",
    }
    run_id = await bridge.workflows.start("gift", {"gift": True})
    await bridge.workflows.await_result(run_id)
    assert effects == Counter({"ship": 2, "paper": 1, "ribbon": 1})


async def test_a_call_inside_a_group_reads_earlier_outputs_by_json_path(
    app: SimpleNamespace, bridge_for: Bridges, services: dict[str, list[str]], ledger: Any
) -> None:
    async def pick(run: RunView) -> dict[str, str]:
        return {"order": run.input["order"], "sku": "book"}

    reserve = Call(
        id="reserve",
        service="inventory",
        method=app.sb.InventoryClient.reserve,
        input={"order_id": "$.pick.order", "sku": "$.pick.sku"},
    )
    graph = Workflow(
        "pick", steps=(Sequence(id="seq", steps=(Local(id="pick", fn=pick), reserve)),)
    )
    bridge = await bridge_for(graph, registry=services)
    run_id = await bridge.workflows.start("pick", {"order": "o-7"})
    outputs = await bridge.workflows.await_result(run_id)
    assert outputs["reserve"] == {"reservation_id": "r-o-7", "order_id": "o-7"}
    assert dict(ledger.counts) == {"reserve o-7": 1}
