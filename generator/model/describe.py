"""Stage model: descriptors -> model, the one place that reads FileDescriptorProtos for our templates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.type_index import TypeIndex
from generator.model import naming
from generator.model.access import allowed_callers
from generator.model.describe_events import describe_events
from generator.model.imports import ImportSet
from generator.model.nodes import DataClass, EnumClass, Method, SbModule, Service

_SERVICE_FIELD = d.FileDescriptorProto.SERVICE_FIELD_NUMBER
_METHOD_FIELD = d.ServiceDescriptorProto.METHOD_FIELD_NUMBER


def describe_file(fd: d.FileDescriptorProto, index: TypeIndex) -> SbModule:
    module = naming.module_path(fd.name, "_sb")
    docs = index.comments(fd.name)
    imports = ImportSet()

    def py_type(full_name: str) -> str:
        file, qual = index.locate(full_name)
        alias = naming.pb2_alias(file, fd.name)
        source, name = import_source(file, module)
        imports.add(source, name, alias)
        return f"{alias}.{qual}"

    # Module-level constants share one namespace: make them unique together.
    tables = naming.unique_names(naming.service_table(s.name) for s in fd.service)
    spec_consts = iter(
        naming.unique_names(
            (naming.method_spec_const(s.name, m.name) for s in fd.service for m in s.method),
            tables,
        )
    )
    # A sync client name must not take another service's class name ("Payment" and "PaymentSync").
    classes = {
        n for s in fd.service for n in (naming.client_class(s.name), naming.handler_class(s.name))
    }
    sync_clients = naming.unique_names(
        (naming.sync_client_class(s.name) for s in fd.service), classes | set(tables)
    )
    services = []
    for si, (svc, table, sync_client) in enumerate(
        zip(fd.service, tables, sync_clients, strict=True)
    ):
        full = f"{fd.package}.{svc.name}" if fd.package else svc.name
        attrs = naming.method_attr_names(m.name for m in svc.method)
        methods = [
            Method(
                proto_name=m.name,
                attr=attr,
                path=f"/{full}/{m.name}",
                spec_const=next(spec_consts),
                cardinality=_cardinality(m),
                client_streams=m.client_streaming,
                server_streams=m.server_streaming,
                request=py_type(m.input_type),
                reply=py_type(m.output_type),
                contract_hash=index.contracts.rpc(m.input_type, m.output_type),
                doc=docs.get((_SERVICE_FIELD, si, _METHOD_FIELD, mi)),
                deprecated=m.options.deprecated,
                allowed_callers=allowed_callers(fd, si, mi),
            )
            for mi, (m, attr) in enumerate(zip(svc.method, attrs, strict=True))
        ]
        services.append(
            Service(
                full_name=full,
                client=naming.client_class(svc.name),
                sync_client=sync_client,
                handler=naming.handler_class(svc.name),
                table=table,
                doc=docs.get((_SERVICE_FIELD, si)),
                deprecated=svc.options.deprecated,
                methods=tuple(methods),
            )
        )
    taken = set(naming.RESERVED_MODULE_NAMES) | {"dataclass", "field", "enum", "Self"}
    taken |= {name for s in services for name in (s.client, s.sync_client, s.handler, s.table)}
    taken |= {m.spec_const for s in services for m in s.methods}
    events = describe_events(fd, index, imports, py_type, taken)
    _header_imports(imports, services)
    _event_imports(imports, events.enums, events.dataclasses)
    return SbModule(
        source=fd.name,
        path=module + ".py",
        import_groups=imports.groups(),
        services=tuple(services),
        enums=tuple(events.enums),
        dataclasses=tuple(events.dataclasses),
    )


def _event_imports(imports: ImportSet, enums: list[EnumClass], classes: list[DataClass]) -> None:
    if enums:
        imports.add("", "enum")
    if classes:
        imports.add("dataclasses", "dataclass")
        imports.add("typing", "ClassVar")
        imports.add("typing", "Self")
    if any(f.default.startswith("field(") for c in classes for f in c.fields):
        imports.add("dataclasses", "field")


def _header_imports(imports: ImportSet, services: list[Service]) -> None:
    """What the module body refers to besides message classes."""
    methods = [m for s in services for m in s.methods]
    if services:
        imports.add("", "abc")
        imports.add("runtime_lib", "codegen", "sb")
        imports.add("typing", "ClassVar")
        imports.add("typing", "Final")
    if methods:
        imports.add("typing", "Unpack")
    if any(m.client_streams for m in methods):
        imports.add("collections.abc", "AsyncIterable")
        imports.add("collections.abc", "Iterable")  # the sync client's request streams
    if any(m.client_streams or m.server_streams for m in methods):
        imports.add("collections.abc", "AsyncIterator")
    if any(m.server_streams for m in methods):
        imports.add("collections.abc", "Iterator")  # the sync client's reply streams


def import_source(proto_file: str, from_module: str) -> tuple[str, str]:
    target = naming.module_path(proto_file, "_pb2")
    if is_well_known(proto_file):
        package, _, name = target.rpartition("/")
        return package.replace("/", "."), name
    return naming.relative_import(target, from_module)


def is_well_known(proto_file: str) -> bool:
    """Files that resolve to the ``protobuf`` package instead of being generated."""
    return proto_file.startswith("google/protobuf/")


def _cardinality(m: d.MethodDescriptorProto) -> str:
    if m.client_streaming and m.server_streaming:
        return "BIDI_STREAMING"
    if m.client_streaming:
        return "CLIENT_STREAMING"
    if m.server_streaming:
        return "SERVER_STREAMING"
    return "UNARY"


def describe(
    files: Mapping[str, d.FileDescriptorProto], to_generate: Iterable[str]
) -> list[SbModule]:
    """One module per file that declares a service or an event."""
    index = TypeIndex(files.values())
    modules = (describe_file(files[n], index) for n in to_generate)
    return [m for m in modules if m.services or m.dataclasses]
