"""Stage model: descriptors -> event dataclasses, every message marked ``(servicebridge.event)`` in a file,
with the dataclasses and IntEnums of everything its fields reach."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.sb_options import EVENT_FIELD, event_name
from generator.descriptors.type_index import Declared, TypeIndex, position
from generator.errors import Diagnostic, GeneratorError
from generator.model import event_fields, naming
from generator.model.imports import ImportSet
from generator.model.nodes import DataClass, DataField, EnumClass, EnumMember

F = d.FieldDescriptorProto
EVENT_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_FIELD = d.DescriptorProto.FIELD_FIELD_NUMBER
_OPTIONS = d.DescriptorProto.OPTIONS_FIELD_NUMBER
# Members of every generated dataclass; a proto field of that name gets a trailing underscore.
_MEMBERS = frozenset({"EVENT_NAME", "CONTRACT_HASH", "PROTO", "to_proto", "from_proto", "_fill"})
# Names the dataclass bodies' annotations and defaults use.
_ANNOTATION_NAMES = frozenset({"datetime", "timedelta", "UTC", "field", "Self", "ClassVar"})


def events_in(fd: d.FileDescriptorProto, index: TypeIndex) -> list[tuple[str, Declared, str]]:
    """(full name, declaration, event name) of every event message in ``fd``; checks the names."""
    found, problems = [], []
    for full, declared in index.messages_in(fd.name):
        assert declared.message is not None
        name = event_name(declared.message.options)
        if name is None:
            continue
        if not EVENT_NAME.match(name):
            problems.append(
                Diagnostic(
                    fd.name,
                    f'invalid event name "{name}" on {declared.qualname}',
                    # The option is what to fix; the message is the fallback when protoc
                    # recorded no span for it.
                    position(fd, (*declared.path, _OPTIONS, EVENT_FIELD))
                    or position(fd, declared.path),
                    hint="use lowercase dot-separated words of a-z, 0-9, _ and -, like order.placed",
                )
            )
        found.append((full, declared, name))
    if problems:
        raise GeneratorError(problems)
    return found


@dataclass
class EventModels:
    enums: list[EnumClass]
    dataclasses: list[DataClass]


def describe_events(
    fd: d.FileDescriptorProto,
    index: TypeIndex,
    imports: ImportSet,
    py_type: Callable[[str], str],
    taken: set[str],
) -> EventModels:
    """Models for the events of ``fd``. ``taken`` holds module-level names already in use."""
    events = events_in(fd, index)
    builder = _Builder(index, imports, py_type, taken)
    for full, _, _ in events:
        builder.reach(full)
    hashes = {full: (name, index.contracts.event(full)) for full, _, name in events}
    return EventModels(
        enums=[builder.enum_class(full) for full in builder.enums],
        dataclasses=[
            builder.data_class(full, *hashes.get(full, (None, None))) for full in builder.messages
        ],
    )


class _Builder:
    def __init__(
        self, index: TypeIndex, imports: ImportSet, py_type: Callable[[str], str], taken: set[str]
    ) -> None:
        self.index = index
        self.imports = imports
        self.py_type = py_type
        self.taken = taken
        self.messages: dict[str, str] = {}  # full name -> class name, in discovery order
        self.enums: dict[str, str] = {}

    def _class_name(self, full: str) -> str:
        name = naming.safe_name(self.index.get(full).qualname.replace(".", ""), self.taken)
        self.taken.add(name)
        return name

    def reach(self, full: str) -> None:
        """Assign class names to ``full`` and everything its fields refer to."""
        if full in self.messages:
            return
        self.messages[full] = self._class_name(full)
        message = self.index.get(full).message
        assert message is not None
        for f in message.field:
            for type_name, kind in self._element_types(f):
                if kind == F.TYPE_ENUM and type_name not in self.enums:
                    self.enums[type_name] = self._class_name(type_name)
                elif kind == F.TYPE_MESSAGE and not event_fields.is_well_known(type_name):
                    self.reach(type_name)

    def _element_types(self, f: d.FieldDescriptorProto) -> list[tuple[str, int]]:
        entry = self._map_entry(f)
        if entry is not None:
            return [(v.type_name, v.type) for v in entry.field]
        return [(f.type_name, f.type)]

    def _map_entry(self, f: d.FieldDescriptorProto) -> d.DescriptorProto | None:
        if f.type != F.TYPE_MESSAGE or f.label != F.LABEL_REPEATED:
            return None
        message = self.index.get(f.type_name).message
        return message if message is not None and message.options.map_entry else None

    def enum_class(self, full: str) -> EnumClass:
        declared = self.index.get(full)
        assert declared.enum is not None
        members = _member_names(declared.enum)
        return EnumClass(
            name=self.enums[full],
            doc=self.index.comments(declared.file).get(declared.path),
            members=tuple(EnumMember(members[v.name], v.number) for v in declared.enum.value),
        )

    def data_class(self, full: str, event: str | None, contract_hash: str | None) -> DataClass:
        declared = self.index.get(full)
        message = declared.message
        assert message is not None
        docs = self.index.comments(declared.file)
        names = naming.unique_names(
            (f.name for f in message.field),
            _MEMBERS | _ANNOTATION_NAMES | self.taken,
            avoid_builtins=True,
        )
        fields = tuple(
            self._field(f, attr, docs.get((*declared.path, _FIELD, i)), declared.file)
            for i, (f, attr) in enumerate(zip(message.field, names, strict=True))
        )
        fallback = f"The ``{event}`` event." if event else None
        return DataClass(
            name=self.messages[full],
            proto=self.py_type(full),
            doc=docs.get(declared.path) or fallback,
            fields=fields,
            event_name=event,
            contract_hash=contract_hash,
        )

    def _field(self, f: d.FieldDescriptorProto, attr: str, doc: str | None, file: str) -> DataField:
        entry = self._map_entry(f)
        if entry is not None:
            key, value = entry.field
            code = event_fields.mapping(f.name, attr, self._element(key), self._element(value))
        elif f.label == F.LABEL_REPEATED:
            code = event_fields.repeated(f.name, attr, self._element(f))
        else:
            presence = _has_presence(f, self.index.files[file])
            code = event_fields.singular(f.name, attr, self._element(f), presence=presence)
        return DataField(attr, code.annotation, code.default, code.to_proto, code.from_proto, doc)

    def _element(self, f: d.FieldDescriptorProto) -> event_fields.Element:
        if f.type == F.TYPE_ENUM:
            enum = self.index.get(f.type_name).enum
            assert enum is not None
            zero = next((v for v in enum.value if v.number == 0), enum.value[0])
            return event_fields.enum(
                self.enums[f.type_name], _member_names(enum)[zero.name], self.py_type(f.type_name)
            )
        if f.type != F.TYPE_MESSAGE:
            return event_fields.scalar(f.type)
        if not event_fields.is_well_known(f.type_name):
            return event_fields.dataclass_message(self.messages[f.type_name])
        for module, name, alias in _WELL_KNOWN_IMPORTS.get(f.type_name, ()):
            self.imports.add(module, name, alias)
        return event_fields.well_known(f.type_name, lambda: self.py_type(f.type_name))


_WELL_KNOWN_IMPORTS = {
    event_fields.TIMESTAMP: (("datetime", "datetime", ""), ("runtime_lib", "codegen", "sb")),
    event_fields.DURATION: (("datetime", "timedelta", ""),),
}


def _member_names(enum: d.EnumDescriptorProto) -> dict[str, str]:
    """Proto value name -> IntEnum member name (keywords get a trailing underscore)."""
    names = naming.unique_names(v.name for v in enum.value)
    return dict(zip((v.name for v in enum.value), names, strict=True))


def _has_presence(f: d.FieldDescriptorProto, fd: d.FileDescriptorProto) -> bool:
    """proto3 ``optional``, oneof members and proto2 ``optional`` track whether they are set."""
    if f.HasField("oneof_index") or f.proto3_optional:
        return True
    return fd.syntax != "proto3" and f.label == F.LABEL_OPTIONAL and f.type != F.TYPE_MESSAGE
