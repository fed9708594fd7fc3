"""One connection per endpoint address, with its breaker and in-flight count, shared by a bridge."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runtime_lib._rpc.breaker import BreakerPolicy, CircuitBreaker
from runtime_lib._rpc.transports import grpcio
from runtime_lib._rpc.transports.base import Connection


class Endpoint:
    def __init__(self, address: str, breaker: CircuitBreaker, connection: Connection) -> None:
        self.address = address
        self.breaker = breaker
        self.inflight = 0
        self.connection = connection


class EndpointPool:
    """``connect`` makes the connection of a new address (the bridge's network transport)."""

    def __init__(
        self, breaker: BreakerPolicy, connect: Callable[[str], Connection] = grpcio.connect
    ) -> None:
        self._breaker = breaker
        self._connect = connect
        self._endpoints: dict[str, Endpoint] = {}

    def get(self, address: str) -> Endpoint:
        endpoint = self._endpoints.get(address)
        if endpoint is None:
            endpoint = Endpoint(address, CircuitBreaker(self._breaker), self._connect(address))
            self._endpoints[address] = endpoint
        return endpoint

    def breaker_states(self) -> list[tuple[str, str]]:
        """``(address, state)`` of every endpoint's breaker (for the telemetry gauge)."""
        return [(e.address, e.breaker.state.value) for e in list(self._endpoints.values())]

    async def close(self) -> None:
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        await asyncio.gather(*(e.connection.close() for e in endpoints))
