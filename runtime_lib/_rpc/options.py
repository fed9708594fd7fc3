"""Per-call options, layered over the bridge's ``call_defaults``, and their one type check."""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypedDict, get_args

from runtime_lib._errors import ConfigError
from runtime_lib._rpc import wire

# gRPC's rule for metadata keys: lower-case letters, digits, '-', '_', '.'; "grpc-" is reserved.
_KEY = re.compile(r"[0-9a-z_.\-]+")

Timeout = float | int | str | timedelta
"""Seconds, a duration string (``"500ms"``, ``"10s"``, ``"2m"``) or a ``timedelta``."""

Transport = Literal["auto", "direct", "inproc"]
"""Per call: ``auto`` (in process when this bridge serves the target, else the network),
``direct`` (always the bridge's network transport), ``inproc`` (only this bridge's handler)."""

NetworkTransport = Literal["grpcio", "grpclib"]
"""Per bridge: the library that carries its outgoing calls over the network."""

Metadata = Mapping[str, str | bytes]
"""gRPC metadata: keys ending in ``-bin`` carry ``bytes``, every other key ``str``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``max_attempts=1`` disables retries."""

    max_attempts: int = 3
    base_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.3


@dataclass(slots=True)
class ReplyMetadata:
    """Filled by a call given ``reply_metadata=``: the reply's headers (initial metadata) and
    trailers, on success and on failure alike (empty when the call never reached a server)."""

    headers: dict[str, str | bytes] = field(default_factory=dict)
    trailers: dict[str, str | bytes] = field(default_factory=dict)


class CallOptions(TypedDict, total=False):
    """Keyword options every generated client method accepts.

    ``timeout`` covers all attempts (default 30 s); ``request_id`` defaults to a UUID4 that stays
    the same on every retry; ``idempotency_key`` lets ambiguous failures be retried safely;
    ``reply_metadata`` receives the reply's headers and trailers.
    """

    timeout: Timeout | None
    idempotency_key: str | None
    request_id: str | None
    metadata: Metadata | None
    retry: RetryPolicy | None
    transport: Transport | None
    reply_metadata: ReplyMetadata | None


def check_call_options(options: Mapping[str, object]) -> None:
    """Raise :class:`ConfigError` for a key :class:`CallOptions` does not have, or a value of the
    wrong type, naming the option, what it takes and what it got.

    mypy catches these in typed code; this turns the rest into an error at the call instead of an
    ``AttributeError`` deep in the runtime. ``None`` means "not given" for every option.
    """
    for key, value in options.items():
        check = _CHECKS.get(key)
        if check is None:
            raise ConfigError(f"unknown call option {key}=: the options are {', '.join(_CHECKS)}")
        if value is not None:
            check(key, value)


def _got(value: object) -> str:
    return f"{type(value).__name__} {reprlib.repr(value)}"


def _timeout(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | timedelta):
        raise ConfigError(
            f'{key}= must be seconds, a duration such as "500ms" or a timedelta, got {_got(value)}'
        )


def _text(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{key}= must be a str, got {_got(value)}")


def _header_text(key: str, value: object) -> None:
    """Text sent as a metadata value of its own: gRPC takes printable ASCII only."""
    _text(key, value)
    if isinstance(value, str) and not (value.isascii() and value.isprintable()):
        raise ConfigError(
            f"{key}= must be printable ASCII (it travels as gRPC metadata), got {_got(value)}"
        )


def _retry(key: str, value: object) -> None:
    if not isinstance(value, RetryPolicy):
        raise ConfigError(f"{key}= must be a RetryPolicy, got {_got(value)}")


def _transport(key: str, value: object) -> None:
    choices = get_args(Transport)
    if value not in choices:
        raise ConfigError(f"{key}= must be one of {', '.join(choices)}, got {_got(value)}")


def _metadata(key: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}= must be a mapping of str to str, got {_got(value)}")
    check_metadata(value)


def _reply_metadata(key: str, value: object) -> None:
    if not isinstance(value, ReplyMetadata):
        raise ConfigError(f"{key}= must be a ReplyMetadata (filled by the call), got {_got(value)}")


_CHECKS: dict[str, Callable[[str, object], None]] = {
    "timeout": _timeout,
    "idempotency_key": _header_text,
    "request_id": _text,
    "metadata": _metadata,
    "retry": _retry,
    "transport": _transport,
    "reply_metadata": _reply_metadata,
}


def check_metadata(metadata: Mapping[Any, Any], where: str = "metadata=") -> None:
    """``check_metadata_entry`` for every entry of a ``metadata=`` option (keys may be in any
    case: they are sent lower-cased)."""
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where} keys must be str, got {_got(key)}")
        if key.lower() == wire.CALL:
            raise ConfigError(
                f"{where} {key!r} is the entry the runtime sends with every call (deadline, "
                "request id, contract, caller; docs/wire.md): set timeout= or request_id= instead"
            )
        check_metadata_entry(key.lower(), value, f"{where} entry")


def check_metadata_entry(key: object, value: object, where: str = "metadata") -> None:
    """A ``ConfigError`` naming ``key`` (after ``where``, the caller's words for it) unless it is
    a legal gRPC key with the right value type: ``bytes`` for a ``-bin`` key, printable ASCII
    ``str`` for any other."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or key.startswith("grpc-"):
        raise ConfigError(
            f"{where} {key!r}: use lower-case letters, digits, '-', '_' or '.', "
            "not starting with 'grpc-'"
        )
    if key.endswith("-bin"):
        if not isinstance(value, bytes):
            raise ConfigError(
                f"{where} {key!r} ends in -bin, so its value must be bytes, got {_got(value)}"
            )
    elif not isinstance(value, str):
        raise ConfigError(
            f"{where} {key!r} must be a str (only keys ending in -bin carry bytes), "
            f"got {_got(value)}"
        )
    elif not value.isascii() or not value.isprintable():
        raise ConfigError(
            f"{where} {key!r}: a str value must be printable ASCII; "
            "send other data under a key ending in -bin as bytes"
        )
