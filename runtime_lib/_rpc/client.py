"""The async invoker behind every generated client: options, deadline, retries, breakers, balancing.

One call: its options become an :class:`OutgoingCall` (``outgoing.py``: layered over the bridge's
``call_defaults``, one deadline over every attempt, one ``request_id``). Endpoints come from the
target (one address, or a service name through the registry, filtered by contract hash),
balanced by power of two choices, each behind its circuit breaker, and retried by the rules of
``attempts.py`` (shared with the sync invoker of ``runtime_lib._sync``). What carries an attempt
is a :class:`~runtime_lib._rpc.transports.base.Connection`: the in-process one when this bridge
serves the call, else the endpoint's (grpcio or grpclib).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from runtime_lib._access.policy import PolicyViolation
from runtime_lib._errors import AccessDeniedError, NoLiveInstanceError, ServiceBridgeError
from runtime_lib._rpc.attempts import Route, finish, verdict
from runtime_lib._rpc.dispatch import Dispatcher, closing
from runtime_lib._rpc.endpoints import Endpoint
from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.outgoing import as_reply
from runtime_lib._rpc.spec import Cardinality, MethodSpec
from runtime_lib._rpc.transports.base import Connection, Outgoing, OutgoingCall
from runtime_lib._rpc.transports.inproc import InprocConnection
from runtime_lib._telemetry.api import DISABLED, Telemetry

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
T = TypeVar("T")


class RpcInvoker:
    def __init__(
        self,
        route: Route[Connection],
        dispatcher: Dispatcher,
        telemetry: Telemetry = DISABLED,
        on_violation: Callable[[PolicyViolation], None] | None = None,
    ) -> None:
        self._route = route
        self._dispatcher = dispatcher
        self._inproc = InprocConnection(dispatcher, route.caller)
        self._telemetry = telemetry
        self._on_violation = on_violation

    async def close(self) -> None:
        """Connections belong to the bridge, which closes them on ``stop()``."""

    # -- the four cardinalities ------------------------------------------------------------

    async def _single_reply(
        self, method: MethodSpec[Req, Rep], outgoing: Outgoing, options: CallOptions
    ) -> Rep:
        """A unary or client-streaming call: in process when the bridge serves it, else over
        the network with the retry rules (a request stream cannot be sent again once sent)."""
        call = self._route.prepare(method, options)
        local = self._local(call)
        with self._telemetry.rpc_client(method.path) as observer:
            call = call.observed(observer)
            try:
                if local is not None:
                    left = call.deadline - time.monotonic()
                    return as_reply(method.reply, await local.unary(call, outgoing, left))
                # The retry loop of _retrying, written out here for the hottest path: no
                # coroutine of its own to resume whenever the call wakes up, no closure.
                attempts = self._route.attempts(
                    call, replayable=method.cardinality is Cardinality.UNARY
                )
                while True:
                    try:
                        endpoint = attempts.lease()
                        connection = endpoint.connection
                        if not connection.is_ready():
                            await connection.ready(attempts.remaining)
                        reply = await connection.unary(call, outgoing, attempts.send())
                        break
                    except BaseException as exc:
                        if not attempts.failed(exc):
                            raise
                    await asyncio.sleep(attempts.pause)
            except AccessDeniedError as refused:
                self._refused(method, refused)
                raise
            finish(endpoint, True)
            return as_reply(method.reply, reply)

    # The generated client's awaitable is _single_reply's coroutine itself: no frame between.
    unary = client_stream = _single_reply

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(method, options, request, replayable=True)

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> AsyncIterator[Rep]:
        return self._streaming(method, options, requests, replayable=False)

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
        call = self._route.prepare(method, options)
        local = self._local(call)
        return self._observed(call, local, outgoing, replayable=replayable)

    # -- transport --------------------------------------------------------------------------

    def _local(self, call: OutgoingCall) -> Connection | None:
        """The in-process connection when this call runs in process, else None."""
        transport = call.transport
        if transport == "direct" or (transport == "auto" and not self._route.target.local):
            return None
        route = self._dispatcher.route(call.method.path)
        if route is None:
            if transport == "inproc":
                raise NoLiveInstanceError(f"{call.method.path} is not served by this bridge")
            return None
        Dispatcher.check_contract(route, call.method.contract_hash)
        return self._inproc

    # -- attempts --------------------------------------------------------------------------

    async def _retrying(
        self,
        call: OutgoingCall,
        attempt: Callable[[Connection, float], Awaitable[T]],
        *,
        replayable: bool,
    ) -> tuple[Endpoint[Connection], T]:
        """Run attempts until one succeeds; the winner's endpoint is returned still leased."""
        attempts = self._route.attempts(call, replayable=replayable)
        while True:
            try:
                endpoint = attempts.lease()
                connection = endpoint.connection
                if not connection.is_ready():
                    await connection.ready(attempts.remaining)
                return endpoint, await attempt(connection, attempts.send())
            except BaseException as exc:
                if not attempts.failed(exc):
                    raise
            await asyncio.sleep(attempts.pause)

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
        with observer:
            async with closing(replies):
                try:
                    async for reply in replies:
                        yield reply
                except AccessDeniedError as refused:
                    self._refused(call.method, refused)
                    raise

    def _refused(self, method: MethodSpec[Any, Any], error: AccessDeniedError) -> None:
        """The calling side's ``policy_violation`` event."""
        if self._on_violation is not None:
            caller = self._route.caller
            self._on_violation(
                PolicyViolation("client", caller, method.path, caller, error.message)
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
                yield as_reply(reply_type, message)
                message = await stream.read()
            ok = True
        except ServiceBridgeError as error:
            ok = verdict(error)
            raise
        finally:
            # Reached on a normal end, an error, or the caller leaving its ``async for``.
            await stream.close()
            finish(endpoint, ok)


async def _local_replies(
    call: OutgoingCall, local: Connection, outgoing: Outgoing
) -> AsyncIterator[Any]:
    stream = local.stream(call, outgoing, call.deadline - time.monotonic())
    try:
        while (message := await stream.read()) is not None:
            yield as_reply(call.method.reply, message)
    finally:
        await stream.close()
