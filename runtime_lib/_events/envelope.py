"""The event envelope and its NATS header form.

Headers (docs/wire.md, "Events"): ``Nats-Msg-Id`` (the idempotency key, else the event id, a
UUIDv7), ``sb-id`` (only when it differs from ``Nats-Msg-Id``), ``sb-occurred-at`` (unix ms),
``sb-idempotency-key``, ``sb-partition-key``, ``sb-contract``, ``traceparent``/``tracestate``, and
the user's headers under their own names. The event name is the subject's, not a header. The body
is the protobuf payload. Readers also take what publishers before decision 0013 sent (``sb-id``
and ``sb-name`` on every event).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_str
from typing import TypeVar

from runtime_lib._errors import ValidationError
from runtime_lib._events.event_type import EventType

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


def headers_json(headers: dict[str, str]) -> str:
    """``headers`` as compact JSON (the outbox's ``headers`` column); the same text as
    ``json.dumps(headers, separators=(",", ":"))`` at half the cost for a few short strings."""
    return "{" + ",".join([_json_str(k) + ":" + _json_str(v) for k, v in headers.items()]) + "}"


def envelope_headers(
    event_id: str,
    occurred_at_ms: int,
    *,
    idempotency_key: str = "",
    partition_key: str = "",
    contract_hash: str = "",
    trace_headers: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The header form of an event: the user's headers, trace headers, then the envelope's. The
    event's name is not among them: its subject carries it."""
    out = dict(headers) if headers else {}
    if trace_headers:
        out.update(trace_headers)
    out[H_NATS_MSG_ID] = idempotency_key or event_id
    if idempotency_key and idempotency_key != event_id:
        out[H_ID] = event_id
    out[H_OCCURRED_AT] = str(occurred_at_ms)
    if idempotency_key:
        out[H_IDEMPOTENCY_KEY] = idempotency_key
    if partition_key:
        out[H_PARTITION_KEY] = partition_key
    if contract_hash:
        out[H_CONTRACT] = contract_hash
    return out


def header_form(
    event_id: str,
    occurred_at_ms: int,
    *,
    idempotency_key: str = "",
    partition_key: str = "",
    contract_hash: str = "",
    trace_headers: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """``envelope_headers(...)`` and its JSON, the outbox's ``headers`` column: the one encoder of
    the header form (the publish path and :meth:`EventEnvelope.header_form` both come here).
    The publish path hands the dict to the drainer with the row, so a row sent from memory is
    not parsed back from its JSON."""
    if headers or trace_headers or idempotency_key or partition_key:
        form = envelope_headers(
            event_id,
            occurred_at_ms,
            idempotency_key=idempotency_key,
            partition_key=partition_key,
            contract_hash=contract_hash,
            trace_headers=trace_headers,
            headers=headers,
        )
        return form, headers_json(form)
    # The common case, straight to JSON in the same key order: event ids (letters, digits and
    # ".-_:", checked by publish) and digits need no escaping.
    occurred = str(occurred_at_ms)
    form = {H_NATS_MSG_ID: event_id, H_OCCURRED_AT: occurred}
    contract = ""
    if contract_hash:
        form[H_CONTRACT] = contract_hash
        contract = f',"{H_CONTRACT}":{_json_str(contract_hash)}'
    return form, f'{{"{H_NATS_MSG_ID}":"{event_id}","{H_OCCURRED_AT}":"{occurred}"{contract}}}'


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
    # The publishing service, from the subject it arrived on (not a header: the broker's
    # permissions vouch for the subject, nothing vouches for a header). "" when unknown.
    publisher: str = ""

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
        return envelope_headers(
            self.id,
            self.occurred_at_ms,
            idempotency_key=self.idempotency_key,
            partition_key=self.partition_key,
            contract_hash=self.contract_hash,
            trace_headers=self.trace_headers,
            headers=self.headers,
        )

    def header_form(self) -> tuple[dict[str, str], str]:
        """:meth:`to_headers` and the JSON the outbox stores (:func:`header_form`)."""
        return header_form(
            self.id,
            self.occurred_at_ms,
            idempotency_key=self.idempotency_key,
            partition_key=self.partition_key,
            contract_hash=self.contract_hash,
            trace_headers=self.trace_headers,
            headers=self.headers,
        )

    @classmethod
    def from_headers(
        cls, headers: dict[str, str], payload: bytes, publisher: str = "", name: str = ""
    ) -> EventEnvelope:
        """Rebuild an envelope. ``name``: the event's, from its subject or outbox row (events
        from older publishers also carry it as ``sb-name``, which must then agree: the subject
        is what the broker permitted, and a header naming another event would pass this one off
        as it). ValidationError when the id or the name is missing, or the two names differ."""
        event_id = headers.get(H_ID) or headers.get(H_NATS_MSG_ID)
        if not event_id:
            raise ValidationError(f"not a servicebridge event: no {H_ID} or {H_NATS_MSG_ID} header")
        sent_name = headers.get(H_NAME)
        if sent_name is not None and name and sent_name != name:
            raise ValidationError(f"its {H_NAME} header names event {sent_name!r}, not {name!r}")
        name = name or sent_name or ""
        if not name:
            raise ValidationError(f"not a servicebridge event: no event name ({H_NAME} header)")
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
            publisher=publisher,
        )
