"""The deadline of one HTTP request: the ``sb-timeout-ms`` header, else the middleware's default.

Calls made while the request is handled inherit it the way a handler's calls inherit the gRPC
deadline (``runtime_lib._rpc.deadline``): each call's timeout is capped by what is left of it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import runtime_lib as sb

TIMEOUT_HEADER = "sb-timeout-ms"
# A day: larger values are almost certainly a unit mistake (seconds sent as milliseconds twice).
_MAX_MS = 86_400_000


def deadline_from(headers: Mapping[str, str], default_seconds: float) -> float:
    """A ``time.monotonic()`` instant; a malformed header is a :class:`~runtime_lib.BadRequestError` naming it."""
    raw = headers.get(TIMEOUT_HEADER)
    if raw is None:
        return time.monotonic() + default_seconds
    text = raw.strip()
    if not text.isdigit() or not 0 < int(text) <= _MAX_MS:
        raise sb.BadRequestError(
            f"header {TIMEOUT_HEADER}: {raw!r} is not a whole number of milliseconds "
            f"between 1 and {_MAX_MS}",
            field=TIMEOUT_HEADER,
        )
    return time.monotonic() + int(text) / 1000
