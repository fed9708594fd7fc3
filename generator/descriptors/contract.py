"""Stage descriptors: the ServiceBridge v2 contract hash of a method or event, computed from descriptors.

contractHash = "v2:" + lowerHex(sha256(canonicalInput + ":" + canonicalOutput)); the canonical form
is pinned by ../shared/reference/contract-hash-vectors.json ("spec"). Only wire identity is hashed:
field numbers, cardinality and types. A message carrying ``(servicebridge.wire_name)`` is named
``.<wire_name>`` instead of its full name, so a ``.schema.json`` input hashes as ServiceBridge's own
reader does whatever Python names the frontend chose.

Type names are fully qualified with a leading dot, as in ``MethodDescriptorProto.input_type``. An
unknown type name is a bug in the caller (protoc resolved every reference), so it is a ValueError.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TypeAlias

from google.protobuf import descriptor_pb2

from generator.descriptors.sb_options import wire_name

_Field = descriptor_pb2.FieldDescriptorProto

_SCALARS: dict[int, str] = {
    _Field.TYPE_DOUBLE: "double",
    _Field.TYPE_FLOAT: "float",
    _Field.TYPE_INT64: "int64",
    _Field.TYPE_UINT64: "uint64",
    _Field.TYPE_INT32: "int32",
    _Field.TYPE_FIXED64: "fixed64",
    _Field.TYPE_FIXED32: "fixed32",
    _Field.TYPE_BOOL: "bool",
    _Field.TYPE_STRING: "string",
    _Field.TYPE_BYTES: "bytes",
    _Field.TYPE_UINT32: "uint32",
    _Field.TYPE_SFIXED32: "sfixed32",
    _Field.TYPE_SFIXED64: "sfixed64",
    _Field.TYPE_SINT32: "sint32",
    _Field.TYPE_SINT64: "sint64",
}

_EMPTY_MESSAGE = '{"f":[]}'

_Json: TypeAlias = dict[str, object]


class Contracts:
    """Hashes over one set of files; index the files once, hash many methods and events."""

    def __init__(self, files: Sequence[descriptor_pb2.FileDescriptorProto]) -> None:
        self._types = _Types.of(files)

    def rpc(self, input_type: str, output_type: str) -> str:
        """The hash of a method's (request, reply) pair."""
        return _hash(self._types.canonical(input_type), self._types.canonical(output_type))

    def event(self, message_type: str) -> str:
        """The hash of an event payload: the reply half is always the empty message."""
        return _hash(self._types.canonical(message_type), _EMPTY_MESSAGE)


def rpc_contract_hash(
    files: Sequence[descriptor_pb2.FileDescriptorProto], input_type: str, output_type: str
) -> str:
    """The hash of a method's (request, reply) pair."""
    return Contracts(files).rpc(input_type, output_type)


def event_contract_hash(
    files: Sequence[descriptor_pb2.FileDescriptorProto], message_type: str
) -> str:
    """The hash of an event payload: the reply half is always the empty message."""
    return Contracts(files).event(message_type)


def canonical_message(files: Sequence[descriptor_pb2.FileDescriptorProto], type_name: str) -> str:
    """The canonical JSON of one message, with its table ``r`` of reachable types."""
    return _Types.of(files).canonical(type_name)


def _dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(canonical_input: str, canonical_output: str) -> str:
    digest = hashlib.sha256(f"{canonical_input}:{canonical_output}".encode()).hexdigest()
    return f"v2:{digest}"


@dataclass
class _Types:
    """Every message and enum of the files, by fully-qualified name with a leading dot."""

    messages: dict[str, descriptor_pb2.DescriptorProto] = dataclass_field(default_factory=dict)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = dataclass_field(default_factory=dict)
    # Memos: a corpus hashes many methods over the same messages.
    _canonical: dict[str, str] = dataclass_field(default_factory=dict)
    _described: dict[str, str] = dataclass_field(default_factory=dict)
    _names: dict[str, str] = dataclass_field(default_factory=dict)
    _enum_texts: dict[str, str] = dataclass_field(default_factory=dict)
    _reach: dict[str, dict[str, str]] = dataclass_field(default_factory=dict)
    _in_progress: set[str] = dataclass_field(default_factory=set)

    @classmethod
    def of(cls, files: Sequence[descriptor_pb2.FileDescriptorProto]) -> _Types:
        types = cls()
        for file in files:
            scope = f".{file.package}" if file.package else ""
            types._add(scope, file.message_type, file.enum_type)
        return types

    def _add(
        self,
        scope: str,
        messages: Iterable[descriptor_pb2.DescriptorProto],
        enums: Iterable[descriptor_pb2.EnumDescriptorProto],
    ) -> None:
        for enum in enums:
            self.enums[f"{scope}.{enum.name}"] = enum
        for message in messages:
            name = f"{scope}.{message.name}"
            self.messages[name] = message
            self._add(name, message.nested_type, message.enum_type)

    def canonical(self, type_name: str) -> str:
        known = self._canonical.get(type_name)
        if known is not None:
            return known
        reachable = self._reach_of(type_name)
        text = self._describe(type_name)
        if reachable:
            # Canonical JSON built from the entries' own canonical texts: "r" sorts after "f"
            # and "o", and its keys are sorted, exactly as json.dumps(sort_keys=True) would.
            table = ",".join(f"{_dumps(k)}:{reachable[k]}" for k in sorted(reachable))
            text = f'{text[:-1]},"r":{{{table}}}}}'
        self._canonical[type_name] = text
        return text

    def _message(self, type_name: str) -> descriptor_pb2.DescriptorProto:
        try:
            return self.messages[type_name]
        except KeyError:
            raise ValueError(f"unknown message type {type_name!r}") from None

    def _name(self, type_name: str) -> str:
        """The name a message goes by in the hash: its wire_name when it has one."""
        name = self._names.get(type_name)
        if name is None:
            wire = wire_name(self._message(type_name).options)
            name = self._names[type_name] = f".{wire}" if wire is not None else type_name
        return name

    def _map_entry(
        self, fd: descriptor_pb2.FieldDescriptorProto
    ) -> descriptor_pb2.DescriptorProto | None:
        if fd.label != _Field.LABEL_REPEATED or fd.type != _Field.TYPE_MESSAGE:
            return None
        entry = self._message(fd.type_name)
        return entry if entry.options.map_entry else None

    def _describe(self, type_name: str) -> str:
        """The canonical JSON ``{"f": ..., "o": ...}`` of one message, without ``r``."""
        known = self._described.get(type_name)
        if known is not None:
            return known
        message = self._message(type_name)
        fields = [self._field(f) for f in sorted(message.field, key=lambda f: f.number)]
        body: _Json = {"f": fields}
        # A proto3 `optional` sits in a synthetic oneof of its own; it is not a group.
        groups: dict[int, list[int]] = {}
        for f in message.field:
            if f.HasField("oneof_index") and not f.proto3_optional:
                groups.setdefault(f.oneof_index, []).append(f.number)
        if groups:
            # Groups are disjoint, so sorting the sorted lists orders them by their first number.
            body["o"] = [{"f": g} for g in sorted(sorted(g) for g in groups.values())]
        text = self._described[type_name] = _dumps(body)
        return text

    def _field(self, fd: descriptor_pb2.FieldDescriptorProto) -> _Json:
        entry = self._map_entry(fd)
        if entry is not None:
            key, value = sorted(entry.field, key=lambda f: f.number)
            return {"n": fd.number, "c": "map", "k": self._type(key), "t": self._type(value)}
        cardinality = {_Field.LABEL_REPEATED: "rep", _Field.LABEL_REQUIRED: "req"}.get(
            fd.label, "opt"
        )
        return {"n": fd.number, "c": cardinality, "t": self._type(fd)}

    def _type(self, fd: descriptor_pb2.FieldDescriptorProto) -> str:
        if fd.type == _Field.TYPE_ENUM:
            return f"e:{fd.type_name}"
        if fd.type in (_Field.TYPE_MESSAGE, _Field.TYPE_GROUP):
            return f"m:{self._name(fd.type_name)}"
        return _SCALARS[fd.type]

    def _reach_of(self, type_name: str) -> dict[str, str]:
        """Canonical texts of every message and enum reachable from ``type_name``'s fields.

        Memoized per type: many methods reach the same imported types, and walking them again
        for each one dominated large corpora.
        """
        known = self._reach.get(type_name)
        if known is not None:
            return known
        self._in_progress.add(type_name)
        seen: dict[str, str] = {}
        self._collect(self._message(type_name), seen, memo=True)
        self._in_progress.discard(type_name)
        self._reach[type_name] = seen
        return seen

    def _collect(
        self, message: descriptor_pb2.DescriptorProto, seen: dict[str, str], *, memo: bool
    ) -> None:
        for f in message.field:
            if f.type == _Field.TYPE_ENUM:
                if f.type_name not in seen:
                    seen[f.type_name] = self._enum_text(f.type_name)
            elif f.type in (_Field.TYPE_MESSAGE, _Field.TYPE_GROUP):
                target = self._message(f.type_name)
                if target.options.map_entry:  # expressed inline through c/k/t
                    self._collect(target, seen, memo=memo)
                    continue
                name = self._name(f.type_name)
                if name in seen:
                    continue
                seen[name] = self._describe(f.type_name)
                if memo and f.type_name not in self._in_progress:
                    seen.update(self._reach_of(f.type_name))
                else:  # a cycle back into a type being memoized: walk it plainly
                    self._collect(target, seen, memo=False)

    def _enum_text(self, type_name: str) -> str:
        text = self._enum_texts.get(type_name)
        if text is None:
            values = sorted({v.number for v in self._enum(type_name).value})
            text = self._enum_texts[type_name] = _dumps({"e": values})
        return text

    def _enum(self, type_name: str) -> descriptor_pb2.EnumDescriptorProto:
        try:
            return self.enums[type_name]
        except KeyError:
            raise ValueError(f"unknown enum type {type_name!r}") from None
