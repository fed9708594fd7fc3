"""What a handler knows about the call it is serving."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime_lib.rpc.options import check_metadata


@dataclass(slots=True)
class CallContext:
    """Passed to every handler method as ``ctx``.

    ``deadline`` is a ``time.monotonic()`` instant (None when the caller set none); calls made
    through the bridge from inside the handler inherit what is left of it.
    """

    method: str
    caller: str = ""
    request_id: str = ""
    idempotency_key: str | None = None
    deadline: float | None = None
    metadata: Mapping[str, str | bytes] = field(default_factory=dict)
    response_headers: dict[str, str | bytes] = field(default_factory=dict)
    response_trailers: dict[str, str | bytes] = field(default_factory=dict)

    def set_header(self, key: str, value: str | bytes) -> None:
        """Initial metadata of the reply (``-bin`` keys carry bytes)."""
        check_metadata({key: value})
        self.response_headers[key.lower()] = value

    def set_trailer(self, key: str, value: str | bytes) -> None:
        """Trailing metadata, sent with the status (also on failure)."""
        check_metadata({key: value})
        self.response_trailers[key.lower()] = value

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None if there is none."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())
