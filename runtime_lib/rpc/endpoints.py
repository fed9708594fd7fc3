"""One connection per endpoint address, with its breaker and in-flight count, shared by a bridge.

Under TLS a connection also pins the service it must reach, so endpoints are kept per
(address, service): the same address reached as another service is another connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from runtime_lib.errors import ConfigError
from runtime_lib.rpc.breaker import BreakerPolicy, CircuitBreaker
from runtime_lib.rpc.transports import grpcio
from runtime_lib.rpc.transports.base import Connect, Connection

if TYPE_CHECKING:
    from runtime_lib.security.bridge_tls import BridgeTls


class Endpoint:
    def __init__(self, address: str, breaker: CircuitBreaker, connection: Connection) -> None:
        self.address = address
        self.breaker = breaker
        self.inflight = 0
        self.connection = connection


class EndpointPool:
    """``connect`` makes the connection of a new address (the bridge's network transport);
    ``tls`` the bridge's mutual TLS, if any."""

    def __init__(
        self,
        breaker: BreakerPolicy,
        connect: Connect = grpcio.connect,
        tls: BridgeTls | None = None,
    ) -> None:
        self._breaker = breaker
        self._connect = connect
        self._tls = tls
        self._endpoints: dict[tuple[str, str | None], Endpoint] = {}

    def get(self, address: str, service: str | None = None) -> Endpoint:
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

    async def close(self) -> None:
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        await asyncio.gather(*(e.connection.close() for e in endpoints))
