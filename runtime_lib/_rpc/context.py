"""What a handler knows about the call it is serving, and the reply metadata it sets."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from types import MappingProxyType

from runtime_lib._errors import ConfigError
from runtime_lib._rpc.options import check_metadata_entry

MetadataValue = str | bytes

_EMPTY: Mapping[str, MetadataValue] = MappingProxyType({})


class CallContext:
    """Passed to every handler method as ``ctx``.

    ``deadline`` is a ``time.monotonic()`` instant (None when the caller set none); calls made
    through the bridge from inside the handler inherit what is left of it. ``metadata`` holds the
    call's incoming metadata, keys lower-case, ``-bin`` entries as ``bytes``; a server passes it
    as the ``pairs`` it received, made a dict only if something reads ``metadata`` (most
    handlers never do, and the dict was ~5k instructions of a served call under load).
    """

    __slots__ = (
        "_headers",
        "_headers_sent",
        "_metadata",
        "_pairs",
        "_trailers",
        "caller",
        "deadline",
        "has_reply_metadata",
        "idempotency_key",
        "method",
        "request_id",
    )

    def __init__(
        self,
        method: str,
        caller: str = "",
        request_id: str = "",
        idempotency_key: str | None = None,
        deadline: float | None = None,
        metadata: Mapping[str, MetadataValue] | None = None,
        *,
        pairs: Collection[tuple[str, MetadataValue]] = (),
    ) -> None:
        self.method = method
        self.caller = caller
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.deadline = deadline
        self._metadata = metadata
        self._pairs = pairs  # read only while _metadata is None
        # Reply metadata, allocated on first use: most calls set none.
        self._headers: dict[str, MetadataValue] | None = None
        self._trailers: dict[str, MetadataValue] | None = None
        self._headers_sent = False
        # Whether set_header or set_trailer was called: an attribute rather than a property
        # computed from the two above, since the server reads it on every call.
        self.has_reply_metadata = False

    def __repr__(self) -> str:
        return (
            f"CallContext(method={self.method!r}, caller={self.caller!r}, "
            f"request_id={self.request_id!r}, idempotency_key={self.idempotency_key!r}, "
            f"deadline={self.deadline!r}, metadata={self.metadata!r})"
        )

    @property
    def metadata(self) -> Mapping[str, MetadataValue]:
        """The call's incoming metadata (the last value of a key sent twice)."""
        metadata = self._metadata
        if metadata is None:
            metadata = self._metadata = dict(self._pairs)
        return metadata

    def time_remaining(self) -> float | None:
        """Seconds left before the caller's deadline, or None if there is none."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def set_header(self, key: str, value: MetadataValue) -> None:
        """Send ``key: value`` in the reply's initial metadata (before the first reply message;
        with the reply of a unary call). ``-bin`` keys take ``bytes``, others ``str``."""
        if self._headers_sent:
            raise ConfigError(
                f"set_header({key!r}) on {self.method}: the headers were already sent with the "
                "first reply message; set headers before yielding it"
            )
        check_metadata_entry(key, value, "set_header: key")
        if self._headers is None:
            self._headers = {}
            self.has_reply_metadata = True
        self._headers[key] = value

    def set_trailer(self, key: str, value: MetadataValue) -> None:
        """Send ``key: value`` in the reply's trailing metadata, with the status (also on
        failure). ``-bin`` keys take ``bytes``, others ``str``."""
        check_metadata_entry(key, value, "set_trailer: key")
        if self._trailers is None:
            self._trailers = {}
            self.has_reply_metadata = True
        self._trailers[key] = value

    @property
    def reply_headers(self) -> Mapping[str, MetadataValue]:
        """What ``set_header`` collected, for the transport that sends the reply."""
        return self._headers if self._headers is not None else _EMPTY

    @property
    def reply_trailers(self) -> Mapping[str, MetadataValue]:
        """What ``set_trailer`` collected, for the transport that sends the status."""
        return self._trailers if self._trailers is not None else _EMPTY

    @property
    def headers_sent(self) -> bool:
        return self._headers_sent

    def mark_headers_sent(self) -> None:
        """Called by the transport once the initial metadata went out: later ``set_header``
        calls raise instead of being lost."""
        self._headers_sent = True
