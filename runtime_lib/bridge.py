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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import grpc

from runtime_lib.access.policy import AccessPolicy
from runtime_lib.errors import ConfigError
from runtime_lib.events.context import EventContext
from runtime_lib.events.envelope import EventEnvelope
from runtime_lib.events.event_type import E, EventType
from runtime_lib.events.outbox import OutboxAdmin
from runtime_lib.events.runtime import EventsConfig, EventsRuntime
from runtime_lib.lifecycle import (
    Callback,
    ConnectionLifecycleEvent,
    ConnectionObserver,
    Lifecycle,
    ViolationCallback,
)
from runtime_lib.registry.base import Instance, Registry
from runtime_lib.registry.nats_kv import NatsKvRegistry
from runtime_lib.registry.static import StaticRegistry
from runtime_lib.rpc.admission import Admission, AdmissionLimits
from runtime_lib.rpc.base import ClientBase, HandlerBase
from runtime_lib.rpc.breaker import BreakerPolicy
from runtime_lib.rpc.client import RpcInvoker, Target
from runtime_lib.rpc.deadline import parse_timeout
from runtime_lib.rpc.dispatch import Dispatcher
from runtime_lib.rpc.endpoints import EndpointPool
from runtime_lib.rpc.idempotency import IdempotencyCache, IdempotencyPolicy
from runtime_lib.rpc.options import CallOptions, NetworkTransport, check_call_options
from runtime_lib.rpc.server import RpcServer
from runtime_lib.rpc.transports import connector
from runtime_lib.security.bridge_tls import BridgeTls
from runtime_lib.security.tls import TlsConfig
from runtime_lib.telemetry.api import Telemetry
from runtime_lib.telemetry.config import TelemetryConfig

C = TypeVar("C", bound=ClientBase)

_WILDCARD_HOSTS = ("0.0.0.0", "[::]", "::", "")


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
      call_defaults: :class:`CallOptions` every call starts from (per-call options win).
      transport: the library that carries calls to other processes: ``"grpcio"`` (default) or
        ``"grpclib"`` (pure Python, the same wire; ``pip install 'sb-gen[grpclib]'``).
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
        call_defaults: CallOptions | None = None,
        transport: NetworkTransport = "grpcio",
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
        defaults: CallOptions = {**(call_defaults or {})}
        check_call_options(defaults)  # a bad default fails here, not on the first call
        default_timeout = defaults.get("timeout")
        if default_timeout is not None:
            parse_timeout(default_timeout)
        self._connect = connector(transport)
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
        self._lifecycle = Lifecycle()
        self._dispatcher = Dispatcher(
            Admission(admission or AdmissionLimits()),
            IdempotencyCache(idempotency or IdempotencyPolicy()),
            self.telemetry,
            expose_errors=expose_errors,
            access=access,
            on_violation=self._lifecycle.emit,
            service_name=service,
        )
        self._drain_timeout = drain_timeout
        self._interceptors = tuple(interceptors)
        self._server: RpcServer | None = None
        self._pool: EndpointPool | None = None
        self._address: str | None = None
        self._started = False
        if isinstance(self.registry, ConnectionObserver):
            self.registry.observe_connection(self._lifecycle, service)
        if self.tls is not None and isinstance(self.registry, NatsKvRegistry):
            self.registry.use_tls(self.tls.nats_options)
        self.events = EventsRuntime(
            service=service,
            data_dir=data_dir,
            events=events,
            max_outbox_rows=max_outbox_rows,
            events_max_in_flight=events_max_in_flight,
            max_attempts=event_max_attempts,
            telemetry=self.telemetry,
            lifecycle=self._lifecycle,
            nats_tls=self.tls.nats_options if self.tls is not None else None,
        )

    @overload
    def on(self, event: ConnectionLifecycleEvent, callback: Callback) -> None: ...

    @overload
    def on(self, event: Literal["policy_violation"], callback: ViolationCallback) -> None: ...

    def on(self, event: str, callback: Callable[[Any], Awaitable[None] | None]) -> None:
        """Call ``callback(ConnectionEvent)`` on ``"connected"``, ``"reconnecting"`` or
        ``"disconnected"`` of the broker and registry connections (see :mod:`runtime_lib.lifecycle`);
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
        """A typed client for one address, or for a service name resolved through the registry.

        With both, the calls go to ``address`` and ``service`` names who must answer there (what
        a TLS bridge checks in the handshake; a TLS bridge needs it with ``address=``)."""
        if address is None and service is None:
            raise ConfigError("client() needs address=, service=, or both")
        if address is not None:
            fixed = (Instance(address),)
            target = Target(f"address {address}", lambda: fixed, service=service)
        else:
            assert service is not None
            name = service
            target = Target(
                f"service {name!r}",
                lambda: self.registry.instances(name),
                local=name == self.service,
                service=name,
            )
        invoker = RpcInvoker(
            target=target,
            pool=self._endpoints(),
            dispatcher=self._dispatcher,
            caller=self.service,
            defaults=self._call_defaults,
            telemetry=self.telemetry,
            on_violation=self._lifecycle.emit,
        )
        return client_class(invoker)

    def _endpoints(self) -> EndpointPool:
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
        self._dispatcher.access.check_names(
            [spec.full_name for spec in self._dispatcher.services],
            [path.lstrip("/") for path in self._dispatcher.routes],
        )
        self._started = True
        await self.registry.start()
        if self._dispatcher.services:
            self._server = RpcServer(
                self._dispatcher, self._listen, self._drain_timeout, self._interceptors, self.tls
            )
            port = await self._server.start()
            host = self._listen.rsplit(":", 1)[0]
            if host in _WILDCARD_HOSTS:
                host = "127.0.0.1"
            self._address = f"{host}:{port}"
            await self.registry.register(
                self.service, self._advertise or self._address, self._dispatcher.contracts()
            )
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
