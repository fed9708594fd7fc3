"""The blocking invoker behind the generated sync clients.

The same call as the async invoker (``runtime_lib._rpc.client``), made by the same parts:
``outgoing.py`` turns the options into one call (defaults, deadline, request id, metadata),
``attempts.py`` chooses endpoints, keeps the breakers and decides every retry. Only the waiting
and the sending are blocking here. A sync bridge serves no handlers, so every call goes over the
network (``transport="inproc"`` has nothing to reach).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from google.protobuf.message import Message

from runtime_lib._errors import ConfigError, NoLiveInstanceError, ServiceBridgeError
from runtime_lib._rpc.attempts import Route, finish, verdict
from runtime_lib._rpc.endpoints import Endpoint
from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.outgoing import as_reply
from runtime_lib._rpc.spec import MethodSpec
from runtime_lib._rpc.transports.base import OutgoingCall
from runtime_lib._sync.connection import SyncConnection, SyncOutgoing, SyncReplyStream
from runtime_lib._telemetry.api import DISABLED, Telemetry

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
T = TypeVar("T")

Attempt = Callable[[SyncConnection, float], T]


class SyncInvoker:
    """Calls from the thread that made the bridge, the only one allowed: breakers, in-flight
    counts and the endpoint pool are shared unlocked, as on an async bridge's single loop."""

    def __init__(
        self, route: Route[SyncConnection], owner: int, telemetry: Telemetry = DISABLED
    ) -> None:
        self._route = route
        self._owner = owner
        self._telemetry = telemetry

    def unary(self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions) -> Rep:
        return as_reply(method.reply, self._one_reply(method, options, request, replayable=True))

    def client_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Rep:
        return as_reply(method.reply, self._one_reply(method, options, requests, replayable=False))

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Iterator[Rep]:
        # Prepared now, so that bad options fail at the call rather than at the first next().
        return self._replies(method.reply, self._prepare(method, options), request, True)

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Iterator[Rep]:
        return self._replies(method.reply, self._prepare(method, options), requests, False)

    def _prepare(self, method: MethodSpec[Any, Any], options: CallOptions) -> OutgoingCall:
        if threading.get_ident() != self._owner:
            raise ConfigError(
                f"{method.path}: a SyncBridge and its clients belong to the thread that made "
                "the bridge; give each thread its own (threading.local(), or one per worker)"
            )
        call = self._route.prepare(method, options)
        if call.transport == "inproc":
            raise NoLiveInstanceError(
                f"{method.path}: transport='inproc' calls a handler of this process, and a "
                "SyncBridge serves none; use 'auto' or 'direct'"
            )
        return call

    def _one_reply(
        self,
        method: MethodSpec[Any, Any],
        options: CallOptions,
        sent: SyncOutgoing,
        *,
        replayable: bool,
    ) -> Message:
        """A unary or client-streaming call under its client span."""
        call = self._prepare(method, options)
        with self._telemetry.rpc_client(method.path) as observer:
            call = call.observed(observer)
            endpoint, reply = self._retrying(
                call, lambda connection, left: connection.unary(call, sent, left), replayable
            )
            finish(endpoint, True)
            return reply

    def _retrying(
        self, call: OutgoingCall, attempt: Attempt[T], replayable: bool
    ) -> tuple[Endpoint[SyncConnection], T]:
        """Attempts until one succeeds (``attempts.py`` decides); the winner stays leased."""
        attempts = self._route.attempts(call, replayable=replayable)
        while True:
            try:
                endpoint = attempts.lease()
                endpoint.connection.ready(attempts.remaining)  # at once when connected
                return endpoint, attempt(endpoint.connection, attempts.send())
            except BaseException as exc:
                if not attempts.failed(exc):
                    raise
            time.sleep(attempts.pause)

    def _replies(
        self, reply_type: type[Rep], call: OutgoingCall, sent: SyncOutgoing, replayable: bool
    ) -> Iterator[Rep]:
        """A reply stream under its client span, begun at the reader's first ``next()``;
        retried until its first message (or end) has arrived."""
        observer = self._telemetry.rpc_client(call.method.path)
        call = call.observed(observer)

        def first(
            connection: SyncConnection, left: float
        ) -> tuple[SyncReplyStream, Message | None]:
            stream = connection.stream(call, sent, left)
            try:
                return stream, stream.read()
            except BaseException:
                stream.close()
                raise

        with observer:
            endpoint, (stream, message) = self._retrying(call, first, replayable)
            ok: bool | None = None
            try:
                while message is not None:
                    yield as_reply(reply_type, message)
                    message = stream.read()
                ok = True
            except ServiceBridgeError as error:
                ok = verdict(error)
                raise
            finally:
                # Reached on a normal end, an error, or the reader dropping the iterator.
                stream.close()
                finish(endpoint, ok)
