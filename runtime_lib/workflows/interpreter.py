"""The one Temporal workflow that interprets every graph: ``sb.workflow``.

Temporal makes it durable: each decision (an effect finished, a timer fired, a signal came) is
in the run's history, and a worker that picks the run up after a crash replays that history to
reach the same point. So this code must be deterministic: it reads time and randomness only
through ``temporalio.workflow`` and does every side effect in the ``sb.effect`` activity.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from runtime_lib.workflows.effects import EFFECT_ACTIVITY, HEARTBEAT_TIMEOUT
from runtime_lib.workflows.steps import (
    AnyStep,
    Call,
    Child,
    Local,
    Publish,
    RunView,
    Sleep,
    WaitEvent,
    WaitSignal,
    Workflow,
)

WORKFLOW_TYPE = "sb.workflow"
SIGNAL = "sb.signal"
EVENT_SIGNAL = "sb.event"
QUERY = "sb.query"

# task queue -> workflow name -> graph; filled by each bridge's Workflows before its worker runs.
GRAPHS: dict[str, dict[str, Workflow]] = {}


class StepFailed(Exception):
    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(f"step {step_id!r} failed: {message}")
        self.step_id = step_id


def _graph(name: str) -> Workflow:
    graphs = GRAPHS.get(workflow.info().task_queue, {})
    if name not in graphs:
        raise ApplicationError(f"no workflow {name!r} on this service", non_retryable=True)
    return graphs[name]


@workflow.defn(name=WORKFLOW_TYPE)
class GraphRun:
    def __init__(self) -> None:
        self._name = ""
        self._input: Any = None
        self._outputs: dict[str, Any] = {}
        self._status: dict[str, str] = {}
        self._completed: list[str] = []  # completion order, for compensation
        self._signals: dict[str, list[Any]] = {}
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._state = "running"
        self._trace: dict[str, str] = {}

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        self._name = args["workflow"]
        self._input = args["input"]
        self._trace = args.get("trace", {})
        graph = _graph(self._name)
        for step_id, output in args.get("reuse", {}).items():
            self._outputs[step_id] = output
            self._status[step_id] = "reused"
        for step in graph.steps:
            self._status.setdefault(step.id, "pending")
        tasks = [
            asyncio.create_task(self._run_step(graph, step))
            for step in graph.steps
            if self._status[step.id] == "pending"
        ]
        try:
            # The first failure raises here; _unwind stops the steps still running.
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            await self._unwind(tasks, graph, "cancelled")
            raise
        except StepFailed as exc:
            await self._unwind(tasks, graph, "failed")
            raise ApplicationError(str(exc), type="StepFailed", non_retryable=True) from None
        self._state = "completed"
        return {"outputs": self._outputs}

    async def _unwind(self, tasks: list[asyncio.Task[None]], graph: Workflow, state: str) -> None:
        self._state = "compensating"
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for step_id in reversed(self._completed):
            step = graph.step(step_id)
            if isinstance(step, Call | Publish | Local) and step.compensate is not None:
                try:
                    await self._effect(step, compensate=True)
                except ActivityError:
                    # Kept visible in query(); the remaining compensations still run.
                    self._status[step_id] = "compensation_failed"
                else:
                    self._status[step_id] = "compensated"
        self._state = state

    async def _run_step(self, graph: Workflow, step: AnyStep) -> None:
        await workflow.wait_condition(
            lambda: all(self._status[dep] not in ("pending", "running") for dep in step.wait_for)
        )
        run = self._view()
        if step.when is not None and not step.when(run):
            self._status[step.id] = "skipped"
            return
        self._status[step.id] = "running"
        try:
            output = await self._execute(step)
        except ActivityError as exc:
            self._status[step.id] = "failed"
            cause = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc)
            raise StepFailed(step.id, cause) from None
        except ApplicationError as exc:
            self._status[step.id] = "failed"
            raise StepFailed(step.id, exc.message) from None
        except TimeoutError:
            self._status[step.id] = "failed"
            raise StepFailed(step.id, f"timed out after {step.timeout:g}s") from None
        except asyncio.CancelledError:
            self._status[step.id] = "cancelled"
            raise
        self._outputs[step.id] = output
        size = len(json.dumps(self._outputs))
        if size > graph.max_state_bytes:
            self._status[step.id] = "failed"
            raise StepFailed(
                step.id, f"run state is {size} bytes, over the limit of {graph.max_state_bytes}"
            )
        self._status[step.id] = "completed"
        self._completed.append(step.id)

    async def _execute(self, step: AnyStep) -> Any:
        if isinstance(step, Sleep):
            await workflow.sleep(step.seconds)
            return None
        if isinstance(step, WaitSignal):
            queue = self._signals.setdefault(step.name, [])
            await workflow.wait_condition(lambda: bool(queue), timeout=step.timeout)
            return queue.pop(0)
        if isinstance(step, WaitEvent):
            return await self._wait_event(step)
        if isinstance(step, Child):
            return await self._child(step)
        return await self._effect(step, compensate=False)

    async def _child(self, step: Child) -> Any:
        info = workflow.info()
        try:
            result: dict[str, Any] = await workflow.execute_child_workflow(
                WORKFLOW_TYPE,
                {
                    "workflow": step.workflow,
                    "input": step.input(self._view()),
                    "trace": self._trace,
                },
                id=f"{info.workflow_id}.{step.id}",
                task_queue=f"sb.{step.service}" if step.service else info.task_queue,
            )
        except ChildWorkflowError as exc:
            cause = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc)
            raise ApplicationError(cause) from None
        return result["outputs"]

    async def _wait_event(self, step: WaitEvent[Any]) -> Any:
        name = step.event.EVENT_NAME
        wanted = step.match(self._view())
        found: list[dict[str, Any]] = []

        def matched() -> bool:
            for index, (event_name, data) in enumerate(self._events):
                if event_name == name and all(_same(data.get(k), v) for k, v in wanted.items()):
                    found.append(data)
                    del self._events[index]
                    return True
            return False

        await workflow.wait_condition(matched, timeout=step.timeout)
        return found[0]

    async def _effect(self, step: Call[Any, Any] | Publish[Any] | Local, compensate: bool) -> Any:
        return await workflow.execute_activity(
            EFFECT_ACTIVITY,
            {
                "workflow": self._name,
                "step": step.id,
                "compensate": compensate,
                "run_id": workflow.info().workflow_id,
                "input": self._input,
                "outputs": self._outputs,
                "trace": self._trace,
            },
            start_to_close_timeout=timedelta(seconds=step.timeout),
            heartbeat_timeout=timedelta(seconds=HEARTBEAT_TIMEOUT),
            retry_policy=RetryPolicy(maximum_attempts=step.attempts if not compensate else 0),
        )

    def _view(self) -> RunView:
        return RunView(workflow.info().workflow_id, self._input, self._outputs)

    @workflow.signal(name=SIGNAL)
    def signal(self, name: str, payload: Any) -> None:
        self._signals.setdefault(name, []).append(payload)

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, name: str, data: dict[str, Any]) -> None:
        waiting = {
            s.event.EVENT_NAME
            for s in _graph(self._name).steps
            if isinstance(s, WaitEvent) and self._status.get(s.id) == "running"
        }
        if name in waiting:  # an event no step waits for right now is not for this run
            self._events.append((name, data))

    @workflow.query(name=QUERY)
    def query(self) -> dict[str, Any]:
        return {
            "workflow": self._name,
            "state": self._state,
            "input": self._input,
            "outputs": self._outputs,
            "steps": dict(self._status),
        }


def _same(field: Any, wanted: Any) -> bool:
    """An event field (JSON of its proto: 64-bit integers are strings) equals a wanted value."""
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return field in (wanted, str(wanted))
    return bool(field == wanted)
