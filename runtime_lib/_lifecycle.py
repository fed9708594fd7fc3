"""Connection lifecycle of a bridge: ``bridge.on("connected" | "reconnecting" | "disconnected", cb)``.

The ServiceBridge "Lifecycle" events, for each connection a bridge keeps to NATS: the event
broker (``connection="events"``) and the NATS KV registry (``connection="registry"``). When a
link drops, callbacks see ``disconnected`` (the reason), then ``reconnecting`` with attempt 1, 2,
… (each after the previous attempt failed, with why), then ``connected`` again; ``stop()`` ends
with ``disconnected`` (reason ``"closed"``). A callback may be a function or a coroutine function;
one that raises is logged and does not disturb the connection.

``bridge.on("policy_violation", cb)`` reports calls refused by the access policy, on both sides
(:class:`runtime_lib._access.policy.PolicyViolation`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from runtime_lib._access.policy import PolicyViolation
from runtime_lib._errors import ConfigError

log = logging.getLogger("runtime_lib.lifecycle")

ConnectionLifecycleEvent = Literal["connected", "reconnecting", "disconnected"]
LifecycleEvent = Literal["connected", "reconnecting", "disconnected", "policy_violation"]
EVENTS: tuple[LifecycleEvent, ...] = (
    "connected",
    "reconnecting",
    "disconnected",
    "policy_violation",
)


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """What a lifecycle callback receives."""

    event: ConnectionLifecycleEvent
    connection: str  # "events" (the broker) or "registry"
    service_name: str
    url: str
    attempt: int = 0  # reconnecting: 1 for the first attempt since the link dropped
    reason: str = ""  # reconnecting / disconnected: why


Callback = Callable[[ConnectionEvent], Awaitable[None] | None]
ViolationCallback = Callable[[PolicyViolation], Awaitable[None] | None]
_AnyCallback = Callable[[Any], Awaitable[None] | None]


class Lifecycle:
    """The callbacks registered with ``bridge.on``; connections report to it."""

    def __init__(self) -> None:
        self._callbacks: dict[LifecycleEvent, list[_AnyCallback]] = {name: [] for name in EVENTS}
        self._running: set[asyncio.Task[None]] = set()

    def on(self, event: str, callback: _AnyCallback) -> None:
        if event not in self._callbacks:
            raise ConfigError(f"bridge.on({event!r}): use one of {', '.join(EVENTS)}")
        self._callbacks[event].append(callback)

    def emit(self, event: ConnectionEvent | PolicyViolation) -> None:
        for callback in self._callbacks[event.event]:
            try:
                result = callback(event)
            except Exception:
                log.exception("%s callback for %s failed", event.event, _source(event))
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(_logged(result, event))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    def watch(self, connection: str, service_name: str, url: str) -> NatsWatch:
        return NatsWatch(self, connection, service_name, url)


def _source(event: ConnectionEvent | PolicyViolation) -> str:
    return event.connection if isinstance(event, ConnectionEvent) else event.method


async def _logged(result: Awaitable[None], event: ConnectionEvent | PolicyViolation) -> None:
    try:
        await result
    except Exception:
        log.exception("%s callback for %s failed", event.event, _source(event))


@runtime_checkable
class ConnectionObserver(Protocol):
    """A part with its own NATS connection (the bus, the KV registry) reports through this."""

    def observe_connection(self, lifecycle: Lifecycle, service_name: str) -> None: ...


class NatsWatch:
    """nats-py's connection callbacks as lifecycle events (``nats.connect(**watch.options())``)."""

    def __init__(self, lifecycle: Lifecycle, connection: str, service_name: str, url: str) -> None:
        self._lifecycle = lifecycle
        self._connection = connection
        self._service_name = service_name
        self._url = url
        self._attempt = 0  # > 0 while reconnecting
        self.closing = False  # set before a deliberate close

    def _emit(self, event: ConnectionLifecycleEvent, attempt: int = 0, reason: str = "") -> None:
        self._lifecycle.emit(
            ConnectionEvent(event, self._connection, self._service_name, self._url, attempt, reason)
        )

    def connected(self) -> None:
        self._attempt = 0
        self._emit("connected")

    def options(self) -> dict[str, Any]:
        return {
            "disconnected_cb": self._disconnected,
            "reconnected_cb": self._reconnected,
            "error_cb": self._error,
        }

    async def _disconnected(self) -> None:
        if self.closing:
            self._attempt = 0
            self._emit("disconnected", reason="closed")
            return
        self._attempt = 1
        self._emit("disconnected", reason="connection lost")
        self._emit("reconnecting", 1, "connection lost")

    async def _reconnected(self) -> None:
        self.connected()

    async def _error(self, exc: Exception) -> None:
        log.debug("nats (%s): %r", self._connection, exc)
        if self._attempt and not self.closing:
            self._attempt += 1
            self._emit("reconnecting", self._attempt, f"{type(exc).__name__}: {exc}".rstrip(": "))
