"""The event envelope and its NATS header form.

Headers (DESIGN.md, "Wire conventions"): ``sb-id`` (UUIDv7), ``sb-name``, ``sb-occurred-at`` (unix
ms), ``sb-idempotency-key``, ``sb-partition-key``, ``sb-contract``, ``traceparent``/``tracestate``,
and the user's headers under their own names. The body is the protobuf payload.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_str
from typing import TypeVar

from runtime_lib.errors import ValidationError
from runtime_lib.events.event_type import EventType

E = TypeVar("E", bound=EventType)

H_ID = "sb-id"
H_NAME = "sb-name"
H_OCCURRED_AT = "sb-occurred-at"
H_IDEMPOTENCY_KEY = "sb-idempotency-key"
H_PARTITION_KEY = "sb-partition-key"
H_CONTRACT = "sb-contract"
H_TRACEPARENT = "traceparent"
H_TRACESTATE = "tracestate"
H_NATS_MSG_ID = "Nats-Msg-Id"
_TRACE_HEADERS = (H_TRACEPARENT, H_TRACESTATE)
_OWN_PREFIXES = ("sb-", "Nats-")  # as the runtime writes them: skipped without lower()


def is_reserved_header(key: str) -> bool:
    lowered = key.lower()
    return lowered.startswith(("sb-", "nats-")) or lowered in _TRACE_HEADERS


_uuid_lock = threading.Lock()
_last_ms = 0
_counter = 0
# Randomness drawn in bulk: one os.urandom call per 512 ids. Per id, the syscall released the
# GIL and, with the outbox writer thread waiting for it, cost ~14 us to get it back.
_RANDOM_CHUNK = 8 * 512
_random = b""
_random_at = _RANDOM_CHUNK


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit unix ms, then a 12-bit counter so ids from one process sort."""
    global _last_ms, _counter, _random, _random_at
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        counter = _counter
        if _random_at >= _RANDOM_CHUNK:
            _random, _random_at = os.urandom(_RANDOM_CHUNK), 0
        at = _random_at
        _random_at = at + 8
        rand = int.from_bytes(_random[at : at + 8], "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand
    # Formatted by hand: uuid.UUID(int=...) and its str() cost more than the rest of publish.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _reseed_after_fork() -> None:
    global _random_at
    _random_at = _RANDOM_CHUNK  # a child must not reuse the parent's unused randomness


os.register_at_fork(after_in_child=_reseed_after_fork)


def headers_json(headers: dict[str, str]) -> str:
    """``headers`` as compact JSON (the outbox's ``headers`` column); the same text as
    ``json.dumps(headers, separators=(",", ":"))`` at half the cost for a few short strings."""
    return "{" + ",".join([_json_str(k) + ":" + _json_str(v) for k, v in headers.items()]) + "}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventEnvelope:
    """One event as it travels: metadata plus the protobuf payload.

    Pattern subscribers receive this; ``decode(OrderPlaced)`` turns it into the typed event.
    """

    id: str
    name: str
    payload: bytes
    occurred_at_ms: int
    idempotency_key: str = ""
    partition_key: str = ""
    contract_hash: str = ""
    trace_headers: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(self.occurred_at_ms / 1000, UTC)

    @property
    def msg_id(self) -> str:
        """The broker-side dedupe id: the idempotency key when given, else the event id."""
        return self.idempotency_key or self.id

    @property
    def trace_id(self) -> str:
        """The W3C trace id from ``traceparent`` (``""`` without one), for logs."""
        parts = self.trace_headers.get(H_TRACEPARENT, "").split("-")
        return parts[1] if len(parts) == 4 else ""

    def decode(self, event_cls: type[E]) -> E:
        """The payload as ``event_cls``; ValidationError if it does not parse."""
        try:
            message = event_cls.PROTO.FromString(self.payload)
        except Exception as exc:
            raise ValidationError(
                f"event {self.id} ({self.name}) is not a {event_cls.__name__}: {exc}"
            ) from exc
        return event_cls.from_proto(message)

    def to_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        headers.update(self.trace_headers)
        headers[H_ID] = self.id
        headers[H_NAME] = self.name
        headers[H_OCCURRED_AT] = str(self.occurred_at_ms)
        if self.idempotency_key:
            headers[H_IDEMPOTENCY_KEY] = self.idempotency_key
        if self.partition_key:
            headers[H_PARTITION_KEY] = self.partition_key
        if self.contract_hash:
            headers[H_CONTRACT] = self.contract_hash
        return headers

    @classmethod
    def from_headers(cls, headers: dict[str, str], payload: bytes) -> EventEnvelope:
        """Rebuild an envelope; ValidationError when the id or name header is missing."""
        try:
            event_id = headers[H_ID]
            name = headers[H_NAME]
        except KeyError as exc:
            raise ValidationError(f"not a servicebridge event: header {exc} missing") from exc
        try:
            occurred = int(headers.get(H_OCCURRED_AT, "0"))
        except ValueError:
            occurred = 0
        # One pass over the headers: the envelope's own (sb-*, Nats-*) are skipped, trace headers
        # and the user's are kept apart.
        trace: dict[str, str] = {}
        user: dict[str, str] = {}
        for key, value in headers.items():
            if key.startswith(_OWN_PREFIXES):
                continue
            lowered = key.lower()
            if lowered in _TRACE_HEADERS:
                trace[key] = value
            elif not lowered.startswith(("sb-", "nats-")):
                user[key] = value
        return cls(
            id=event_id,
            name=name,
            payload=payload,
            occurred_at_ms=occurred,
            idempotency_key=headers.get(H_IDEMPOTENCY_KEY, ""),
            partition_key=headers.get(H_PARTITION_KEY, ""),
            contract_hash=headers.get(H_CONTRACT, ""),
            trace_headers=trace,
            headers=user,
        )
