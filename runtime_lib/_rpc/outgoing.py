"""From a call's options to the :class:`OutgoingCall` every attempt sends, for both invokers
(the async one in ``client.py`` and the sync one in ``runtime_lib._sync``).

Options are layered over the bridge's ``call_defaults``; the deadline (timeout capped by any
deadline inherited from the handler making the call) covers every attempt; ``request_id`` stays
the same on every attempt.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.message import Message

from runtime_lib._errors import ConfigError
from runtime_lib._ids import new_request_id
from runtime_lib._rpc import deadline, wire
from runtime_lib._rpc.options import CallOptions, Metadata, ReplyMetadata, RetryPolicy
from runtime_lib._rpc.options import check_call_options as check_options
from runtime_lib._rpc.spec import MethodSpec
from runtime_lib._rpc.transports.base import OutgoingCall, WireMetadata

Rep = TypeVar("Rep", bound=Message)

_DEFAULT_RETRY = RetryPolicy()


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


def checked_defaults(call_defaults: CallOptions | None) -> CallOptions:
    """A bridge's ``call_defaults``, copied and checked: a bad default fails where it is given,
    not on the first call."""
    defaults: CallOptions = {**(call_defaults or {})}
    check_options(defaults)
    timeout = defaults.get("timeout")
    if timeout is not None:
        deadline.parse_timeout(timeout)
    return defaults


class CallPreparer:
    """Prepares the calls of one client: ``caller`` is the service name it calls out as, sent
    in ``sb-call`` when ``claim_caller`` (a TLS server takes it from the certificate)."""

    __slots__ = ("_caller_field", "_defaults", "_resolved")

    def __init__(self, caller: str, defaults: CallOptions, *, claim_caller: bool = True) -> None:
        self._defaults = defaults
        self._caller_field = wire.caller_field(caller if claim_caller else None)
        try:
            self._resolved: _Resolved | None = _Resolved(defaults)
        except ConfigError:
            self._resolved = None  # a bad default: every call resolves it, and fails, itself

    def prepare(self, method: MethodSpec[Any, Any], options: CallOptions) -> OutgoingCall:
        resolved = self._resolved
        if options or resolved is None:
            merged: dict[str, Any] = dict(self._defaults)
            merged.update({k: v for k, v in options.items() if v is not None})
            resolved = _Resolved(merged)  # type: ignore[arg-type]
            metadata = resolved.metadata
        else:
            # Read per call: a metadata mapping in call_defaults may be changed in place.
            metadata = _lowered(self._defaults.get("metadata"))
        request_id = resolved.request_id
        if request_id:
            request_id_field = wire.encode_field(request_id)
        else:  # a fresh UUID needs no encoding
            request_id = request_id_field = new_request_id()
        key = resolved.idempotency_key
        if key:
            metadata = ((wire.IDEMPOTENCY_KEY, key), *metadata)
        return OutgoingCall(
            method,
            deadline.deadline_in(resolved.seconds),
            request_id,
            key,
            metadata,
            f" {method.contract_hash} {request_id_field}{self._caller_field}",
            resolved.retry,
            resolved.transport,
            resolved.reply_metadata,
        )


def as_reply(cls: type[Rep], message: Message) -> Rep:
    """``message`` typed as the method's reply class (a TypeError if a transport mixed them up)."""
    if not isinstance(message, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(message).__name__}")
    return message
