"""The invoker behind every generated client: picks a transport and an endpoint, retries safely.

One call: options are layered over the bridge's ``call_defaults``; the deadline (timeout capped by
any deadline inherited from the handler making the call) covers every attempt; ``request_id``
stays the same on every attempt. Endpoints come from the target (one address, or a service name
through the registry, filtered by contract hash), balanced by power of two choices, each behind
its circuit breaker. See ``retry.py`` for what may be retried.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from runtime_lib.errors import (
    CallTimeoutError,
    ConfigError,
    ConnectionFailedError,
    ErrorCode,
    NoLiveInstanceError,
    ServiceBridgeError,
)
from runtime_lib.registry.base import Instance
from runtime_lib.rpc import balancer, deadline, inproc, retry, wire, wire_errors
from runtime_lib.rpc.context import CallContext
from runtime_lib.rpc.dispatch import Dispatcher, Route, closing
from runtime_lib.rpc.endpoints import Endpoint, EndpointPool
from runtime_lib.rpc.options import CallOptions, Metadata, RetryPolicy, check_call_options
from runtime_lib.rpc.spec import MethodSpec
from runtime_lib.telemetry.api import DISABLED, Telemetry
from runtime_lib.telemetry.spans import NO_RPC_CLIENT, RpcClientCall

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
T = TypeVar("T")

# Failures that say the endpoint itself is unwell; anything else (a handler error, a rejected
# argument) is an answer from a working endpoint and counts as a success for its breaker.
_ENDPOINT_FAILURES = frozenset(
    {ErrorCode.CONNECTION, ErrorCode.TIMEOUT, ErrorCode.OVERLOADED, ErrorCode.INTERNAL}
)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a client's calls go. ``local`` is set when this bridge serves the target itself."""

    name: str
    resolve: Callable[[], Sequence[Instance]]
    local: bool = False


_TRANSPORTS = ("auto", "direct", "inproc")
_DEFAULT_RETRY = RetryPolicy()
_NONE_TRIED: frozenset[str] = frozenset()

# Hex digit -> RFC 4122 variant digit (10xx): the 17th hex digit of a UUID4 is 8, 9, a or b.
_VARIANT = {f"{n:x}": "89ab"[n & 3] for n in range(16)}


def new_request_id() -> str:
    """A random UUID (version 4) in its canonical string form, as ``str(uuid.uuid4())`` gives,
    from the same source (``os.urandom``) at about a third of the cost."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def _lowered(metadata: Metadata | None) -> tuple[tuple[str, str], ...]:
    return tuple((k.lower(), v) for k, v in metadata.items()) if metadata else ()


class _Resolved:
    """The call options that do not change from call to call, resolved once: the bridge's
    ``call_defaults`` (at client creation), or those layered with one call's options."""

    __slots__ = ("idempotency_key", "metadata", "request_id", "retry", "seconds", "transport")

    def __init__(self, merged: CallOptions) -> None:
        self.request_id: str | None = merged.get("request_id") or None
        self.idempotency_key: str | None = merged.get("idempotency_key") or None
        self.metadata = _lowered(merged.get("metadata"))
        transport = merged.get("transport") or "auto"
        if transport not in _TRANSPORTS:
            raise ConfigError(f"unknown transport {transport!r}: use auto, direct or inproc")
        self.transport: str = transport
        timeout = merged.get("timeout")
        self.seconds = deadline.parse_timeout(
            timeout if timeout is not None else deadline.DEFAULT_TIMEOUT
        )
        self.retry: RetryPolicy = merged.get("retry") or _DEFAULT_RETRY


class _Call:
    __slots__ = (
        "deadline",
        "idempotency_key",
        "metadata",
        "method",
        "observer",
        "request_id",
        "retry",
        "transport",
    )

    def __init__(
        self,
        method: MethodSpec[Any, Any],
        deadline: float,
        request_id: str,
        idempotency_key: str | None,
        metadata: tuple[tuple[str, str], ...],
        retry: RetryPolicy,
        transport: str,
        observer: RpcClientCall = NO_RPC_CLIENT,
    ) -> None:
        self.method = method
        self.deadline = deadline
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.metadata = metadata
        self.retry = retry
        self.transport = transport
        self.observer = observer

    def observed(self, observer: RpcClientCall) -> _Call:
        """This call under ``observer``, whose trace context then travels in the metadata."""
        if observer is NO_RPC_CLIENT:
            return self  # telemetry off: nothing to carry
        metadata = (*self.metadata, *observer.metadata())
        return _Call(
            self.method,
            self.deadline,
            self.request_id,
            self.idempotency_key,
            metadata,
            self.retry,
            self.transport,
            observer,
        )

    def wire(self, left: float) -> tuple[tuple[str, str], ...]:
        """Metadata for one attempt with ``left`` seconds to go."""
        return (*self.metadata, (wire.TIMEOUT_MS, str(int(left * 1000))))

    def context(self, caller: str) -> CallContext:
        return CallContext(
            method=self.method.path,
            caller=caller,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
            deadline=self.deadline,
            metadata=dict(self.metadata),
        )


class _Failed(Exception):
    """An attempt failed; ``sent`` says whether any of the request may have left this process."""

    def __init__(self, error: ServiceBridgeError, sent: bool) -> None:
        self.error = error
        self.sent = sent


class RpcInvoker:
    def __init__(
        self,
        *,
        target: Target,
        pool: EndpointPool,
        dispatcher: Dispatcher,
        caller: str,
        defaults: CallOptions,
        rng: random.Random | None = None,
        telemetry: Telemetry = DISABLED,
    ) -> None:
        self._target = target
        self._pool = pool
        self._dispatcher = dispatcher
        self._caller = caller
        self._defaults = defaults
        self._rng = rng or random.Random()
        self._telemetry = telemetry
        self._caller_entry = (wire.CALLER, caller)
        try:
            self._resolved: _Resolved | None = _Resolved(defaults)
        except ConfigError:
            self._resolved = None  # a bad default: every call resolves it, and fails, itself

    async def close(self) -> None:
        """Channels belong to the bridge, which closes them on ``stop()``."""

    # -- the four cardinalities ------------------------------------------------------------

    # unary and client_stream hand back _single_reply's coroutine un-awaited: one frame less
    # on the hottest path.
    def unary(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Coroutine[Any, Any, Rep]:
        return self._single_reply(
            method,
            options,
            lambda route, ctx: inproc.unary(self._dispatcher, route, request, ctx),
            lambda: request,
            replayable=True,
        )

    def client_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> Coroutine[Any, Any, Rep]:
        return self._single_reply(
            method,
            options,
            lambda route, ctx: inproc.client_stream(self._dispatcher, route, requests, ctx),
            lambda: _each(requests),
            replayable=False,
        )

    async def _single_reply(
        self,
        method: MethodSpec[Req, Rep],
        options: CallOptions,
        local: Callable[[Route, CallContext], Awaitable[Any]],
        outgoing: Callable[[], Any],
        *,
        replayable: bool,
    ) -> Rep:
        """A unary or client-streaming call: in process when the bridge serves it, else over
        gRPC with the retry rules (``outgoing`` gives what the stub sends)."""
        call = self._prepare(method, options)
        route = self._local_route(call)
        with self._telemetry.rpc_client(method.path) as observer:
            call = call.observed(observer)
            if route is not None:
                return _as(method.reply, await local(route, call.context(self._caller)))

            def attempt(endpoint: Endpoint, left: float) -> Awaitable[Rep]:
                stub = endpoint.stub(method.cardinality, method.path, method.reply.FromString)
                result: Awaitable[Rep] = stub(outgoing(), timeout=left, metadata=call.wire(left))
                return result

            endpoint, reply = await self._retrying(call, attempt, replayable=replayable)
            self._finish(endpoint, True)
            return _as(method.reply, reply)

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(
            method,
            options,
            lambda route, ctx: inproc.server_stream(self._dispatcher, route, request, ctx),
            lambda: request,
            replayable=True,
        )

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(
            method,
            options,
            lambda route, ctx: inproc.bidi_stream(self._dispatcher, route, requests, ctx),
            lambda: _each(requests),
            replayable=False,
        )

    def _streaming(
        self,
        method: MethodSpec[Req, Rep],
        options: CallOptions,
        local: Callable[[Route, CallContext], AsyncIterator[Any]],
        outgoing: Callable[[], Any],
        *,
        replayable: bool,
    ) -> AsyncIterator[Rep]:
        """A server-streaming or bidi call: in process when the bridge serves it, else over gRPC
        (``outgoing`` gives what the stub sends: the request, or the request stream)."""
        call = self._prepare(method, options)
        route = self._local_route(call)

        def open_replies(call: _Call) -> AsyncIterator[Any]:
            if route is not None:
                return _typed(method.reply, local(route, call.context(self._caller)))

            def open_stream(endpoint: Endpoint, left: float) -> Any:
                stub = endpoint.stub(method.cardinality, method.path, method.reply.FromString)
                return stub(outgoing(), timeout=left, metadata=call.wire(left))

            return self._stream(call, open_stream, replayable=replayable)

        return self._observed(call, open_replies)

    # -- options, transport ----------------------------------------------------------------

    def _prepare(self, method: MethodSpec[Any, Any], options: CallOptions) -> _Call:
        resolved = self._resolved
        if options or resolved is None:
            check_call_options(options)
            merged: dict[str, Any] = dict(self._defaults)
            merged.update({k: v for k, v in options.items() if v is not None})
            resolved = _Resolved(merged)  # type: ignore[arg-type]
            extra = resolved.metadata
        else:
            # Read per call: a metadata mapping in call_defaults may be changed in place.
            extra = _lowered(self._defaults.get("metadata"))
        request_id = resolved.request_id or new_request_id()
        key = resolved.idempotency_key
        metadata: tuple[tuple[str, str], ...] = (
            self._caller_entry,
            (wire.REQUEST_ID, request_id),
            (wire.CONTRACT, method.contract_hash),
        )
        if key:
            metadata += ((wire.IDEMPOTENCY_KEY, key),)
        if extra:
            metadata += extra
        return _Call(
            method,
            deadline.deadline_in(resolved.seconds),
            request_id,
            key,
            metadata,
            resolved.retry,
            resolved.transport,
        )

    def _local_route(self, call: _Call) -> Route | None:
        if call.transport == "direct":
            return None
        route = self._dispatcher.route(call.method.path)
        if call.transport == "inproc":
            if route is None:
                raise NoLiveInstanceError(f"{call.method.path} is not served by this bridge")
            Dispatcher.check_contract(route, call.method.contract_hash)
            return route
        if route is None or not self._target.local:
            return None
        Dispatcher.check_contract(route, call.method.contract_hash)
        return route

    # -- attempts --------------------------------------------------------------------------

    def _endpoints(self, method: MethodSpec[Any, Any]) -> list[Endpoint]:
        instances = self._target.resolve()
        if len(instances) == 1:
            only = instances[0]
            if only.serves(method.path, method.contract_hash):
                return [self._pool.get(only.address)]
        matching = [i for i in instances if i.serves(method.path, method.contract_hash)]
        if not matching:
            why = " with a matching contract" if instances else ""
            raise NoLiveInstanceError(
                f"no live instance of {self._target.name}{why} for {method.path}"
            )
        return [self._pool.get(i.address) for i in matching]

    async def _retrying(
        self,
        call: _Call,
        attempt: Callable[[Endpoint, float], Awaitable[T]],
        *,
        replayable: bool,
    ) -> tuple[Endpoint, T]:
        """Run attempts until one succeeds; the winner's endpoint is returned still leased."""
        tried = _NONE_TRIED
        observer = call.observer
        for number in range(1, max(1, call.retry.max_attempts) + 1):
            endpoints = self._endpoints(call.method)
            endpoint = balancer.pick(endpoints, self._rng, tried)
            try:
                if endpoint is None:
                    raise _Failed(
                        ConnectionFailedError(
                            f"every endpoint of {self._target.name} has an open circuit breaker",
                            not_dispatched=True,
                        ),
                        sent=False,
                    )
                if observer is not NO_RPC_CLIENT:
                    observer.attempt(number, endpoint.address)
                # The attempt itself, written out here rather than in a coroutine of its own:
                # every coroutine in the chain is resumed again whenever the call wakes up.
                remaining = self._lease(endpoint, call)
                sent = False
                try:
                    if not endpoint.is_ready():
                        await endpoint.ready(remaining)
                    sent = True
                    return endpoint, await attempt(endpoint, call.deadline - time.monotonic())
                except ServiceBridgeError as refused:
                    self._finish(endpoint, False)
                    raise _Failed(refused, sent=False) from None
                except grpc.aio.AioRpcError as exc:
                    failure = _decode(exc)
                    self._finish(endpoint, failure.code not in _ENDPOINT_FAILURES)
                    raise _Failed(failure, sent=sent) from None
                except BaseException:
                    self._finish(endpoint, None)
                    raise
            except _Failed as failed:
                error = failed.error
                can_replay = replayable or not failed.sent
                idempotent = call.idempotency_key is not None
                if not (can_replay and retry.may_retry(error, idempotent=idempotent)):
                    raise error from None
                if number >= call.retry.max_attempts:
                    raise error from None
                if endpoint is not None:
                    tried = tried | {endpoint.address}
                delay = retry.backoff(call.retry, number, self._rng)
                if time.monotonic() + delay >= call.deadline:
                    raise error from None
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    @staticmethod
    def _lease(endpoint: Endpoint, call: _Call) -> float:
        """Take ``endpoint`` for one attempt of ``call``: the seconds left, or _Failed (not sent)
        when the deadline has passed or the breaker refuses; ``_finish`` ends the lease."""
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(CallTimeoutError(f"{call.method.path}: deadline passed"), sent=False)
        if not endpoint.breaker.acquire():
            error = ConnectionFailedError(
                f"open circuit breaker for {endpoint.address}", not_dispatched=True
            )
            raise _Failed(error, sent=False)
        endpoint.inflight += 1
        return remaining

    @staticmethod
    def _finish(endpoint: Endpoint, ok: bool | None) -> None:
        """End a lease: drop the in-flight count and tell the breaker (None: no verdict)."""
        endpoint.inflight -= 1
        if ok is None:
            endpoint.breaker.release()
        else:
            endpoint.breaker.record(ok)

    async def _observed(
        self, call: _Call, open_replies: Callable[[_Call], AsyncIterator[Any]]
    ) -> AsyncIterator[Any]:
        """A stream under its own client span, begun when the reader starts (so does the call)
        and ended with the stream."""
        observer = self._telemetry.rpc_client(call.method.path)
        replies = open_replies(call.observed(observer))
        try:
            async with closing(replies):
                async for reply in replies:
                    yield reply
        except GeneratorExit:
            observer.end()  # the reader left early: its choice, not a failed call
            raise
        except BaseException as exc:
            observer.end(exc)
            raise
        observer.end()

    async def _stream(
        self,
        call: _Call,
        open_stream: Callable[[Endpoint, float], Any],
        *,
        replayable: bool,
    ) -> AsyncIterator[Any]:
        """Open a response stream, retrying until its first message (or end) has arrived."""

        async def first(endpoint: Endpoint, left: float) -> tuple[Any, Any]:
            stream = open_stream(endpoint, left)
            try:
                return stream, await stream.read()
            except BaseException:
                stream.cancel()
                raise

        endpoint, (stream, message) = await self._retrying(call, first, replayable=replayable)
        ok: bool | None = None
        try:
            while message is not grpc.aio.EOF:
                yield message
                message = await stream.read()
            ok = True
        except grpc.aio.AioRpcError as exc:
            error = _decode(exc)
            ok = error.code not in _ENDPOINT_FAILURES
            raise error from None
        finally:
            # Reached on a normal end, an error, or the caller leaving its ``async for``:
            # cancelling an ended call is a no-op, and an abandoned one must stop.
            stream.cancel()
            self._finish(endpoint, ok)


def _decode(exc: grpc.aio.AioRpcError) -> ServiceBridgeError:
    return wire_errors.decode(exc.code(), exc.details(), tuple(exc.trailing_metadata() or ()))


def _as(cls: type[Rep], message: Message) -> Rep:
    if not isinstance(message, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(message).__name__}")
    return message


async def _each(messages: AsyncIterable[Message]) -> AsyncIterator[Message]:
    async for message in messages:
        yield message


async def _typed(cls: type[Rep], messages: AsyncIterator[Message]) -> AsyncIterator[Rep]:
    async for message in messages:
        yield _as(cls, message)
