"""Stage descriptors: read and write the servicebridge custom message options without a generated options_pb2.

protos/servicebridge/options.proto extends MessageOptions with ``event`` (51001, EventOptions{name})
and ``wire_name`` (51002). Whether those extensions are registered in the running process depends
on what was imported, so a parsed MessageOptions holds them either as extensions or as unknown
fields. Serializing the options and re-parsing the bytes into ``Empty`` (which has no fields) turns
both cases into unknown fields, read the same way. Writing merges the raw wire bytes.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, empty_pb2, unknown_fields

EVENT_FIELD = 51001
WIRE_NAME_FIELD = 51002
_EVENT_NAME_FIELD = 1  # EventOptions.name
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


def last_bytes(serialized: bytes, number: int) -> bytes | None:
    """The payload of the last length-delimited field ``number`` (protobuf: the last one wins)."""
    holder = empty_pb2.Empty()
    holder.ParseFromString(serialized)
    found: bytes | None = None
    fields = unknown_fields.UnknownFieldSet(holder)
    for index in range(len(fields)):
        field = fields[index]
        if field.field_number == number and field.wire_type == _LENGTH_DELIMITED:
            found = bytes(field.data)
    return found


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)
