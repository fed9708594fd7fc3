"""One gRPC channel per endpoint address, with its breaker and in-flight count, shared by a bridge."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import time
from collections.abc import Callable
from typing import Any

import grpc

from runtime_lib.errors import ConnectionFailedError
from runtime_lib.rpc.breaker import BreakerPolicy, CircuitBreaker
from runtime_lib.rpc.spec import Cardinality

# Reconnect quickly after a peer restarts, so a half-open probe finds it.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)

CONNECT_TIMEOUT = 5.0

_READY = grpc.ChannelConnectivity.READY
_serialize = operator.methodcaller("SerializeToString")


class Endpoint:
    def __init__(self, address: str, breaker: CircuitBreaker) -> None:
        self.address = address
        self.breaker = breaker
        self.inflight = 0
        self.channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._stubs: dict[tuple[Cardinality, str, Callable[[bytes], Any]], Any] = {}

    def stub(self, cardinality: Cardinality, path: str, deserialize: Callable[[bytes], Any]) -> Any:
        """The channel's multi-callable for one method, made once and reused by every call."""
        key = (cardinality, path, deserialize)
        stub = self._stubs.get(key)
        if stub is None:
            if cardinality is Cardinality.UNARY:
                stub = self.channel.unary_unary(path, _serialize, deserialize)
            elif cardinality is Cardinality.CLIENT_STREAMING:
                stub = self.channel.stream_unary(path, _serialize, deserialize)
            elif cardinality is Cardinality.SERVER_STREAMING:
                stub = self.channel.unary_stream(path, _serialize, deserialize)
            else:
                stub = self.channel.stream_stream(path, _serialize, deserialize)
            self._stubs[key] = stub
        return stub

    def is_ready(self) -> bool:
        """Whether the channel is connected now (asks it to connect if idle); no wait."""
        return self.channel.get_state(try_to_connect=True) is _READY

    async def ready(self, within: float) -> None:
        """Return once the channel is connected; ConnectionFailedError (not dispatched) if it cannot be."""
        end = time.monotonic() + min(within, CONNECT_TIMEOUT)
        state = self.channel.get_state(try_to_connect=True)
        while state is not grpc.ChannelConnectivity.READY:
            left = end - time.monotonic()
            if state is grpc.ChannelConnectivity.TRANSIENT_FAILURE or left <= 0:
                raise ConnectionFailedError(
                    f"cannot connect to {self.address} ({state.name.lower()})", not_dispatched=True
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.channel.wait_for_state_change(state), left)
            state = self.channel.get_state(try_to_connect=True)


class EndpointPool:
    def __init__(self, breaker: BreakerPolicy) -> None:
        self._breaker = breaker
        self._endpoints: dict[str, Endpoint] = {}

    def get(self, address: str) -> Endpoint:
        endpoint = self._endpoints.get(address)
        if endpoint is None:
            endpoint = Endpoint(address, CircuitBreaker(self._breaker))
            self._endpoints[address] = endpoint
        return endpoint

    def breaker_states(self) -> list[tuple[str, str]]:
        """``(address, state)`` of every endpoint's breaker (for the telemetry gauge)."""
        return [(e.address, e.breaker.state.value) for e in list(self._endpoints.values())]

    async def close(self) -> None:
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        await asyncio.gather(*(e.channel.close(grace=None) for e in endpoints))
