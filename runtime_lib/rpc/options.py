"""Per-call options, layered over the bridge's ``call_defaults``."""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypedDict, get_args

from runtime_lib.errors import ConfigError

Timeout = float | int | str | timedelta
"""Seconds, a duration string (``"500ms"``, ``"10s"``, ``"2m"``) or a ``timedelta``."""

Transport = Literal["auto", "direct", "inproc"]
Metadata = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; ``max_attempts=1`` disables retries."""

    max_attempts: int = 3
    base_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.3


class CallOptions(TypedDict, total=False):
    """Keyword options every generated client method accepts.

    ``timeout`` covers all attempts (default 30 s); ``request_id`` defaults to a UUID4 that stays
    the same on every retry; ``idempotency_key`` lets ambiguous failures be retried safely.
    """

    timeout: Timeout | None
    idempotency_key: str | None
    request_id: str | None
    metadata: Metadata | None
    retry: RetryPolicy | None
    transport: Transport | None


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
    for name, entry in value.items():
        if not isinstance(name, str):
            raise ConfigError(f"{key}= keys must be str, got {_got(name)}")
        # gRPC's rule: only binary headers (the "-bin" suffix) carry bytes.
        if name.lower().endswith("-bin"):
            if not isinstance(entry, bytes):
                raise ConfigError(
                    f"{key}= entry {name!r} ends in -bin, so its value must be bytes, "
                    f"got {_got(entry)}"
                )
        elif not isinstance(entry, str):
            raise ConfigError(
                f"{key}= entry {name!r} must be a str (only keys ending in -bin carry bytes), "
                f"got {_got(entry)}"
            )


_CHECKS: dict[str, Callable[[str, object], None]] = {
    "timeout": _timeout,
    "idempotency_key": _text,
    "request_id": _text,
    "metadata": _metadata,
    "retry": _retry,
    "transport": _transport,
}
