"""The invoker behind every generated client: options, deadline, retries, breakers, balancing.

One call: options are layered over the bridge's ``call_defaults``; the deadline (timeout capped by
any deadline inherited from the handler making the call) covers every attempt; ``request_id``
stays the same on every attempt. Endpoints come from the target (one address, or a service name
through the registry, filtered by contract hash), balanced by power of two choices, each behind
its circuit breaker. What carries an attempt is a :class:`~runtime_lib.rpc.transports.base.
Connection`: the in-process one when this bridge serves the call, else the endpoint's (grpcio or
grpclib). See ``retry.py`` for what may be retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message

from runtime_lib.access.policy import PolicyViolation
from runtime_lib.errors import (
    AccessDeniedError,
    CallTimeoutError,
    ConfigError,
    ConnectionFailedError,
    ErrorCode,
    NoLiveInstanceError,
    ServiceBridgeError,
)
from runtime_lib.ids import new_request_id
from runtime_lib.registry.base import Instance
from runtime_lib.rpc import balancer, deadline, retry, wire
from runtime_lib.rpc.dispatch import Dispatcher, closing
from runtime_lib.rpc.endpoints import Endpoint, EndpointPool
from runtime_lib.rpc.options import CallOptions, Metadata, ReplyMetadata, RetryPolicy
from runtime_lib.rpc.options import check_call_options as check_options
from runtime_lib.rpc.spec import MethodSpec
from runtime_lib.rpc.transports.base import Connection, Outgoing, OutgoingCall, WireMetadata
from runtime_lib.rpc.transports.inproc import InprocConnection
from runtime_lib.telemetry.api import DISABLED, Telemetry
from runtime_lib.telemetry.spans import NO_RPC_CLIENT

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
T = TypeVar("T")

# Failures that say the endpoint itself is unwell; anything else (a handler error, a rejected
# argument) is an answer from a working endpoint and counts as a success for its breaker.
_ENDPOINT_FAILURES = frozenset(
    {ErrorCode.CONNECTION, ErrorCode.TIMEOUT, ErrorCode.OVERLOADED, ErrorCode.INTERNAL}
)


def _verdict(error: ServiceBridgeError) -> bool | None:
    """What a failed call tells the endpoint's breaker. An overload refusal (not dispatched) is
    back-pressure from a healthy server, not a failure: no verdict, or a burst of them would
    lock callers out of it for the breaker's whole ``open_for``."""
    if error.code is ErrorCode.OVERLOADED and error.not_dispatched:
        return None
    return error.code not in _ENDPOINT_FAILURES


@dataclass(frozen=True, slots=True)
class Target:
    """Where a client's calls go. ``local`` is set when this bridge serves the target itself;
    ``service`` is who must answer (checked in the TLS handshake when the bridge has TLS)."""

    name: str
    resolve: Callable[[], Sequence[Instance]]
    local: bool = False
    service: str | None = None


_DEFAULT_RETRY = RetryPolicy()
_NONE_TRIED: frozenset[str] = frozenset()


def _lowered(metadata: Metadata | None) -> WireMetadata:
    return tuple((k.lower(), v) for k, v in metadata.items()) if metadata else ()


class _Resolved:
    """The call options that do not change from call to call, resolved once: the bridge's
    ``call_defaults`` (at client creation), or those layered with one call's options."""

    __slots__ = (
        "idempotency_key",
        "metadata",
        "reply_metadata",
        "request_id",
        "retry",
        "seconds",
        "transport",
    )

    def __init__(self, merged: CallOptions) -> None:
        check_options(merged)
        self.request_id: str | None = merged.get("request_id") or None
        self.idempotency_key: str | None = merged.get("idempotency_key") or None
        self.metadata = _lowered(merged.get("metadata"))
        self.transport: str = merged.get("transport") or "auto"
        timeout = merged.get("timeout")
        self.seconds = deadline.parse_timeout(
            timeout if timeout is not None else deadline.DEFAULT_TIMEOUT
        )
        self.retry: RetryPolicy = merged.get("retry") or _DEFAULT_RETRY
        self.reply_metadata: ReplyMetadata | None = merged.get("reply_metadata")


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
        on_violation: Callable[[PolicyViolation], None] | None = None,
    ) -> None:
        self._target = target
        self._caller = caller
        self._on_violation = on_violation
        self._pool = pool
        self._dispatcher = dispatcher
        self._inproc = InprocConnection(dispatcher, caller)
        self._defaults = defaults
        self._rng = rng or random.Random()
        self._telemetry = telemetry
        self._caller_entry = (wire.CALLER, caller)
        try:
            self._resolved: _Resolved | None = _Resolved(defaults)
        except ConfigError:
            self._resolved = None  # a bad default: every call resolves it, and fails, itself

    async def close(self) -> None:
        """Connections belong to the bridge, which closes them on ``stop()``."""

    # -- the four cardinalities ------------------------------------------------------------

    # unary and client_stream hand back _single_reply's coroutine un-awaited: one frame less
    # on the hottest path.
    def unary(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Coroutine[Any, Any, Rep]:
        return self._single_reply(method, options, request, replayable=True)

    def client_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> Coroutine[Any, Any, Rep]:
        return self._single_reply(method, options, requests, replayable=False)

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(method, options, request, replayable=True)

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(method, options, requests, replayable=False)

    async def _single_reply(
        self,
        method: MethodSpec[Req, Rep],
        options: CallOptions,
        outgoing: Outgoing,
        *,
        replayable: bool,
    ) -> Rep:
        """A unary or client-streaming call: in process when the bridge serves it, else over
        the network with the retry rules."""
        call = self._prepare(method, options)
        local = self._local(call)
        with self._telemetry.rpc_client(method.path) as observer:
            call = call.observed(observer)
            try:
                if local is not None:
                    left = call.deadline - time.monotonic()
                    return _as(method.reply, await local.unary(call, outgoing, left))

                def attempt(connection: Connection, left: float) -> Awaitable[Message]:
                    return connection.unary(call, outgoing, left)

                endpoint, reply = await self._retrying(call, attempt, replayable=replayable)
            except AccessDeniedError as refused:
                self._refused(method, refused)
                raise
            self._finish(endpoint, True)
            return _as(method.reply, reply)

    def _streaming(
        self,
        method: MethodSpec[Req, Rep],
        options: CallOptions,
        outgoing: Outgoing,
        *,
        replayable: bool,
    ) -> AsyncIterator[Rep]:
        """A server-streaming or bidi call: in process when the bridge serves it, else over the
        network, retried until its first message (or end) has arrived."""
        call = self._prepare(method, options)
        local = self._local(call)
        return self._observed(call, local, outgoing, replayable=replayable)

    # -- options, transport ----------------------------------------------------------------

    def _prepare(self, method: MethodSpec[Any, Any], options: CallOptions) -> OutgoingCall:
        resolved = self._resolved
        if options or resolved is None:
            merged: dict[str, Any] = dict(self._defaults)
            merged.update({k: v for k, v in options.items() if v is not None})
            resolved = _Resolved(merged)  # type: ignore[arg-type]
            extra = resolved.metadata
        else:
            # Read per call: a metadata mapping in call_defaults may be changed in place.
            extra = _lowered(self._defaults.get("metadata"))
        request_id = resolved.request_id or new_request_id()
        key = resolved.idempotency_key
        metadata: WireMetadata = (
            self._caller_entry,
            (wire.REQUEST_ID, request_id),
            (wire.CONTRACT, method.contract_hash),
        )
        if key:
            metadata += ((wire.IDEMPOTENCY_KEY, key),)
        if extra:
            metadata += extra
        return OutgoingCall(
            method,
            deadline.deadline_in(resolved.seconds),
            request_id,
            key,
            metadata,
            resolved.retry,
            resolved.transport,
            resolved.reply_metadata,
        )

    def _local(self, call: OutgoingCall) -> Connection | None:
        """The in-process connection when this call runs in process, else None."""
        if call.transport == "direct":
            return None
        route = self._dispatcher.route(call.method.path)
        if call.transport == "inproc":
            if route is None:
                raise NoLiveInstanceError(f"{call.method.path} is not served by this bridge")
        elif route is None or not self._target.local:
            return None
        Dispatcher.check_contract(route, call.method.contract_hash)
        return self._inproc

    # -- attempts --------------------------------------------------------------------------

    def _endpoints(self, method: MethodSpec[Any, Any]) -> list[Endpoint]:
        instances = self._target.resolve()
        if len(instances) == 1:
            only = instances[0]
            if only.serves(method.path, method.contract_hash):
                return [self._pool.get(only.address, self._target.service)]
        matching = [i for i in instances if i.serves(method.path, method.contract_hash)]
        if not matching:
            why = " with a matching contract" if instances else ""
            raise NoLiveInstanceError(
                f"no live instance of {self._target.name}{why} for {method.path}"
            )
        service = self._target.service
        return [self._pool.get(i.address, service) for i in matching]

    async def _retrying(
        self,
        call: OutgoingCall,
        attempt: Callable[[Connection, float], Awaitable[T]],
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
                connection = endpoint.connection
                if not connection.is_ready():
                    try:
                        await connection.ready(remaining)
                    except ServiceBridgeError as refused:
                        self._finish(endpoint, False)
                        raise _Failed(_spent(call, refused), sent=False) from None
                    except BaseException:
                        self._finish(endpoint, None)
                        raise
                try:
                    return endpoint, await attempt(connection, call.deadline - time.monotonic())
                except ServiceBridgeError as failure:
                    self._finish(endpoint, _verdict(failure))
                    raise _Failed(failure, sent=True) from None
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
    def _lease(endpoint: Endpoint, call: OutgoingCall) -> float:
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
        self, call: OutgoingCall, local: Connection | None, outgoing: Outgoing, *, replayable: bool
    ) -> AsyncIterator[Any]:
        """A stream under its own client span, begun when the reader starts (so does the call)
        and ended with the stream."""
        observer = self._telemetry.rpc_client(call.method.path)
        call = call.observed(observer)
        if local is not None:
            replies = _local_replies(call, local, outgoing)
        else:
            replies = self._stream(call, outgoing, replayable=replayable)
        try:
            async with closing(replies):
                async for reply in replies:
                    yield reply
        except GeneratorExit:
            observer.end()  # the reader left early: its choice, not a failed call
            raise
        except BaseException as exc:
            observer.end(exc)
            if isinstance(exc, AccessDeniedError):
                self._refused(call.method, exc)
            raise
        observer.end()

    def _refused(self, method: MethodSpec[Any, Any], error: AccessDeniedError) -> None:
        """The calling side's ``policy_violation`` event."""
        if self._on_violation is not None:
            self._on_violation(
                PolicyViolation("client", self._caller, method.path, self._caller, error.message)
            )

    async def _stream(
        self, call: OutgoingCall, outgoing: Outgoing, *, replayable: bool
    ) -> AsyncIterator[Any]:
        """Open a response stream, retrying until its first message (or end) has arrived."""
        reply_type = call.method.reply

        async def first(connection: Connection, left: float) -> tuple[Any, Message | None]:
            stream = connection.stream(call, outgoing, left)
            try:
                return stream, await stream.read()
            except BaseException:
                await stream.close()
                raise

        endpoint, (stream, message) = await self._retrying(call, first, replayable=replayable)
        ok: bool | None = None
        try:
            while message is not None:
                yield _as(reply_type, message)
                message = await stream.read()
            ok = True
        except ServiceBridgeError as error:
            ok = _verdict(error)
            raise
        finally:
            # Reached on a normal end, an error, or the caller leaving its ``async for``.
            await stream.close()
            self._finish(endpoint, ok)


def _spent(call: OutgoingCall, refused: ServiceBridgeError) -> ServiceBridgeError:
    """A connection refused because the call's own deadline ran out is a TIMEOUT (nothing was
    sent), whatever the connection was doing at that moment."""
    if time.monotonic() < call.deadline:
        return refused
    return CallTimeoutError(
        f"{call.method.path}: deadline passed while connecting ({refused.message})",
        not_dispatched=True,
    )


async def _local_replies(
    call: OutgoingCall, local: Connection, outgoing: Outgoing
) -> AsyncIterator[Any]:
    stream = local.stream(call, outgoing, call.deadline - time.monotonic())
    try:
        while (message := await stream.read()) is not None:
            yield _as(call.method.reply, message)
    finally:
        await stream.close()


def _as(cls: type[Rep], message: Message) -> Rep:
    if not isinstance(message, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(message).__name__}")
    return message
