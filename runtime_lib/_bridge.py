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
import ipaddress
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Unpack, overload

from runtime_lib._errors import ConfigError, StateError
from runtime_lib._events.config import Broker, EventsConfig
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.event_type import E, EventType
from runtime_lib._events.outbox import OutboxAdmin
from runtime_lib._events.runtime import EventsRuntime
from runtime_lib._jobs import JobHandler, JobOptions, Jobs
from runtime_lib._lifecycle import (
    Callback,
    ConnectionLifecycleEvent,
    ConnectionObserver,
    Lifecycle,
    ViolationCallback,
)
from runtime_lib._registry.base import Registry
from runtime_lib._registry.nats_kv import NatsKvRegistry
from runtime_lib._registry.static import StaticRegistry
from runtime_lib._rpc.admission import Admission
from runtime_lib._rpc.attempts import Route, client_target
from runtime_lib._rpc.base import ClientBase, HandlerBase
from runtime_lib._rpc.client import RpcInvoker
from runtime_lib._rpc.config import RpcConfig
from runtime_lib._rpc.dispatch import Dispatcher
from runtime_lib._rpc.endpoints import EndpointPool, close_all
from runtime_lib._rpc.idempotency import IdempotencyCache
from runtime_lib._rpc.outgoing import checked_defaults
from runtime_lib._rpc.server import RpcServer
from runtime_lib._rpc.transports import connector
from runtime_lib._rpc.transports.base import Connection
from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig

if TYPE_CHECKING:
    from runtime_lib._rpc.grpclib_server import GrpclibServer
    from runtime_lib.workflows import Workflows, WorkflowsConfig
from runtime_lib._access.policy import AccessPolicy
from runtime_lib._security.bridge_tls import BridgeTls
from runtime_lib._security.embedded_broker import SecuredEmbeddedBroker
from runtime_lib._security.tls import TlsConfig

C = TypeVar("C", bound=ClientBase)
H = TypeVar("H", bound=JobHandler)

_WILDCARD_HOSTS = ("0.0.0.0", "[::]", "::", "")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _is_loopback(listen: str) -> bool:
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a wildcard ("", "0.0.0.0" is an address) or a host name: reachable


class Bridge:
    """One service process: ``service`` is the name it registers under and calls out as.

    Keyword options:
      listen: where the gRPC server binds (``"127.0.0.1:0"`` picks a free port).
      advertise: the address other processes reach it on (default: the bound address).
      registry: a :class:`Registry`, or a static ``{"service": ["host:port", ...]}`` map.
      data_dir: where the event outbox (and the embedded broker's store) live; default
        ``$SB_DATA_DIR``, else ``$XDG_STATE_HOME/servicebridge``, else
        ``~/.local/state/servicebridge`` (one per user, so processes meet on one broker).
      rpc: the settings of calls and the server (:class:`RpcConfig`: call defaults, transport,
        admission, idempotency, breaker, drain timeout, interceptors, expose_errors).
      events: an :class:`EventsConfig` (broker and limits), or just its broker: ``"embedded"``
        (a local nats-server shared under data_dir), ``"memory"``, a ``nats://`` URL or a
        :class:`NatsConfig`.
      telemetry: spans, metrics and logs of every call and event (:class:`TelemetryConfig`;
        off by default). User code reaches it as ``bridge.telemetry``.
      workflows: where workflow runs live (:class:`runtime_lib.workflows.WorkflowsConfig`;
        default: an embedded Temporal dev server under data_dir). ``bridge.workflows``
        registers and drives them (docs/workflows.md; needs ``pip install 'sb-gen[workflows]'``).
      tls: mutual TLS (:class:`TlsConfig`, e.g. ``TlsConfig.from_dir("certs", service)``): the
        server requires a client certificate from the CA and takes ``ctx.caller`` from it; calls
        out present this bridge's certificate and accept only the service they meant to call;
        the event bus and a NatsKvRegistry connect to NATS with it too. Rotated files are picked
        up by new connections. See docs/security.md.
      insecure: allow a plaintext server on a non-loopback ``listen`` address (without it, such
        a bridge refuses to start: anyone on the network could call it as anyone).
      access: :class:`AccessPolicy` over the protocol's ``allowed_callers`` (overrides, and a
        deny-by-default mode).
    """

    def __init__(
        self,
        service: str,
        *,
        listen: str = "127.0.0.1:0",
        advertise: str | None = None,
        registry: Registry | Mapping[str, Sequence[str]] | None = None,
        data_dir: str | Path | None = None,
        rpc: RpcConfig | None = None,
        events: EventsConfig | Broker = "embedded",
        telemetry: TelemetryConfig | None = None,
        workflows: WorkflowsConfig | None = None,
        tls: TlsConfig | None = None,
        insecure: bool = False,
        access: AccessPolicy | None = None,
    ) -> None:
        if not service:
            raise ConfigError("a bridge needs a service name")
        if tls is None and not insecure and not _is_loopback(listen):
            raise ConfigError(
                f"bridge {service!r} would listen on {listen} without TLS, where any host could "
                "call it as any service: pass tls=TlsConfig.from_dir(<certs>, "
                f"{service!r}) (sb-certs issue {service}), or insecure=True if plaintext on "
                "this network is what you mean"
            )
        self.tls = BridgeTls(tls, service) if tls is not None else None
        rpc = rpc or RpcConfig()
        self._connect = connector(rpc.transport, rpc.max_message_size)
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
        self._call_defaults = checked_defaults(rpc.call_defaults)
        self._breaker = rpc.breaker
        self._lifecycle = Lifecycle()
        self._dispatcher = Dispatcher(
            Admission(rpc.admission),
            IdempotencyCache(rpc.idempotency),
            self.telemetry,
            expose_errors=rpc.expose_errors,
            access=access,
            on_violation=self._lifecycle.emit,
            service_name=service,
        )
        self._drain_timeout = rpc.drain_timeout
        self._interceptors = tuple(rpc.interceptors)
        self._transport = rpc.transport
        self._reflection = rpc.reflection
        self._max_message_size = rpc.max_message_size
        self._server: RpcServer | GrpclibServer | None = None
        self._pool: EndpointPool[Connection] | None = None
        self._address: str | None = None
        self._started = False
        self._routes: dict[str, str] = {}
        if isinstance(self.registry, ConnectionObserver):
            self.registry.observe_connection(self._lifecycle, service)
        if self.tls is not None and isinstance(self.registry, NatsKvRegistry):
            self.registry.use_tls(self.tls.nats_options)
        self.events = EventsRuntime(
            service=service,
            data_dir=data_dir,
            events=events,
            telemetry=self.telemetry,
            lifecycle=self._lifecycle,
            nats_tls=self.tls.nats_options if self.tls is not None else None,
            broker_security=SecuredEmbeddedBroker(self.tls) if self.tls is not None else None,
        )
        self._jobs = Jobs(service, telemetry=self.telemetry, events=self.events)
        self._data_dir = data_dir
        self._workflows_config = workflows
        self._workflows: Workflows | None = None

    @overload
    def on(self, event: ConnectionLifecycleEvent, callback: Callback) -> None: ...

    @overload
    def on(self, event: Literal["policy_violation"], callback: ViolationCallback) -> None: ...

    def on(self, event: str, callback: Callable[[Any], Awaitable[None] | None]) -> None:
        """Call ``callback(ConnectionEvent)`` on ``"connected"``, ``"reconnecting"`` or
        ``"disconnected"`` of the broker and registry connections (see :mod:`runtime_lib._lifecycle`);
        ``callback(PolicyViolation)`` on ``"policy_violation"``: a call this bridge refused, or
        one of its calls refused, by the access policy."""
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
        target = client_target(
            self.registry.instances, address=address, service=service, own_service=self.service
        )
        route = Route(target, self._endpoints(), self.service, self._call_defaults)
        invoker = RpcInvoker(route, self._dispatcher, self.telemetry, self._lifecycle.emit)
        return client_class(invoker)

    def _endpoints(self) -> EndpointPool[Connection]:
        if self._pool is None:
            self._pool = EndpointPool(self._breaker, self._connect, self.tls)
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
        event_id: str | None = None,
    ) -> str:
        """Store ``event`` in the durable outbox; return its id once it is durable: a new UUIDv7,
        or ``event_id`` (stable across re-publishes of the same event; the broker's message id
        unless ``idempotency_key`` is given)."""
        if not self._started:
            raise StateError(f"bridge {self.service!r} is not started: start() before publish()")
        await self.events.ensure_started()
        return await self.events.publish(
            event,
            idempotency_key=idempotency_key,
            partition_key=partition_key,
            headers=headers,
            occurred_at=occurred_at,
            fire_and_forget=fire_and_forget,
            event_id=event_id,
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

    # -- jobs ------------------------------------------------------------------------------

    def job(self, name: str, **options: Unpack[JobOptions]) -> Callable[[H], H]:
        """Declare a job (``cron=``/``tz=``, ``interval=``, or neither for one-shots only);
        see docs/jobs.md. Call before ``start()``."""
        return self._jobs.job(name, **options)

    @property
    def jobs(self) -> Jobs:
        """Declare, list, pause, resume, trigger; schedule and cancel one-shots."""
        return self._jobs

    # -- workflows -------------------------------------------------------------------------

    @property
    def workflows(self) -> Workflows:
        """Register workflow graphs and start, await, query, signal, cancel and replay runs."""
        if self._workflows is None:
            try:
                from runtime_lib.workflows import Workflows
            except ImportError as exc:
                raise ConfigError(
                    f"workflows need the engine's packages ({exc.name} is missing):"
                    " pip install 'sb-gen[workflows]'"
                ) from None
            self._workflows = Workflows(
                self, self._workflows_config, self._data_dir, self._dispatcher.access
            )
        return self._workflows

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._dispatcher.access.check_names(
            [spec.full_name for spec in self._dispatcher.services],
            [path.lstrip("/") for path in self._dispatcher.routes],
        )
        self._started = True
        await self.registry.start()
        if self._dispatcher.services:
            if self._transport == "grpclib":
                from runtime_lib._rpc.grpclib_server import GrpclibServer

                self._server = GrpclibServer(
                    self._dispatcher,
                    self._listen,
                    self._drain_timeout,
                    reflection=self._reflection,
                    tls=self.tls,
                    max_message_size=self._max_message_size,
                )
            else:
                self._server = RpcServer(
                    self._dispatcher,
                    self._listen,
                    self._drain_timeout,
                    self._interceptors,
                    reflection=self._reflection,
                    tls=self.tls,
                    max_message_size=self._max_message_size,
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
        await self._jobs.start()
        if self._workflows is not None:
            await self._workflows.serve()

    async def stop(self) -> None:
        """Drain in-flight calls, refuse new ones, withdraw from the registry, close everything."""
        if not self._started:
            return
        self._started = False
        try:
            if self._workflows is not None:
                # First: in-flight steps still call and publish through this bridge.
                await self._workflows.close()
            await self._jobs.stop()
            await self.registry.stop()
            if self._server is not None:
                await self._server.stop()
            await self.events.stop()
        finally:
            self._server = None
            self._address = None
            pool, self._pool = self._pool, None
            if pool is not None:
                await close_all(pool)
            if self.telemetry.enabled:
                # Off the loop: exporters may block on the network (otlp) or the disk (file).
                await asyncio.to_thread(self.telemetry.force_flush)

    async def run_forever(self) -> None:
        """Serve until SIGTERM or SIGINT, then ``stop()``: in-flight calls drain (up to
        ``RpcConfig.drain_timeout``) and this returns, so the process can exit 0.

        Starts the bridge if it is not started. Signals are handled from the moment it is called;
        it must run on the main thread's event loop (``asyncio.run(main())``).
        """
        loop = asyncio.get_running_loop()
        signalled = asyncio.Event()
        try:
            for sig in _STOP_SIGNALS:
                loop.add_signal_handler(sig, signalled.set)
        except (RuntimeError, ValueError, NotImplementedError) as exc:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            raise ConfigError(
                "run_forever() handles SIGTERM and SIGINT, so it needs the main thread's event "
                "loop on a POSIX system: call it from asyncio.run(...)"
            ) from exc
        try:
            await self.start()
            await signalled.wait()
        finally:
            for sig in _STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            await self.stop()

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
