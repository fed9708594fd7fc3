"""The transport seam: what the invoker asks of whatever carries a call.

A :class:`Connection` reaches one endpoint (an address, or this bridge's own handlers). The
invoker keeps options, deadline, retries, breakers and balancing; a connection only opens calls.
Its two ways to fail tell the retry rules what they need to know:

- ``ready()`` raising means nothing was sent (pre-dispatch: retried anywhere, key or not);
- a call raising a :class:`ServiceBridgeError` means the request may have reached the server,
  unless the error carries ``not_dispatched`` (the server's proof that no handler ran).

Every failure is already a ``ServiceBridgeError``: no grpc or grpclib exception leaves a
connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.message import Message

from runtime_lib._errors import InternalError, check_at_least
from runtime_lib._rpc import wire
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.options import ReplyMetadata, RetryPolicy
from runtime_lib._rpc.spec import MethodSpec
from runtime_lib._telemetry.spans import NO_RPC_CLIENT, RpcClientCall

if TYPE_CHECKING:
    from runtime_lib._security.bridge_tls import TargetTls

CONNECT_TIMEOUT = 5.0
"""The longest any transport waits for a connection, whatever the call's deadline."""

DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
"""The largest message received unless ``RpcConfig.max_message_size`` says otherwise: gRPC's
default ``grpc.max_receive_message_length``."""


def check_max_message_size(name: str, size: int) -> None:
    """A :class:`ConfigError` naming the setting unless ``size`` is a usable limit (1 KiB or more)."""
    check_at_least(name, size, 1024)


WireMetadata = tuple[tuple[str, str | bytes], ...]
Outgoing = Message | AsyncIterable[Message]
"""What a call sends: one request, or a request stream (client and bidi streaming)."""


class OutgoingCall:
    """One call as the invoker resolved it; the same on every attempt. ``metadata`` holds the
    caller's own entries (and the idempotency key); ``call_tail`` the rest of ``sb-call``."""

    __slots__ = (
        "call_tail",
        "deadline",
        "idempotency_key",
        "metadata",
        "method",
        "observer",
        "reply_metadata",
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
        metadata: WireMetadata,
        call_tail: str,
        retry: RetryPolicy,
        transport: str,
        reply_metadata: ReplyMetadata | None = None,
        observer: RpcClientCall = NO_RPC_CLIENT,
    ) -> None:
        self.method = method
        self.deadline = deadline
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.metadata = metadata
        self.call_tail = call_tail
        self.retry = retry
        self.transport = transport
        self.reply_metadata = reply_metadata
        self.observer = observer

    def observed(self, observer: RpcClientCall) -> OutgoingCall:
        """This call under ``observer``, whose trace context then travels in the metadata."""
        if observer is NO_RPC_CLIENT:
            return self  # telemetry off: nothing to carry
        return OutgoingCall(
            self.method,
            self.deadline,
            self.request_id,
            self.idempotency_key,
            (*self.metadata, *observer.metadata()),
            self.call_tail,
            self.retry,
            self.transport,
            self.reply_metadata,
            observer,
        )

    def wire(self, left: float) -> WireMetadata:
        """Metadata for one network attempt with ``left`` seconds to go. ``sb-call`` goes last:
        a caller's own entry of that name cannot override it."""
        return (*self.metadata, (wire.CALL, f"{int(left * 1000)}{self.call_tail}"))

    def context(self, caller: str) -> CallContext:
        """The handler's context when the call runs in process."""
        return CallContext(
            method=self.method.path,
            caller=caller,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
            deadline=self.deadline,
            pairs=self.metadata,
        )


def no_reply(address: str, method: MethodSpec[Any, Any]) -> InternalError:
    """A call that ended OK without the one reply its method promises (a broken peer)."""
    return InternalError(f"{address} ended {method.path} with OK but sent no reply")


class ReplyStream(Protocol):
    """The replies of a server-streaming or bidi call."""

    async def read(self) -> Message | None:
        """The next reply, or None once the server ended the stream."""
        ...

    async def close(self) -> None:
        """Stop the call if it still runs (a no-op once it ended)."""
        ...


class Connection(Protocol):
    """Calls to one endpoint."""

    def is_ready(self) -> bool:
        """Whether calls can go out now without waiting (asks an idle connection to connect)."""
        ...

    async def ready(self, within: float) -> None:
        """Return once connected; ConnectionFailedError (not dispatched) if not within ``within``
        seconds (capped by the transport's own connect timeout)."""
        ...

    def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Awaitable[Message]:
        """A call with one reply (unary or client streaming) with ``left`` seconds to go."""
        ...

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> ReplyStream:
        """A call with a reply stream (server streaming or bidi)."""
        ...

    async def close(self) -> None: ...


Connect = Callable[[str, "TargetTls | None"], Connection]
"""Makes the connection to an address; with TLS, one that accepts only the service meant."""
