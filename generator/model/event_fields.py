"""Stage model: how a protobuf field becomes a Python-native dataclass field, and the code converting it.

An *element* is one value's type (a scalar, an enum, a message, a well-known type); the field's
cardinality (singular with or without presence, repeated, map) wraps it. Each piece of code
returned here is plain Python over ``self`` (the dataclass) and ``message`` (the protobuf
message); templates only lay it out.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2 as d

F = d.FieldDescriptorProto

_SCALARS: dict[int, tuple[str, str]] = {
    F.TYPE_DOUBLE: ("float", "0.0"),
    F.TYPE_FLOAT: ("float", "0.0"),
    F.TYPE_INT64: ("int", "0"),
    F.TYPE_UINT64: ("int", "0"),
    F.TYPE_INT32: ("int", "0"),
    F.TYPE_FIXED64: ("int", "0"),
    F.TYPE_FIXED32: ("int", "0"),
    F.TYPE_UINT32: ("int", "0"),
    F.TYPE_SFIXED32: ("int", "0"),
    F.TYPE_SFIXED64: ("int", "0"),
    F.TYPE_SINT32: ("int", "0"),
    F.TYPE_SINT64: ("int", "0"),
    F.TYPE_BOOL: ("bool", "False"),
    F.TYPE_STRING: ("str", '""'),
    F.TYPE_BYTES: ("bytes", 'b""'),
}

_WRAPPERS = {
    ".google.protobuf.DoubleValue": "float",
    ".google.protobuf.FloatValue": "float",
    ".google.protobuf.Int64Value": "int",
    ".google.protobuf.UInt64Value": "int",
    ".google.protobuf.Int32Value": "int",
    ".google.protobuf.UInt32Value": "int",
    ".google.protobuf.BoolValue": "bool",
    ".google.protobuf.StringValue": "str",
    ".google.protobuf.BytesValue": "bytes",
}

TIMESTAMP = ".google.protobuf.Timestamp"
DURATION = ".google.protobuf.Duration"


def _same(value: str) -> str:
    return value


@dataclass(frozen=True)
class Element:
    """The Python side of one value: its annotation and how it converts.

    ``message_like`` values live in a sub-message that ``fill(target, value)`` writes into;
    the others are assigned with ``to_value``. ``from_value`` reads a protobuf value back.
    """

    py: str
    default: str
    message_like: bool
    from_value: Callable[[str], str]
    to_value: Callable[[str], str] = _same
    fill: Callable[[str, str], str] = lambda target, value: ""
    # A message built from a value, when one expression can (lets repeated fields use extend).
    to_message: Callable[[str], str] | None = None

    @property
    def identity(self) -> bool:
        return self.to_value is _same and self.from_value is _same


def scalar(field_type: int) -> Element:
    py, default = _SCALARS[field_type]
    return Element(py, default, False, _same)


def enum(py: str, zero_member: str, proto_enum: str) -> Element:
    """``py`` is our IntEnum; protobuf takes its own ``ValueType`` (an int) on assignment."""
    return Element(
        py,
        f"{py}.{zero_member}",
        False,
        from_value=lambda x: f"{py}({x})",
        to_value=lambda v: f"{proto_enum}.ValueType({v})",
    )


def dataclass_message(py: str) -> Element:
    """A nested dataclass fills its protobuf sub-message in place (no temporary, no copy)."""
    return Element(
        py,
        "None",
        True,
        from_value=lambda x: f"{py}.from_proto({x})",
        fill=lambda t, v: f"{v}._fill({t})",
    )


def well_known(type_name: str, proto_class: Callable[[], str]) -> Element:
    """Timestamp -> datetime (UTC), Duration -> timedelta, wrappers -> their scalar, others as is."""
    if type_name == TIMESTAMP:
        return Element(
            "datetime",
            "None",
            True,
            # protobuf's ToDatetime/FromDatetime cost three times as much (runtime_lib/_timestamps.py).
            from_value=lambda x: f"sb.timestamp_datetime({x})",
            fill=lambda t, v: f"sb.fill_timestamp({t}, {v})",
        )
    if type_name == DURATION:
        return Element(
            "timedelta",
            "None",
            True,
            from_value=lambda x: f"{x}.ToTimedelta()",
            fill=lambda t, v: f"{t}.FromTimedelta({v})",
        )
    if type_name in _WRAPPERS:
        return Element(
            _WRAPPERS[type_name],
            "None",
            True,
            from_value=lambda x: f"{x}.value",
            fill=lambda t, v: f"{t}.value = {v}",
            to_message=lambda v: f"{proto_class()}(value={v})",
        )
    # Struct, Any, FieldMask...: no Python-native equivalent, so the protobuf class itself.
    return Element(
        proto_class(),
        "None",
        True,
        from_value=_same,
        fill=lambda t, v: f"{t}.CopyFrom({v})",
        to_message=_same,
    )


def is_well_known(type_name: str) -> bool:
    return type_name.startswith(".google.protobuf.")


@dataclass(frozen=True)
class FieldCode:
    annotation: str
    default: str
    to_proto: tuple[str, ...]
    from_proto: str


def singular(name: str, attr: str, el: Element, *, presence: bool) -> FieldCode:
    get = _getter(name)
    value = f"self.{attr}"
    if el.message_like or presence:
        write = el.fill(get, value) if el.message_like else _assign(name, el.to_value(value))
        return FieldCode(
            f"{el.py} | None",
            "None",
            (f"if {value} is not None:", f"    {write}"),
            f'{el.from_value(get)} if message.HasField("{name}") else None',
        )
    return FieldCode(el.py, el.default, (_assign(name, el.to_value(value)),), el.from_value(get))


def repeated(name: str, attr: str, el: Element) -> FieldCode:
    get = _getter(name)
    if el.to_message is not None and el.message_like:
        to: tuple[str, ...] = (f"{get}.extend({el.to_message('v')} for v in self.{attr})",)
    elif el.message_like:
        # Loop variables are named per field: one function converts every field, and mypy
        # rejects a name reused with another type.
        item = f"{attr}_item"
        to = (f"for {item} in self.{attr}:", f"    {el.fill(f'{get}.add()', item)}")
    elif el.identity:
        to = (f"{get}.extend(self.{attr})",)
    else:
        to = (f"{get}.extend({el.to_value('v')} for v in self.{attr})",)
    back = f"list({get})" if el.identity else f"[{el.from_value('v')} for v in {get}]"
    return FieldCode(f"list[{el.py}]", "field(default_factory=list)", to, back)


def mapping(name: str, attr: str, key: Element, value: Element) -> FieldCode:
    get = _getter(name)
    if value.message_like:
        k, v = f"{attr}_key", f"{attr}_item"
        to: tuple[str, ...] = (
            f"for {k}, {v} in self.{attr}.items():",
            f"    {value.fill(f'{get}[{k}]', v)}",
        )
    elif value.identity:
        # A protobuf map's update() is a Python-level mixin, slow even when empty: skip it then.
        to = (f"if self.{attr}:", f"    {get}.update(self.{attr})")
    else:
        to = (f"{get}.update({{k: {value.to_value('v')} for k, v in self.{attr}.items()}})",)
    back = (
        f"dict({get})"
        if value.identity
        else f"{{k: {value.from_value('v')} for k, v in {get}.items()}}"
    )
    return FieldCode(f"dict[{key.py}, {value.py}]", "field(default_factory=dict)", to, back)


def _getter(name: str) -> str:
    """``message.<name>``; protobuf fields named like a keyword are reached with getattr."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"message.{name}"
    return f'getattr(message, "{name}")'


def _assign(name: str, expr: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"message.{name} = {expr}"
    return f'setattr(message, "{name}", {expr})'
