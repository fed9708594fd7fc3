"""The one Temporal workflow that interprets every graph: ``sb.workflow``.

Temporal makes it durable: each decision (an effect finished, a timer fired, a signal came) is
in the run's history, and a worker that picks the run up after a crash replays that history to
reach the same point. So this code must be deterministic: it reads time and randomness only
through ``temporalio.workflow`` and does every side effect in the ``sb.effect`` activity.

The run's state (statuses and outputs) is also kept in its memo, which the engine stores and
answers from itself: ``query`` and ``replay`` read it with no worker of the service running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry.trace import Status, StatusCode
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from runtime_lib._telemetry.api import Telemetry
from runtime_lib.workflows.callers import Gate
from runtime_lib.workflows.effects import EFFECT_ACTIVITY, HEARTBEAT_TIMEOUT, W3C
from runtime_lib.workflows.steps import (
    AnyStep,
    Call,
    Child,
    Local,
    Parallel,
    Publish,
    RunView,
    Sequence,
    Sleep,
    WaitEvent,
    WaitSignal,
    Workflow,
)

WORKFLOW_TYPE = "sb.workflow"
SIGNAL = "sb.signal"  # an update: its validator applies the access policy before it is accepted
CANCEL = "sb.cancel"  # likewise
EVENT_SIGNAL = "sb.event"
ACCESS_DENIED = "AccessDenied"  # the failure type of a run or update the policy refused
OUTPUT_KEY = "output:"  # memo key prefix of a step's output; the value is [output]


@dataclass(frozen=True)
class Host:
    """What the worker of one service gives the interpreter: its graphs, its telemetry, and the
    access check of starts, signals and cancels (``gate``)."""

    graphs: dict[str, Workflow]
    telemetry: Telemetry
    gate: Gate


# task queue -> its host; set by each bridge's Workflows before its worker runs.
HOSTS: dict[str, Host] = {}


class StepFailed(Exception):
    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(f"step {step_id!r} failed: {message}")
        self.step_id = step_id


def _host() -> Host:
    return HOSTS[workflow.info().task_queue]


def _graph(name: str) -> Workflow:
    graphs = _host().graphs
    if name not in graphs:
        raise ApplicationError(f"no workflow {name!r} on this service", non_retryable=True)
    return graphs[name]


def _refusal(name: str, action: str, caller: Any, child: bool) -> ApplicationError | None:
    """The failure a refused start, signal or cancel ends in; None: the caller may."""
    gate = _host().gate
    violation = gate.refusal(
        name, action, workflow.info().workflow_id, caller, child, workflow.now()
    )
    if violation is None:
        return None
    if not workflow.unsafe.is_replaying():  # reported once, not again when history is replayed
        gate.report(violation)
    return ApplicationError(violation.reason, type=ACCESS_DENIED, non_retryable=True)


def _ns(instant: Any) -> int:
    return int(instant.timestamp() * 1_000_000_000)


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
        self._main: asyncio.Future[Any] | None = None
        self._cancel_asked = False
        self._memo_due = False
        self._memo_outputs: dict[str, Any] = {}

    @workflow.run
    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        self._name = args["workflow"]
        self._input = args["input"]
        self._trace = args.get("trace", {})
        graph = _graph(self._name)
        # A child run is started by a worker of its parent's service: the engine vouches for
        # where it came from, and its parent run was admitted itself.
        child = workflow.info().parent is not None
        refusal = _refusal(self._name, "start", args.get("caller"), child)
        if refusal is not None:
            self._set_state("refused")
            self._write_memo()
            raise refusal
        replay = args.get("replay")
        if replay is not None:  # replay(run_id, from_step=): reuse what does not follow from_step
            rerun = graph.downstream(replay["from_step"])
            for step_id, output in replay["outputs"].items():
                if step_id not in rerun and step_id in graph.ids:
                    self._record(step_id, output, "reused")
        for step_id in graph.ids:
            self._set_status(step_id, self._status.get(step_id, "pending"))
        tasks = [
            asyncio.create_task(self._run_step(graph, step))
            for step in graph.steps
            if self._status[step.id] == "pending"
        ]
        self._main = asyncio.gather(*tasks)
        if self._cancel_asked:
            self._main.cancel()
        try:
            # The first failure raises here; _unwind stops the steps still running.
            await self._main
        except asyncio.CancelledError:
            await self._unwind(tasks, graph, "cancelled")
            raise
        except StepFailed as exc:
            await self._unwind(tasks, graph, "failed")
            raise ApplicationError(str(exc), type="StepFailed", non_retryable=True) from None
        else:
            self._set_state("completed")
        finally:
            # The last state goes into the memo now: nothing runs after the run's end.
            self._write_memo()
        return {"outputs": self._outputs}

    async def _unwind(self, tasks: list[asyncio.Task[None]], graph: Workflow, state: str) -> None:
        self._set_state("compensating")
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
                    self._set_status(step_id, "compensation_failed")
                else:
                    self._set_status(step_id, "compensated")
        self._set_state(state)

    async def _run_step(self, graph: Workflow, step: AnyStep) -> None:
        await workflow.wait_condition(
            lambda: all(self._status[dep] not in ("pending", "running") for dep in step.wait_for)
        )
        await self._perform(graph, step)

    async def _perform(self, graph: Workflow, step: AnyStep) -> None:
        """Run one step (whose turn it is) to its end: skipped, completed, or raising."""
        if self._status[step.id] == "reused":
            return
        if step.when is not None and not step.when(self._view()):
            for step_id in [step.id, *graph.inside(step.id)]:
                if self._status[step_id] != "reused":
                    self._set_status(step_id, "skipped")
            return
        self._set_status(step.id, "running")
        started = workflow.now()
        error: str | None = "cancelled"
        try:
            output = await self._execute(graph, step)
            error = None
        except ActivityError as exc:
            cause = exc.cause.message if isinstance(exc.cause, ApplicationError) else str(exc)
            error = cause
            raise self._failed(step.id, cause) from None
        except ApplicationError as exc:
            error = exc.message
            raise self._failed(step.id, exc.message) from None
        except TimeoutError:
            error = f"timed out after {step.timeout:g}s"
            raise self._failed(step.id, error) from None
        except StepFailed as exc:  # a step inside this group failed
            error = str(exc)
            self._set_status(step.id, "failed")
            raise
        except asyncio.CancelledError:
            self._set_status(step.id, "cancelled")
            raise
        finally:
            if not isinstance(step, Call | Publish | Local):  # effects have their own spans
                self._span(step, started, error)
        self._record(step.id, output, "completed")
        size = len(json.dumps(self._outputs))
        if size > graph.max_state_bytes:
            raise self._failed(
                step.id, f"run state is {size} bytes, over the limit of {graph.max_state_bytes}"
            )
        self._completed.append(step.id)

    def _failed(self, step_id: str, message: str) -> StepFailed:
        self._set_status(step_id, "failed")
        return StepFailed(step_id, message)

    async def _execute(self, graph: Workflow, step: AnyStep) -> Any:
        if isinstance(step, Sequence):
            for inner in step.steps:
                await self._perform(graph, inner)
            return None
        if isinstance(step, Parallel):
            await _all(self._perform(graph, inner) for inner in step.steps)
            return None
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
        child_input = step.input(self._view())
        try:
            result: dict[str, Any] = await workflow.execute_child_workflow(
                WORKFLOW_TYPE,
                {
                    "workflow": step.workflow,
                    "input": child_input,
                    "trace": self._trace,
                    # The parent run starts its child: its service is the caller.
                    "caller": {"service": info.task_queue.removeprefix("sb.")},
                },
                id=f"{info.workflow_id}.{step.id}",
                task_queue=f"sb.{step.service}" if step.service else info.task_queue,
                memo={"workflow": step.workflow, "input": child_input},
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

    # -- the run's spans ------------------------------------------------------------------

    def _span(self, step: AnyStep, started: Any, error: str | None) -> None:
        """The span of a step that is not an effect, emitted when it ends, with the instants
        of the run's history: a worker replaying that history (after a restart) emits nothing
        for the steps that ended before, so each step has one span."""
        if not workflow.in_workflow() or workflow.unsafe.is_replaying():
            return  # not in workflow: the worker is dropping the run from its cache
        span = _host().telemetry.tracer.start_span(
            f"workflow step {step.id}",
            context=W3C.extract(self._trace),
            start_time=_ns(started),
            attributes={
                "run_id": workflow.info().workflow_id,
                "workflow": self._name,
                "step.kind": type(step).__name__.lower(),
            },
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(workflow.now()))

    # -- the run's state, kept in its memo -------------------------------------------------

    def _set_status(self, step_id: str, status: str) -> None:
        self._status[step_id] = status
        self._memo_later()

    def _set_state(self, state: str) -> None:
        self._state = state
        self._memo_later()

    def _record(self, step_id: str, output: Any, status: str) -> None:
        self._outputs[step_id] = output
        self._memo_outputs[OUTPUT_KEY + step_id] = [output]  # [None] keeps a None output
        self._set_status(step_id, status)

    def _memo_later(self) -> None:
        """One memo update per workflow task, however many statuses it changed: written by a
        callback that runs once the task's code has run to its next wait."""
        if not self._memo_due and workflow.in_workflow():
            self._memo_due = True
            asyncio.get_running_loop().call_soon(self._write_memo_if_due)

    def _write_memo_if_due(self) -> None:
        if self._memo_due:  # else written already, by the run's end
            self._write_memo()

    def _write_memo(self) -> None:
        if not workflow.in_workflow():
            return  # the worker is dropping the run from its cache: nothing to record
        self._memo_due = False
        outputs, self._memo_outputs = self._memo_outputs, {}
        workflow.upsert_memo({"state": self._state, "steps": self._status, **outputs})

    # -- messages from drivers and subscriptions -------------------------------------------

    @workflow.update(name=SIGNAL)
    def signal(self, message: dict[str, Any]) -> None:
        self._signals.setdefault(message["name"], []).append(message["payload"])

    @signal.validator
    def _may_signal(self, message: dict[str, Any]) -> None:
        self._check(message.get("caller"), "signal")

    @workflow.update(name=CANCEL)
    def cancel(self, message: dict[str, Any]) -> None:
        self._cancel_asked = True
        if self._main is not None:
            self._main.cancel()

    @cancel.validator
    def _may_cancel(self, message: dict[str, Any]) -> None:
        self._check(message.get("caller"), "cancel")

    def _check(self, caller: Any, action: str) -> None:
        refusal = _refusal(self._name, action, caller, False)
        if refusal is not None:
            raise refusal

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, name: str, data: dict[str, Any]) -> None:
        graph = _graph(self._name)
        waiting = {
            s.event.EVENT_NAME
            for s in (graph.step(i) for i in graph.ids)
            if isinstance(s, WaitEvent) and self._status.get(s.id) == "running"
        }
        if name in waiting:  # an event no step waits for right now is not for this run
            self._events.append((name, data))


async def _all(runs: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run these together; the first failure cancels the others (once they have stopped)."""
    tasks = [asyncio.create_task(run) for run in runs]
    try:
        await asyncio.gather(*tasks)
    except (Exception, asyncio.CancelledError):  # not GeneratorExit: the run is being dropped
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _same(field: Any, wanted: Any) -> bool:
    """An event field (JSON of its proto: 64-bit integers are strings) equals a wanted value."""
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return field in (wanted, str(wanted))
    return bool(field == wanted)
