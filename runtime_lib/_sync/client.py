"""Base class of the generated sync clients (``PaymentSyncClient``): a thin typed face over a
blocking invoker, as ``ClientBase`` is over the async one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar, Protocol, TypeVar

from google.protobuf.message import Message

from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.spec import MethodSpec, ServiceSpec

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


class SyncInvokerProtocol(Protocol):
    """Carries the calls of a sync client (``SyncBridge.client`` builds it)."""

    def unary(self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions) -> Rep: ...

    def server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Iterator[Rep]: ...

    def client_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Rep: ...

    def bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Iterator[Rep]: ...


class SyncClientBase:
    """Base of every generated sync client. Build one with ``SyncBridge.client(...)``."""

    SERVICE: ClassVar[ServiceSpec]

    def __init__(self, invoker: SyncInvokerProtocol) -> None:
        self._invoker = invoker

    def _unary(self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions) -> Rep:
        return self._invoker.unary(method, request, options)

    def _server_stream(
        self, method: MethodSpec[Req, Rep], request: Req, options: CallOptions
    ) -> Iterator[Rep]:
        return self._invoker.server_stream(method, request, options)

    def _client_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Rep:
        return self._invoker.client_stream(method, requests, options)

    def _bidi_stream(
        self, method: MethodSpec[Req, Rep], requests: Iterable[Req], options: CallOptions
    ) -> Iterator[Rep]:
        return self._invoker.bidi_stream(method, requests, options)
