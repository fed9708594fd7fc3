"""The Temporal activity that performs a step's effect (call, publish, local) on a bridge.

Activities are where side effects happen; the interpreter only decides which to run. Each
carries a key derived from (run id, step id), so a retry after a crash replays instead of
repeating. Errors leave as ``ApplicationError`` with our code and message only: nothing internal
(traceback, paths) is recorded in the run's history.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from opentelemetry import context as otel_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from runtime_lib import HandlerError, ServiceBridgeError
from runtime_lib.workflows.steps import Call, Effect, Local, Publish, RunView, Workflow

if TYPE_CHECKING:
    from runtime_lib import Bridge

EFFECT_ACTIVITY = "sb.effect"
HEARTBEAT_EVERY = 1.0
HEARTBEAT_TIMEOUT = 5.0
W3C = TraceContextTextMapPropagator()

log = logging.getLogger("runtime_lib.workflows")


def effect_key(run_id: str, step_id: str, compensate: bool) -> str:
    return f"{run_id}/{step_id}" + ("/compensate" if compensate else "")


def effect_event_id(key: str) -> str:
    """The id of the event a publish step publishes: a UUID of its effect key, so a step re-run
    after a crash publishes the event under the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sb-workflow:{key}"))


def to_json(message: Any) -> Any:
    return MessageToDict(message, preserving_proto_field_name=True)


class Effects:
    """The ``sb.effect`` activity of one bridge: looks the step up in that bridge's graphs."""

    def __init__(self, bridge: Bridge, graph: Callable[[str], Workflow]) -> None:
        self._bridge = bridge
        self._graph = graph

    @activity.defn(name=EFFECT_ACTIVITY)
    async def run(self, task: dict[str, Any]) -> Any:
        graph = self._graph(task["workflow"])
        step = graph.step(task["step"])
        effect: Effect
        if task["compensate"]:
            assert isinstance(step, Call | Publish | Local) and step.compensate is not None
            effect = step.compensate
        else:
            assert isinstance(step, Call | Publish | Local)
            effect = step
        run = RunView(task["run_id"], task["input"], task["outputs"])
        key = effect_key(task["run_id"], step.id, task["compensate"])
        # Every step's span joins the trace the run was started in, whichever process runs it.
        token = otel_context.attach(W3C.extract(task.get("trace", {})))
        try:
            name = f"workflow step {effect.id}" + (" (compensate)" if task["compensate"] else "")
            with self._bridge.telemetry.op(name, run_id=run.run_id, workflow=graph.name):
                return await self._heartbeating(self._perform(effect, run, key))
        finally:
            otel_context.detach(token)

    async def _heartbeating(self, perform: Coroutine[Any, Any, Any]) -> Any:
        work = asyncio.ensure_future(perform)
        try:
            # Heartbeats tell the engine this worker is alive: if it dies mid-step, the step is
            # retried elsewhere after HEARTBEAT_TIMEOUT rather than after the whole step timeout.
            # None before the first interval: most steps end sooner, and each heartbeat is a
            # write on the engine.
            while not (await asyncio.wait({work}, timeout=HEARTBEAT_EVERY))[0]:
                activity.heartbeat()
            return work.result()
        except HandlerError as exc:
            # The callee decided: retrying the same request gets the same answer. BENIGN: a
            # business outcome, not logged by the engine's worker as a crash.
            raise ApplicationError(
                f"{exc.handler_code}: {exc.message}",
                type="HandlerError",
                non_retryable=True,
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        except ServiceBridgeError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__) from None
        except (KeyError, ParseError) as exc:
            # A builder or JSON path that does not fit this run: the same every attempt.
            raise ApplicationError(
                f"building the step's input: {exc}", type="BadInput", non_retryable=True
            ) from None
        except Exception:
            # The traceback stays in this service's log, out of the run's history (which its
            # callers read); the step is retried, as a crash may be transient.
            log.exception("workflow step crashed")
            raise ApplicationError(
                f"the step crashed; its traceback is in the log of service {self._bridge.service!r}",
                type="StepCrashed",
            ) from None
        finally:
            work.cancel()

    async def _perform(self, effect: Effect, run: RunView, key: str) -> Any:
        if isinstance(effect, Call):
            if callable(effect.input):
                request = effect.input(run)
            else:
                request = ParseDict(
                    {k: run.path(p) for k, p in effect.input.items()}, effect.request_type()
                )
            client = self._bridge.client(effect.client_class, service=effect.service)
            # The bound method takes the call options the typed builder cannot carry.
            method: Any = getattr(client, effect.method.__name__)
            reply = await method(request, idempotency_key=key, timeout=effect.timeout)
            return to_json(reply)
        if isinstance(effect, Publish):
            event_id = await self._bridge.publish(
                effect.input(run), idempotency_key=key, event_id=effect_event_id(key)
            )
            return {"event_id": event_id}
        return await effect.fn(run)
