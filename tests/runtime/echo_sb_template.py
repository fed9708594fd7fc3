# The shape sb-gen generates for conformance/echo.proto, written by hand until the generator lands.
# echo_service.build() copies this file next to the protoc output as ``echo_pkg/echo_sb.py``.
import abc
from collections.abc import AsyncIterable, AsyncIterator
from typing import ClassVar, Final, Unpack

import runtime_lib as sb

from . import echo_pb2  # type: ignore[attr-defined]

_C = sb.Cardinality


def _m(
    name: str, attr: str, card: sb.Cardinality
) -> sb.MethodSpec[echo_pb2.Echo, echo_pb2.EchoReply]:
    return sb.MethodSpec(
        name=name,
        attr=attr,
        path=f"/conformance.Callee/{name}",
        cardinality=card,
        request=echo_pb2.Echo,
        reply=echo_pb2.EchoReply,
        contract_hash=CONTRACT,
    )


CONTRACT = "v2:test-echo-1"
_ECHO: Final = _m("Echo", "echo", _C.UNARY)
_INFO: Final = _m("Info", "info", _C.UNARY)
_DECLINE: Final = _m("Decline", "decline", _C.UNARY)
_CRASH: Final = _m("Crash", "crash", _C.UNARY)
_SLOW: Final = _m("Slow", "slow", _C.UNARY)
_ABSENT: Final = _m("Absent", "absent", _C.UNARY)
_STATS: Final = _m("Stats", "stats", _C.UNARY)
_WATCH: Final = _m("Watch", "watch", _C.SERVER_STREAMING)
_UPLOAD: Final = _m("Upload", "upload", _C.CLIENT_STREAMING)
_CHAT: Final = _m("Chat", "chat", _C.BIDI_STREAMING)
ECHO_SERVICE: Final = sb.ServiceSpec(
    full_name="conformance.Callee",
    methods=(_ECHO, _INFO, _DECLINE, _CRASH, _SLOW, _ABSENT, _STATS, _WATCH, _UPLOAD, _CHAT),
)

Req = echo_pb2.Echo
Rep = echo_pb2.EchoReply


class EchoClient(sb.ClientBase):
    SERVICE: ClassVar[sb.ServiceSpec] = ECHO_SERVICE

    async def echo(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_ECHO, request, options)

    async def info(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_INFO, request, options)

    async def decline(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_DECLINE, request, options)

    async def crash(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_CRASH, request, options)

    async def slow(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_SLOW, request, options)

    async def absent(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_ABSENT, request, options)

    async def stats(self, request: Req, **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._unary(_STATS, request, options)

    def watch(self, request: Req, **options: Unpack[sb.CallOptions]) -> AsyncIterator[Rep]:
        return self._server_stream(_WATCH, request, options)

    async def upload(self, requests: AsyncIterable[Req], **options: Unpack[sb.CallOptions]) -> Rep:
        return await self._client_stream(_UPLOAD, requests, options)

    def chat(
        self, requests: AsyncIterable[Req], **options: Unpack[sb.CallOptions]
    ) -> AsyncIterator[Rep]:
        return self._bidi_stream(_CHAT, requests, options)


class EchoHandler(sb.HandlerBase):
    SERVICE: ClassVar[sb.ServiceSpec] = ECHO_SERVICE

    @abc.abstractmethod
    async def echo(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def info(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def decline(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def crash(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def slow(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def absent(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    async def stats(self, request: Req, ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    def watch(self, request: Req, ctx: sb.CallContext) -> AsyncIterator[Rep]: ...
    @abc.abstractmethod
    async def upload(self, requests: AsyncIterator[Req], ctx: sb.CallContext) -> Rep: ...
    @abc.abstractmethod
    def chat(self, requests: AsyncIterator[Req], ctx: sb.CallContext) -> AsyncIterator[Rep]: ...
