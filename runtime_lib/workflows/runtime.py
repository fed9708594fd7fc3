"""``bridge.workflows``: register graphs, run them on the engine, and drive runs.

Each bridge with graphs runs a Temporal worker on the task queue ``sb.<service>``, so every
instance of a service shares its runs: a run started on one continues on another when the first
dies. Driving (start, await, query, signal, cancel, replay) works from any bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError as TemporalCancelled
from temporalio.exceptions import FailureError as TemporalFailure
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime_lib import (
    AccessDeniedError,
    AccessPolicy,
    ConfigError,
    ConflictError,
    EventContext,
    PolicyViolation,
)
from runtime_lib._events.data_dir import resolve_data_dir
from runtime_lib.codegen import EventType
from runtime_lib.workflows.callers import Gate, action_name, caller_proof
from runtime_lib.workflows.dev_server import EmbeddedTemporal
from runtime_lib.workflows.effects import W3C, Effects
from runtime_lib.workflows.errors import (
    WorkflowCancelledError,
    WorkflowEngineError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowTerminalError,
)
from runtime_lib.workflows.interpreter import (
    ACCESS_DENIED,
    CANCEL,
    EVENT_SIGNAL,
    HOSTS,
    OUTPUT_KEY,
    SIGNAL,
    WORKFLOW_TYPE,
    GraphRun,
    Host,
)
from runtime_lib.workflows.steps import WaitEvent, Workflow

if TYPE_CHECKING:
    from runtime_lib import Bridge


CONNECT_PATIENCE = 30.0


@dataclass(frozen=True)
class WorkflowsConfig:
    """``address``: ``"embedded"`` (a Temporal dev server shared under the data dir) or the
    ``host:port`` of a Temporal frontend; ``namespace``: the Temporal namespace."""

    address: str = "embedded"
    namespace: str = "default"


@dataclass(frozen=True)
class RunStatus:
    """What ``query(run_id)`` returns. ``state``: running, compensating, completed, failed,
    cancelled, refused (by the access policy); ``steps``: each step's status (pending, running,
    completed, skipped, reused, failed, cancelled, compensated, compensation_failed)."""

    run_id: str
    workflow: str
    state: str
    input: Any
    outputs: dict[str, Any]
    steps: dict[str, str]


# Ended by the engine, not by the run's own code: its memo does not say so.
_ENDED_OUTSIDE = {
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
}


@contextlib.contextmanager
def _engine(what: str) -> Iterator[None]:
    """The engine's exceptions as ours, saying what was asked (and never the engine's text)."""
    try:
        yield
    except WorkflowAlreadyStartedError:
        raise ConflictError(f"{what}: a run with this id exists; pick another run_id") from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, TemporalFailure) and _failure_type(cause) == ACCESS_DENIED:
            raise AccessDeniedError(cause.message) from None
        raise WorkflowEngineError(f"{what}: the run's service refused it") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowNotFoundError(f"{what}: no such run") from None
        raise WorkflowEngineError(
            f"{what}: the workflow engine answered {exc.status.name}"
        ) from None


def _failure_type(failure: TemporalFailure) -> str:
    return getattr(failure, "type", "") or ""


class Workflows:
    def __init__(
        self,
        bridge: Bridge,
        config: WorkflowsConfig | None,
        data_dir: Path | str | None,
        access: AccessPolicy,
    ):
        self._bridge = bridge
        self._access = access
        self._config = config or WorkflowsConfig()
        self._data_dir = data_dir
        self._graphs: dict[str, Workflow] = {}
        self._waited: set[str] = set()  # event names a registered WaitEvent step waits for
        self._client: Client | None = None
        self._embedded: EmbeddedTemporal | None = None
        self._worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()

    @property
    def task_queue(self) -> str:
        return f"sb.{self._bridge.service}"

    def register(self, *graphs: Workflow) -> None:
        """Run these graphs on this service (call before the bridge starts)."""
        for graph in graphs:
            if graph.name in self._graphs:
                raise ConfigError(f"workflow {graph.name!r} is registered twice")
            self._graphs[graph.name] = graph
            for step in map(graph.step, graph.ids):  # groups' steps too
                if isinstance(step, WaitEvent) and step.event.EVENT_NAME not in self._waited:
                    event = step.event.EVENT_NAME
                    self._waited.add(event)
                    self._bridge.subscribe(step.event, self._on_event, name="sb-workflows")

    def _graph(self, name: str) -> Workflow:
        try:
            return self._graphs[name]
        except KeyError:
            raise WorkflowNotFoundError(f"no workflow {name!r} on this service") from None

    # -- lifecycle (the bridge calls these) --------------------------------------------------

    async def serve(self) -> None:
        """Run the worker of the registered graphs (the bridge's ``start()`` calls this)."""
        unknown = sorted(set(self._access.workflows) - set(self._graphs))
        if unknown:
            raise ConfigError(
                f"AccessPolicy(workflows=...) names {', '.join(map(repr, unknown))}, which this "
                f"bridge does not run; registered: {', '.join(sorted(self._graphs)) or 'nothing'}"
            )
        if not self._graphs:
            return  # a bridge that only drives runs connects on first use
        client = await self._connect()
        bridge = self._bridge
        HOSTS[self.task_queue] = Host(
            self._graphs,
            bridge.telemetry,
            Gate(bridge.service, self._access, bridge.tls, self._graphs, bridge._lifecycle.emit),
        )
        self._worker = Worker(
            client,
            task_queue=self.task_queue,
            workflows=[GraphRun],
            activities=[Effects(self._bridge, self._graph).run],
            # Graphs hold user callables (builders, conditions) that the sandbox cannot
            # re-import; the interpreter is deterministic by construction.
            workflow_runner=UnsandboxedWorkflowRunner(),
            workflow_failure_exception_types=[Exception],
        )
        self._worker_task = asyncio.create_task(self._worker.run())

    async def close(self) -> None:
        """Stop the worker and let go of the engine (the bridge's ``stop()`` calls this)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.shutdown()
        if self._worker_task is not None:
            with contextlib.suppress(Exception):
                await self._worker_task
            self._worker_task = None
        self._client = None
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            await asyncio.to_thread(embedded.release)

    async def _connect(self) -> Client:
        async with self._connect_lock:
            if self._client is None:
                address = self._config.address
                if address == "embedded":
                    self._embedded = EmbeddedTemporal(resolve_data_dir(self._data_dir))
                    address = await asyncio.to_thread(self._embedded.acquire)
                self._client = await self._connect_to(address)
            return self._client

    async def _connect_to(self, address: str) -> Client:
        # A server just started listens before its frontend is healthy ("Unavailable"), the
        # longer the busier the machine: keep trying for CONNECT_PATIENCE seconds.
        loop = asyncio.get_running_loop()
        end, pause = loop.time() + CONNECT_PATIENCE, 0.05
        while True:
            try:
                return await Client.connect(address, namespace=self._config.namespace)
            except RuntimeError as exc:
                if loop.time() + pause > end:
                    raise WorkflowEngineError(
                        f"cannot reach the workflow engine at {address}: {exc}"
                    ) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    # -- driving -------------------------------------------------------------------------------

    async def start(
        self,
        name: str,
        input: Any = None,
        *,
        run_id: str | None = None,
        service: str | None = None,
    ) -> str:
        """Start workflow ``name`` of ``service`` (default: this one) with JSON ``input``."""
        if service is None:
            self._graph(name)
        return await self._start(name, input, run_id, f"sb.{service}" if service else None, {})

    async def _start(
        self,
        name: str,
        input: Any,
        run_id: str | None,
        task_queue: str | None,
        extra: dict[str, Any],
    ) -> str:
        client = await self._connect()
        run_id = run_id or f"{name}-{uuid.uuid4().hex}"
        with self._bridge.telemetry.op(f"workflow {name}", run_id=run_id):
            trace: dict[str, str] = {}
            W3C.inject(trace)  # the run's steps continue this trace
            args = {
                "workflow": name,
                "input": input,
                "trace": trace,
                "caller": self._caller("start", run_id, name),
                **extra,
            }
            with _engine(f"start {name!r} as run {run_id!r}"):
                await client.start_workflow(
                    WORKFLOW_TYPE,
                    args,
                    id=run_id,
                    task_queue=task_queue or self.task_queue,
                    # A run id keys its steps' effects (idempotency keys): never reused.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # What query() and replay() read while no worker of the service runs.
                    memo={"workflow": name, "input": input},
                )
        return run_id

    def _caller(self, action: str, run_id: str, workflow: str) -> dict[str, str]:
        bridge = self._bridge
        return caller_proof(bridge.service, bridge.tls, action, run_id, workflow)

    async def await_result(self, run_id: str) -> dict[str, Any]:
        """The outputs of a completed run; WorkflowFailedError / WorkflowCancelledError /
        AccessDeniedError (its service refused the start) else."""
        handle = await self._handle(run_id)
        try:
            with _engine(f"await run {run_id!r}"):
                result: dict[str, Any] = await handle.result()
        except WorkflowFailureError as exc:
            if isinstance(exc.cause, TemporalCancelled):
                raise WorkflowCancelledError(f"run {run_id} was cancelled") from None
            cause = exc.cause
            if isinstance(cause, TemporalFailure) and _failure_type(cause) == ACCESS_DENIED:
                refused = AccessDeniedError(cause.message)
                self._refused("start", (await self.query(run_id)).workflow, refused)
                raise refused from None
            message = cause.message if isinstance(cause, TemporalFailure) else "failed"
            raise WorkflowFailedError(f"run {run_id}: {message}") from None
        return dict(result["outputs"])

    async def query(self, run_id: str) -> RunStatus:
        """The run's state, read from the engine (no instance of its service needs to run)."""
        handle = await self._handle(run_id)
        with _engine(f"query run {run_id!r}"):
            description = await handle.describe()
            memo = await description.memo()
        ended = _ENDED_OUTSIDE.get(description.status) if description.status else None
        if "workflow" not in memo:  # started around bridge.workflows, straight on the engine
            raise WorkflowNotFoundError(f"query run {run_id!r}: not a run of bridge.workflows")
        steps: dict[str, str] = dict(memo.get("steps", {}))
        graph = self._graphs.get(memo["workflow"])
        if not steps and graph is not None:  # no worker has taken the run up yet
            steps = dict.fromkeys(graph.ids, "pending")
        return RunStatus(
            run_id=run_id,
            workflow=memo["workflow"],
            state=ended or memo.get("state", "running"),
            input=memo.get("input"),
            outputs={
                key.removeprefix(OUTPUT_KEY): value[0]
                for key, value in memo.items()
                if key.startswith(OUTPUT_KEY)
            },
            steps=steps,
        )

    async def signal(self, run_id: str, name: str, payload: Any = None) -> None:
        """Hand ``payload`` to the run's ``WaitSignal(name=name)`` step; answered by an instance
        of the run's service, which applies its access policy (AccessDeniedError)."""
        await self._ask(run_id, "signal", SIGNAL, {"name": name, "payload": payload})

    async def cancel(self, run_id: str) -> None:
        """Cancel a run: its completed steps are compensated in reverse order."""
        await self._ask(run_id, "cancel", CANCEL, {})

    async def _ask(self, run_id: str, action: str, update: str, message: dict[str, Any]) -> None:
        handle = await self._running(run_id, action)
        workflow = (await self.query(run_id)).workflow
        caller = self._caller(action, run_id, workflow)
        try:
            with _engine(f"{action} run {run_id!r}"):
                await handle.execute_update(update, {**message, "caller": caller})
        except AccessDeniedError as refused:
            self._refused(action, workflow, refused)
            raise

    def _refused(self, action: str, workflow: str, error: AccessDeniedError) -> None:
        """The driving side's ``policy_violation`` event, as a refused call's client reports."""
        service = self._bridge.service
        self._bridge._lifecycle.emit(
            PolicyViolation(
                "client", service, action_name(action, workflow), service, error.message
            )
        )

    async def replay(self, run_id: str, *, from_step: str) -> str:
        """Start a new run of the same workflow and input, reusing the outputs of every step
        that neither is ``from_step`` nor runs after it because of it. Reads the old run from
        the engine: no instance of its service needs to run."""
        old = await self.query(run_id)
        if old.steps and from_step not in old.steps:
            raise ConfigError(
                f"replay of run {run_id!r}: workflow {old.workflow!r} has no step "
                f"{from_step!r}; its steps: {', '.join(sorted(old.steps))}"
            )
        handle = await self._handle(run_id)
        with _engine(f"replay run {run_id!r}"):
            task_queue = (await handle.describe()).task_queue
        replay = {"outputs": old.outputs, "from_step": from_step}
        return await self._start(old.workflow, old.input, None, task_queue, {"replay": replay})

    async def _handle(self, run_id: str) -> WorkflowHandle[Any, Any]:
        client = await self._connect()
        handle = client.get_workflow_handle(run_id)
        with _engine(f"run {run_id!r}"):
            await handle.describe()
        return handle

    async def _running(self, run_id: str, action: str) -> WorkflowHandle[Any, Any]:
        handle = await self._handle(run_id)
        with _engine(f"run {run_id!r}"):
            description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise WorkflowTerminalError(f"cannot {action} run {run_id!r}: it has finished")
        return handle

    async def _on_event(self, event: EventType, ctx: EventContext) -> None:
        """Hand the event to every running run of this service; each run keeps it only if one
        of its wait_event steps is waiting for it."""
        client = await self._connect()
        data = MessageToDict(event.to_proto(), preserving_proto_field_name=True)
        async for run in self._open_runs(client):
            with contextlib.suppress(RPCError):  # finished meanwhile
                await client.get_workflow_handle(run).signal(
                    EVENT_SIGNAL, args=[event.EVENT_NAME, data]
                )

    async def _open_runs(self, client: Client) -> AsyncIterator[str]:
        query = f'TaskQueue="{self.task_queue}" AND ExecutionStatus="Running"'
        async for execution in client.list_workflows(query):
            yield execution.id
