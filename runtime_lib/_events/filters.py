"""Payload filters: ``{"$.currency": "EUR", "$.customer.tier": "gold"}``.

A filter is a mapping of paths to expected values; an event passes when every path equals its
value (AND). A path is ``$`` then dot-separated field names, each the proto name (``order_id``) or
its JSON name (``orderId``). Unset proto3 fields read as their defaults (``""``, ``0``, ``False``);
enum fields compare equal to their number or their name. Paths that do not exist never match.
The runtime decodes the payload with the subscription's event class, or for pattern subscriptions
with the message type registered for the event name; with no known type, a filtered subscription
does not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runtime_lib._errors import ConfigError

_MISSING = object()


@dataclass(frozen=True, slots=True)
class PayloadFilter:
    clauses: tuple[tuple[tuple[str, ...], Any], ...]

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> PayloadFilter:
        clauses = []
        for path, expected in spec.items():
            if path != "$" and not path.startswith("$."):
                raise ConfigError(f"filter path {path!r} must start with '$.'")
            segments = tuple(s for s in path[2:].split(".") if s)
            if not segments:
                raise ConfigError(f"filter path {path!r} names no field")
            clauses.append((segments, expected))
        return cls(tuple(clauses))

    def matches(self, message: Message) -> bool:
        return all(_equal(_lookup(message, path), want) for path, want in self.clauses)


def _lookup(message: Message, path: tuple[str, ...]) -> Any:
    value: Any = message
    for segment in path:
        if not isinstance(value, Message):
            return _MISSING
        field = _field(value, segment)
        if field is None:
            return _MISSING
        raw = getattr(value, field.name)
        if field.enum_type is not None and not field.is_repeated:
            enum_value = field.enum_type.values_by_number.get(raw)
            value = (raw, enum_value.name if enum_value is not None else None)
        else:
            value = raw
    return value


def _field(message: Message, segment: str) -> FieldDescriptor | None:
    # Any: the stubs type descriptors as a union of the Python and upb classes.
    descriptor: Any = message.DESCRIPTOR
    found: FieldDescriptor | None = descriptor.fields_by_name.get(segment)
    if found is None:
        found = next((f for f in descriptor.fields if f.json_name == segment), None)
    return found


def _equal(actual: Any, expected: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(actual, tuple):  # an enum: (number, name)
        return bool(expected == actual[0] or expected == actual[1])
    return bool(actual == expected)
