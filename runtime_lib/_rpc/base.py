"""Base classes of the generated clients and handlers.

A generated ``SClient`` is a thin typed face over an :class:`Invoker` (built by the bridge); a
generated ``SHandler`` is an abstract class the user subclasses. Neither holds transport logic.
Attribute names here are kept private (leading underscore) so that rpc names such as ``close``
or ``service`` never collide with them, except those the naming rules reserve.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator
from typing import ClassVar, Protocol, TypeVar

from google.protobuf.message import Message

from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.spec import MethodSpec, ServiceSpec

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


class Invoker(Protocol):
    """Carries calls for a client: the bridge's gRPC client, or an in-process one."""

    async def unary(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Rep: ...

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> AsyncIterator[Rep]: ...

    async def client_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> Rep: ...

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: AsyncIterable[Req], options: CallOptions
    ) -> AsyncIterator[Rep]: ...

    async def close(self) -> None: ...


class ClientBase:
    """Base of every generated client. Build one with ``bridge.client(PaymentClient, ...)``."""

    SERVICE: ClassVar[ServiceSpec]

    def __init__(self, invoker: Invoker) -> None:
        self._invoker = invoker
        # The invoker's methods, bound once: a generated method calls straight into the
        # invoker and awaits its coroutine, with no call or frame of ours in between.
        self._unary = invoker.unary
        self._server_stream = invoker.server_stream
        self._client_stream = invoker.client_stream
        self._bidi_stream = invoker.bidi_stream

    async def __aenter__(self) -> ClientBase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._invoker.close()


class HandlerBase(abc.ABC):
    """Base of every generated handler; subclass the generated ``SHandler`` and implement its methods."""

    SERVICE: ClassVar[ServiceSpec]
