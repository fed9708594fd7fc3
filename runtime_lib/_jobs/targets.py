"""Targets: a job that calls a generated client's method or publishes an event, typed.

    bridge.jobs.add("ping-ledger", call(ledger.ping, PingRequest()), interval="30s")
    bridge.jobs.add("daily-report", publish(bridge, lambda ctx: ReportDue(day=...)), cron=...)

mypy checks that the request fits the method and that the event is an event class. Each run
passes the job's idempotency key, so a retried or taken-over run calls or publishes once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, Unpack

from runtime_lib._events.event_type import EventType
from runtime_lib._jobs.context import JobContext
from runtime_lib._jobs.runner import JobHandler
from runtime_lib._rpc.options import CallOptions

Req = TypeVar("Req", contravariant=True)
R = TypeVar("R")
E = TypeVar("E", bound=EventType)


class UnaryMethod(Protocol[Req]):
    """A generated unary client method: ``request`` plus the call options."""

    def __call__(self, request: Req, /, **options: Unpack[CallOptions]) -> Awaitable[object]: ...


class Publisher(Protocol):
    """What publishes an event: the Bridge."""

    async def publish(self, event: EventType, *, idempotency_key: str | None = None) -> str: ...


def _build(value: R | Callable[[JobContext], R], ctx: JobContext) -> R:
    return value(ctx) if callable(value) else value


def call(method: UnaryMethod[R], request: R | Callable[[JobContext], R]) -> JobHandler:
    """Call ``method`` with ``request`` (or what ``request(ctx)`` builds) on each run."""

    async def run(ctx: JobContext) -> None:
        await method(_build(request, ctx), idempotency_key=ctx.idempotency_key)

    return run


def publish(bridge: Publisher, event: E | Callable[[JobContext], E]) -> JobHandler:
    """Publish ``event`` (or what ``event(ctx)`` builds) through the outbox on each run."""

    async def run(ctx: JobContext) -> None:
        await bridge.publish(_build(event, ctx), idempotency_key=ctx.idempotency_key)

    return run
