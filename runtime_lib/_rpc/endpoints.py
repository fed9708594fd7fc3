"""One connection per endpoint address, with its breaker and in-flight count, shared by a bridge.

Generic in the connection type: an async bridge holds transport ``Connection`` objects, a
``SyncBridge`` blocking ones; breakers, balancing and retries treat both alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from runtime_lib._rpc.breaker import BreakerPolicy, CircuitBreaker
from runtime_lib._rpc.transports.base import Connection

C = TypeVar("C")


class Endpoint(Generic[C]):
    def __init__(self, address: str, breaker: CircuitBreaker, connection: C) -> None:
        self.address = address
        self.breaker = breaker
        self.inflight = 0
        self.connection = connection


class EndpointPool(Generic[C]):
    """``connect`` makes the connection of a new address (the bridge's network transport)."""

    def __init__(self, breaker: BreakerPolicy, connect: Callable[[str], C]) -> None:
        self._breaker = breaker
        self._connect = connect
        self._endpoints: dict[str, Endpoint[C]] = {}

    def get(self, address: str) -> Endpoint[C]:
        endpoint = self._endpoints.get(address)
        if endpoint is None:
            endpoint = Endpoint(address, CircuitBreaker(self._breaker), self._connect(address))
            self._endpoints[address] = endpoint
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
