"""Stage descriptors: read and write the servicebridge custom options without a generated options_pb2.

protos/servicebridge/options.proto extends MessageOptions with ``event`` (51001, EventOptions{name})
and ``wire_name`` (51002), MethodOptions with ``access`` and ServiceOptions with ``service_access``
(both 51003, Access{repeated allowed_callers}). Whether those extensions are registered in the running process depends
on what was imported, so a parsed MessageOptions holds them either as extensions or as unknown
fields. Serializing the options and re-parsing the bytes into ``Empty`` (which has no fields) turns
both cases into unknown fields, read the same way. Writing merges the raw wire bytes.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, empty_pb2, unknown_fields
from google.protobuf.message import Message

EVENT_FIELD = 51001
WIRE_NAME_FIELD = 51002
ACCESS_FIELD = (
    51003  # (servicebridge.access) on methods, (servicebridge.service_access) on services
)
_EVENT_NAME_FIELD = 1  # EventOptions.name
_ALLOWED_CALLERS_FIELD = 1  # Access.allowed_callers
_LENGTH_DELIMITED = 2


def wire_name(options: descriptor_pb2.MessageOptions) -> str | None:
    """The ``(servicebridge.wire_name)`` option, or None when the message does not carry it."""
    data = last_bytes(options.SerializeToString(), WIRE_NAME_FIELD)
    return None if data is None else data.decode("utf-8")


def event_name(options: descriptor_pb2.MessageOptions) -> str | None:
    """The ``(servicebridge.event).name`` option, or None when the message is not an event."""
    event = last_bytes(options.SerializeToString(), EVENT_FIELD)
    if event is None:
        return None
    name = last_bytes(event, _EVENT_NAME_FIELD)
    return "" if name is None else name.decode("utf-8")


def set_wire_name(options: descriptor_pb2.MessageOptions, name: str) -> None:
    options.MergeFromString(_length_delimited(WIRE_NAME_FIELD, name.encode("utf-8")))


def set_event_name(options: descriptor_pb2.MessageOptions, name: str) -> None:
    inner = _length_delimited(_EVENT_NAME_FIELD, name.encode("utf-8"))
    options.MergeFromString(_length_delimited(EVENT_FIELD, inner))


def allowed_callers(options: Message) -> tuple[str, ...] | None:
    """The ``allowed_callers`` of a method's ``(servicebridge.access)`` or a service's
    ``(servicebridge.service_access)``; None when the option is absent (an empty tuple: present,
    allowing nobody). Repeated occurrences merge, as protobuf merges a message field."""
    found = _all_bytes(options.SerializeToString(), ACCESS_FIELD)
    if not found:
        return None
    return tuple(
        name.decode("utf-8")
        for access in found
        for name in _all_bytes(access, _ALLOWED_CALLERS_FIELD)
    )


def set_allowed_callers(options: Message, callers: tuple[str, ...]) -> None:
    inner = b"".join(
        _length_delimited(_ALLOWED_CALLERS_FIELD, name.encode("utf-8")) for name in callers
    )
    options.MergeFromString(_length_delimited(ACCESS_FIELD, inner))


def last_bytes(serialized: bytes, number: int) -> bytes | None:
    """The payload of the last length-delimited field ``number`` (protobuf: the last one wins)."""
    found = _all_bytes(serialized, number)
    return found[-1] if found else None


def _all_bytes(serialized: bytes, number: int) -> list[bytes]:
    """The payloads of every length-delimited field ``number``, in order."""
    holder = empty_pb2.Empty()
    holder.ParseFromString(serialized)
    fields = unknown_fields.UnknownFieldSet(holder)
    return [
        bytes(fields[index].data)
        for index in range(len(fields))
        if fields[index].field_number == number and fields[index].wire_type == _LENGTH_DELIMITED
    ]


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
