"""SyncBridge: the entry point of sync callers (scripts, Django, Flask). It builds sync clients
and owns their connections; it serves nothing and starts no event loop.

    with sb.SyncBridge("script", registry={"payment": ["127.0.0.1:50051"]}) as caller:
        payment = caller.client(PaymentSyncClient, service="payment")

Services resolve through a static registry (a ``{"service": ["host:port", ...]}`` map or a
``StaticRegistry``) or ``address=``. ``NatsKvRegistry`` follows its bucket from an asyncio task
(nats-py has no blocking client), so it would need a hidden loop: it is refused with a
``ConfigError`` rather than run behind the caller's back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

from runtime_lib._errors import ConfigError
from runtime_lib._registry.static import StaticRegistry
from runtime_lib._rpc.attempts import Route, client_target
from runtime_lib._rpc.breaker import BreakerPolicy
from runtime_lib._rpc.endpoints import EndpointPool
from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.outgoing import checked_defaults
from runtime_lib._rpc.transports.base import DEFAULT_MAX_MESSAGE_SIZE, check_max_message_size
from runtime_lib._security.bridge_tls import BridgeTls
from runtime_lib._security.tls import TlsConfig
from runtime_lib._sync.client import SyncClientBase
from runtime_lib._sync.connection import SyncConnection
from runtime_lib._sync.invoker import SyncInvoker
from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig

C = TypeVar("C", bound=SyncClientBase)


class SyncBridge:
    """Sync calls out as ``service`` (the caller name servers see).

    Keyword options, as on ``Bridge``: ``registry`` (static), ``call_defaults``, ``breaker``,
    ``tls`` (mutual TLS: its certificate, and the server must be the service meant),
    ``telemetry``, ``max_message_size`` (the largest reply it reads, 4 MiB as
    ``RpcConfig.max_message_size``). Close it (``with``, or ``close()``) to close its
    connections. It belongs to the thread that made it (a call from another thread is a
    ``ConfigError``): a threaded server keeps one per thread.
    """

    def __init__(
        self,
        service: str,
        *,
        registry: StaticRegistry | Mapping[str, Sequence[str]] | None = None,
        call_defaults: CallOptions | None = None,
        breaker: BreakerPolicy | None = None,
        telemetry: TelemetryConfig | None = None,
        tls: TlsConfig | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        check_max_message_size("max_message_size", max_message_size)
        if not service:
            raise ConfigError("a sync bridge needs a service name (the caller name it sends)")
        if registry is not None and not isinstance(registry, (Mapping, StaticRegistry)):
            raise ConfigError(
                f"SyncBridge takes a static registry ({{'service': ['host:port']}}), not "
                f"{type(registry).__name__}: NatsKvRegistry needs an event loop to follow its "
                "bucket. Call from a Bridge (async) or pass address= / a static map"
            )
        self.service = service
        self.registry = (
            registry if isinstance(registry, StaticRegistry) else StaticRegistry(registry)
        )
        self.telemetry = Telemetry(service, telemetry)
        self._defaults = checked_defaults(call_defaults)
        self._owner = threading.get_ident()
        self._pool: EndpointPool[SyncConnection] = EndpointPool(
            breaker or BreakerPolicy(),
            functools.partial(SyncConnection, max_message_size=max_message_size),
            BridgeTls(tls, service) if tls is not None else None,
        )
        self.telemetry.observe_breakers(self._pool.breaker_states)

    def client(
        self, client_class: type[C], *, address: str | None = None, service: str | None = None
    ) -> C:
        """A sync client for one address, or for a service name resolved through the registry."""
        target = client_target(self.registry.instances, address=address, service=service)
        route = Route(target, self._pool, self.service, self._defaults)
        invoker = SyncInvoker(route, self._owner, self.telemetry)
        return client_class(invoker)

    def close(self) -> None:
        """Close every connection (calls in flight fail) and flush telemetry."""
        for connection in self._pool.take_all():
            connection.close()
        if self.telemetry.enabled:
            self.telemetry.force_flush()

    def __enter__(self) -> SyncBridge:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
