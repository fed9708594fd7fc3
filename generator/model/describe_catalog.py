"""Stage model: descriptors -> the :class:`Catalog` of ``sb-gen docs``: services, their methods'
request and reply fields with comments, events, and contract hashes.

Who publishes or subscribes to an event is not part of the protocol today
(``servicebridge/options.proto`` declares only the event name), so an event records the services
declared next to it, which is what the protocol does say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.type_index import TypeIndex
from generator.model.access import allowed_callers
from generator.model.catalog_nodes import (
    Catalog,
    EventDoc,
    FieldDoc,
    MessageDoc,
    MethodDoc,
    ServiceDoc,
)
from generator.model.describe_events import events_in

F = d.FieldDescriptorProto
_SERVICE = d.FileDescriptorProto.SERVICE_FIELD_NUMBER
_METHOD = d.ServiceDescriptorProto.METHOD_FIELD_NUMBER
_FIELD = d.DescriptorProto.FIELD_FIELD_NUMBER
_ENUM_VALUE = d.EnumDescriptorProto.VALUE_FIELD_NUMBER


def describe_catalog(files: Mapping[str, d.FileDescriptorProto], inputs: Sequence[str]) -> Catalog:
    index = TypeIndex(files.values())
    builder = _Builder(index)
    services: list[ServiceDoc] = []
    events: list[EventDoc] = []
    for name in inputs:
        fd = files[name]
        here = [builder.service(fd, i) for i in range(len(fd.service))]
        services += here
        for full, _, event in events_in(fd, index):
            events.append(
                EventDoc(
                    name=event,
                    anchor=f"event-{event}",
                    message=builder.message(full),
                    file=fd.name,
                    contract_hash=index.contracts.event(full),
                    declared_with=tuple(s.anchor for s in here),
                )
            )
    packages = tuple(dict.fromkeys(files[n].package for n in inputs if files[n].package))
    return Catalog(tuple(inputs), packages, tuple(services), tuple(events), builder.messages)


def anchor(full_name: str) -> str:
    """An HTML id for a proto full name (``.pkg.Msg`` -> ``pkg.Msg``)."""
    return full_name.lstrip(".")


class _Builder:
    def __init__(self, index: TypeIndex) -> None:
        self.index = index
        self.messages: dict[str, MessageDoc] = {}

    def service(self, fd: d.FileDescriptorProto, i: int) -> ServiceDoc:
        svc = fd.service[i]
        full = f"{fd.package}.{svc.name}" if fd.package else svc.name
        docs = self.index.comments(fd.name)
        methods = tuple(
            MethodDoc(
                name=m.name,
                anchor=f"{full}/{m.name}",
                path=f"/{full}/{m.name}",
                client_streams=m.client_streaming,
                server_streams=m.server_streaming,
                request=self.message(m.input_type),
                reply=self.message(m.output_type),
                doc=docs.get((_SERVICE, i, _METHOD, j)),
                deprecated=m.options.deprecated,
                contract_hash=self.index.contracts.rpc(m.input_type, m.output_type),
                allowed_callers=allowed_callers(fd, i, j),
            )
            for j, m in enumerate(svc.method)
        )
        return ServiceDoc(
            full_name=full,
            anchor=full,
            file=fd.name,
            doc=docs.get((_SERVICE, i)),
            deprecated=svc.options.deprecated,
            methods=methods,
        )

    def message(self, full_name: str) -> str:
        """The anchor of a message or enum, described (with what its fields reach) once."""
        key = anchor(full_name)
        if key in self.messages:
            return key
        declared = self.index.get(full_name)
        docs = self.index.comments(declared.file)
        doc = docs.get(declared.path)
        if declared.enum is not None:
            values = tuple((v.name, v.number) for v in declared.enum.value)
            self.messages[key] = MessageDoc(key, key, declared.file, doc, (), values)
            return key
        message = declared.message
        assert message is not None
        # Registered before its fields, so a recursive message ends the walk.
        self.messages[key] = MessageDoc(key, key, declared.file, doc, ())
        fields = tuple(
            self._field(f, docs.get((*declared.path, _FIELD, i)))
            for i, f in enumerate(message.field)
        )
        self.messages[key] = MessageDoc(key, key, declared.file, doc, fields)
        return key

    def _field(self, f: d.FieldDescriptorProto, doc: str | None) -> FieldDoc:
        link = None
        text = _scalar(f)
        if f.type in (F.TYPE_MESSAGE, F.TYPE_ENUM):
            entry = self.index.get(f.type_name).message
            if entry is not None and entry.options.map_entry:
                key, value = entry.field
                text = f"map<{self._type_text(key)}, {self._type_text(value)}>"
                link = self._link(value)
            else:
                text = anchor(f.type_name)
                link = self._link(f)
        if f.label == F.LABEL_REPEATED and not text.startswith("map<"):
            text = f"repeated {text}"
        elif f.proto3_optional:
            text = f"optional {text}"
        return FieldDoc(f.name, f.number, text, link, doc, f.options.deprecated)

    def _type_text(self, f: d.FieldDescriptorProto) -> str:
        return anchor(f.type_name) if f.type_name else _scalar(f)

    def _link(self, f: d.FieldDescriptorProto) -> str | None:
        """Messages and enums of the user's protocol get a section; well-known types do not."""
        if not f.type_name or self.index.get(f.type_name).file.startswith("google/protobuf/"):
            return None
        return self.message(f.type_name)


def _scalar(f: d.FieldDescriptorProto) -> str:
    return F.Type.Name(f.type).removeprefix("TYPE_").lower()
