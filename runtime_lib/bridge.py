"""Bridge: the one object a service process owns.

It serves handler instances over gRPC, builds typed clients, publishes and subscribes to events,
and owns every background part (server, channels, registry, events): ``start()`` brings them up,
``stop()`` drains and closes them all.

    bridge = Bridge("payment", registry={"ledger": ["127.0.0.1:50052"]})
    bridge.serve(Payments())
    async with bridge:
        ledger = bridge.client(LedgerClient, service="ledger")
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, overload

import grpc

from runtime_lib.errors import ConfigError
from runtime_lib.events.context import EventContext
from runtime_lib.events.envelope import EventEnvelope
from runtime_lib.events.event_type import E, EventType
from runtime_lib.events.outbox import OutboxAdmin
from runtime_lib.events.runtime import EventsConfig, EventsRuntime
from runtime_lib.lifecycle import Callback, ConnectionObserver, Lifecycle, LifecycleEvent
from runtime_lib.registry.base import Instance, Registry
from runtime_lib.registry.static import StaticRegistry
from runtime_lib.rpc.admission import Admission, AdmissionLimits
from runtime_lib.rpc.base import ClientBase, HandlerBase
from runtime_lib.rpc.breaker import BreakerPolicy
from runtime_lib.rpc.client import RpcInvoker, Target
from runtime_lib.rpc.deadline import parse_timeout
from runtime_lib.rpc.dispatch import Dispatcher
from runtime_lib.rpc.endpoints import EndpointPool
from runtime_lib.rpc.idempotency import IdempotencyCache, IdempotencyPolicy
from runtime_lib.rpc.options import CallOptions
from runtime_lib.rpc.server import RpcServer
from runtime_lib.telemetry.api import Telemetry
from runtime_lib.telemetry.config import TelemetryConfig

C = TypeVar("C", bound=ClientBase)

_WILDCARD_HOSTS = ("0.0.0.0", "[::]", "::", "")


class Bridge:
    """One service process: ``service`` is the name it registers under and calls out as.

    Keyword options:
      listen: where the gRPC server binds (``"127.0.0.1:0"`` picks a free port).
      advertise: the address other processes reach it on (default: the bound address).
      registry: a :class:`Registry`, or a static ``{"service": ["host:port", ...]}`` map.
      call_defaults: :class:`CallOptions` every call starts from (per-call options win).
      admission: concurrent and queued call limits of the server (256 + 256).
      idempotency: TTL and size of the server's replay cache (24 h, 10 000 entries).
      breaker: circuit breaker policy for each endpoint this bridge calls (10 s, 10, 50 %, 30 s).
      drain_timeout: how long ``stop()`` waits for in-flight calls.
      interceptors: ``grpc.aio`` server interceptors (authentication, logging), outermost first.
      data_dir: where the event outbox (and the embedded broker's store) live; default
        ``$SB_DATA_DIR``, else ``$XDG_STATE_HOME/servicebridge``, else
        ``~/.local/state/servicebridge`` (one per user, so processes meet on one broker).
      events: ``"embedded"`` (a local nats-server shared under data_dir), ``"memory"``, a
        ``nats://`` URL or a :class:`NatsConfig`. Started on ``start()`` when there are
        subscriptions or a backlog, else on the first ``publish()``.
      max_outbox_rows, events_max_in_flight, event_max_attempts: event limits (100 000, 32, 5).
      telemetry: spans, metrics and logs of every call and event (:class:`TelemetryConfig`;
        off by default). User code reaches it as ``bridge.telemetry``.
      expose_errors: send a crashed handler's exception type and text to the caller (for
        development; by default the caller gets a generic message with the request id and the
        traceback goes to the ``runtime_lib.rpc`` log).
    """

    def __init__(
        self,
        service: str,
        *,
        listen: str = "127.0.0.1:0",
        advertise: str | None = None,
        registry: Registry | Mapping[str, Sequence[str]] | None = None,
        call_defaults: CallOptions | None = None,
        admission: AdmissionLimits | None = None,
        idempotency: IdempotencyPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        drain_timeout: float = 30.0,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        data_dir: str | Path | None = None,
        events: EventsConfig = "embedded",
        max_outbox_rows: int = 100_000,
        events_max_in_flight: int = 32,
        event_max_attempts: int = 5,
        telemetry: TelemetryConfig | None = None,
        expose_errors: bool = False,
    ) -> None:
        if not service:
            raise ConfigError("a bridge needs a service name")
        defaults: CallOptions = {**(call_defaults or {})}
        default_timeout = defaults.get("timeout")
        if default_timeout is not None:
            parse_timeout(default_timeout)  # a bad default fails here, not on the first call
        self.service = service
        self.telemetry = Telemetry(service, telemetry)
        self.telemetry.observe_breakers(
            lambda: self._pool.breaker_states() if self._pool is not None else []
        )
        self.registry: Registry = (
            StaticRegistry(registry)
            if registry is None or isinstance(registry, Mapping)
            else registry
        )
        self._listen = listen
        self._advertise = advertise
        self._call_defaults = defaults
        self._breaker = breaker or BreakerPolicy()
        self._dispatcher = Dispatcher(
            Admission(admission or AdmissionLimits()),
            IdempotencyCache(idempotency or IdempotencyPolicy()),
            self.telemetry,
            expose_errors=expose_errors,
        )
        self._drain_timeout = drain_timeout
        self._interceptors = tuple(interceptors)
        self._server: RpcServer | None = None
        self._pool: EndpointPool | None = None
        self._address: str | None = None
        self._started = False
        self._routes: dict[str, str] = {}
        self._lifecycle = Lifecycle()
        if isinstance(self.registry, ConnectionObserver):
            self.registry.observe_connection(self._lifecycle, service)
        self.events = EventsRuntime(
            service=service,
            data_dir=data_dir,
            events=events,
            max_outbox_rows=max_outbox_rows,
            events_max_in_flight=events_max_in_flight,
            max_attempts=event_max_attempts,
            telemetry=self.telemetry,
            lifecycle=self._lifecycle,
        )

    def on(self, event: LifecycleEvent, callback: Callback) -> None:
        """Call ``callback(ConnectionEvent)`` on ``"connected"``, ``"reconnecting"`` or
        ``"disconnected"`` of the broker and registry connections (see :mod:`runtime_lib.lifecycle`)."""
        self._lifecycle.on(event, callback)

    # -- serving ---------------------------------------------------------------------------

    def serve(self, *handlers: HandlerBase) -> None:
        """Serve these handler instances (call before ``start()``)."""
        if self._started:
            raise ConfigError("serve() must be called before start()")
        for handler in handlers:
            self._dispatcher.add(handler)

    def publish_routes(self, routes: Mapping[str, str]) -> None:
        """Publish HTTP routes in the registry beside the served RPC methods (call before
        ``start()``): ``{"GET /orders/{id}": "http://10.0.0.5:8000"}``, route to base URL. A
        service map lists both; RPC paths start with ``/``, routes with their method."""
        if self._started:
            raise ConfigError("publish_routes() must be called before start()")
        for route in routes:
            if route.startswith("/"):
                raise ConfigError(f"route {route!r}: write it as 'METHOD /path'")
        self._routes.update(routes)

    @property
    def address(self) -> str:
        """``host:port`` the gRPC server is bound to (after ``start()``)."""
        if self._address is None:
            raise ConfigError(f"bridge {self.service!r} is not serving: serve() then start()")
        return self._address

    # -- calling ---------------------------------------------------------------------------

    def client(
        self, client_class: type[C], *, address: str | None = None, service: str | None = None
    ) -> C:
        """A typed client for one address, or for a service name resolved through the registry."""
        if (address is None) == (service is None):
            raise ConfigError("client() needs exactly one of address= or service=")
        if address is not None:
            fixed = (Instance(address),)
            target = Target(f"address {address}", lambda: fixed)
        else:
            assert service is not None
            name = service
            target = Target(
                f"service {name!r}",
                lambda: self.registry.instances(name),
                local=name == self.service,
            )
        invoker = RpcInvoker(
            target=target,
            pool=self._endpoints(),
            dispatcher=self._dispatcher,
            caller=self.service,
            defaults=self._call_defaults,
            telemetry=self.telemetry,
        )
        return client_class(invoker)

    def _endpoints(self) -> EndpointPool:
        if self._pool is None:
            self._pool = EndpointPool(self._breaker)
        return self._pool

    # -- events ----------------------------------------------------------------------------

    async def publish(
        self,
        event: EventType,
        *,
        idempotency_key: str | None = None,
        partition_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        occurred_at: datetime | None = None,
        fire_and_forget: bool = False,
    ) -> str:
        """Store ``event`` in the durable outbox; return its id (UUIDv7) once it is durable."""
        if not self._started:
            raise ConfigError(f"bridge {self.service!r} is not started: start() before publish()")
        await self.events.ensure_started()
        return await self.events.publish(
            event,
            idempotency_key=idempotency_key,
            partition_key=partition_key,
            headers=headers,
            occurred_at=occurred_at,
            fire_and_forget=fire_and_forget,
        )

    @overload
    def subscribe(
        self,
        event: type[E],
        handler: Callable[[E, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None: ...

    @overload
    def subscribe(
        self,
        event: str,
        handler: Callable[[EventEnvelope, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None: ...

    def subscribe(
        self,
        event: type[EventType] | str,
        handler: Callable[[Any, EventContext], Awaitable[None]],
        *,
        filter: Mapping[str, Any] | None = None,
        dedupe: bool = False,
        name: str = "",
    ) -> None:
        """Handle an event class or a pattern (``order.*``, ``order.#``); call before ``start()``."""
        if self._started:
            raise ConfigError("subscribe() must be called before start()")
        self.events.subscribe(event, handler, filter=filter, dedupe=dedupe, name=name)

    @property
    def outbox(self) -> OutboxAdmin:
        """Failed, pending and per-state counts of the outbox; retry or discard failed rows."""
        return self.events.outbox

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self.registry.start()
        if self._dispatcher.services:
            self._server = RpcServer(
                self._dispatcher, self._listen, self._drain_timeout, self._interceptors
            )
            port = await self._server.start()
            host = self._listen.rsplit(":", 1)[0]
            if host in _WILDCARD_HOSTS:
                host = "127.0.0.1"
            self._address = f"{host}:{port}"
        if self._dispatcher.services or self._routes:
            # An HTTP-only process is found at its first route's URL.
            address = self._advertise or self._address or next(iter(self._routes.values()))
            methods = {**self._dispatcher.contracts(), **self._routes}
            await self.registry.register(self.service, address, methods)
        if self.events.has_subscriptions or await self.events.has_backlog():
            await self.events.start()

    async def stop(self) -> None:
        """Drain in-flight calls, refuse new ones, withdraw from the registry, close everything."""
        if not self._started:
            return
        self._started = False
        try:
            await self.registry.stop()
            if self._server is not None:
                await self._server.stop()
            await self.events.stop()
        finally:
            self._server = None
            self._address = None
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()
            if self.telemetry.enabled:
                # Off the loop: exporters may block on the network (otlp) or the disk (file).
                await asyncio.to_thread(self.telemetry.force_flush)

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
