"""One connection per endpoint, with its breaker and in-flight count, shared by a bridge.

Generic in the connection type: an async bridge holds transport ``Connection`` objects, a
``SyncBridge`` blocking ones; breakers, balancing and retries treat both alike. Under TLS a
connection also pins the service it must reach, so endpoints are kept per (address, service):
the same address reached as another service is another connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from runtime_lib._errors import ConfigError
from runtime_lib._rpc.breaker import BreakerPolicy, CircuitBreaker
from runtime_lib._rpc.transports.base import Connection

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import BridgeTls, TargetTls

C = TypeVar("C")


class Endpoint(Generic[C]):
    def __init__(self, address: str, breaker: CircuitBreaker, connection: C) -> None:
        self.address = address
        self.breaker = breaker
        self.inflight = 0
        self.connection = connection


class EndpointPool(Generic[C]):
    """``connect`` makes the connection of a new address (the bridge's network transport);
    ``tls`` the bridge's mutual TLS, if any."""

    def __init__(
        self,
        breaker: BreakerPolicy,
        connect: Callable[[str, TargetTls | None], C],
        tls: BridgeTls | None = None,
    ) -> None:
        self._breaker = breaker
        self._connect = connect
        self._tls = tls
        self._endpoints: dict[tuple[str, str | None], Endpoint[C]] = {}

    @property
    def secured(self) -> bool:
        """Whether connections are mutual TLS, where the server knows the caller by certificate."""
        return self._tls is not None

    def get(self, address: str, service: str | None = None) -> Endpoint[C]:
        """The endpoint at ``address``; ``service`` is who must answer there (required under TLS)."""
        endpoint = self._endpoints.get((address, service))
        if endpoint is None:
            tls = self._tls
            if tls is not None and service is None:
                raise ConfigError(
                    f"a TLS bridge checks who answers at {address}: name the service expected "
                    "there, client(..., address=..., service=...)"
                )
            target = None if tls is None or service is None else tls.target(service)
            connection = self._connect(address, target)
            endpoint = Endpoint(address, CircuitBreaker(self._breaker), connection)
            self._endpoints[(address, service)] = endpoint
        return endpoint

    def breaker_states(self) -> list[tuple[str, str]]:
        """``(address, state)`` of every endpoint's breaker (for the telemetry gauge)."""
        return [(e.address, e.breaker.state.value) for e in list(self._endpoints.values())]

    def take_all(self) -> list[C]:
        """Empty the pool; the connections it held, for the caller to close."""
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        return [e.connection for e in endpoints]


async def close_all(pool: EndpointPool[Connection]) -> None:
    """Empty an async bridge's pool and close its connections."""
    await asyncio.gather(*(connection.close() for connection in pool.take_all()))
