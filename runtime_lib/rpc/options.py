"""Per-call options, layered over the bridge's ``call_defaults``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypedDict

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
