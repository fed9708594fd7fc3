"""Stage model: descriptors -> the :class:`HandlerStub` of a user's handler module (``sb-gen scaffold``).

The stub imports the generated package absolutely (``from gen.payment_sb import PaymentHandler``):
unlike ``x_sb.py`` it lives in the user's tree, outside the generated package.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.type_index import TypeIndex
from generator.model import naming
from generator.model.describe import is_well_known
from generator.model.imports import ImportSet
from generator.model.nodes import HandlerStub, Service, StubMethod

_Import = tuple[str, str, str]
_SB = ("", "runtime_lib", "sb")


def describe_handler(
    fd: d.FileDescriptorProto, service: Service, index: TypeIndex, package: str
) -> HandlerStub:
    """The handler module for ``service`` (declared in ``fd``); ``package`` is the dotted import
    path of the sb-gen output package, e.g. ``gen`` or ``myapp.gen``."""
    svc = next(s for s in fd.service if _full_name(fd, s) == service.full_name)
    methods = []
    for proto, method in zip(svc.method, service.methods, strict=True):
        request_import = _pb2_import(index.locate(proto.input_type)[0], fd.name, package)
        reply_import = _pb2_import(index.locate(proto.output_type)[0], fd.name, package)
        needs: list[_Import] = [_SB, request_import, reply_import]
        request = f"request: {method.request}"
        if method.client_streams:
            request = f"requests: AsyncIterator[{method.request}]"
            needs.append(("collections.abc", "AsyncIterator", ""))
        returns = method.reply
        if method.server_streams:
            returns = f"AsyncIterator[{method.reply}]"
            needs.append(("collections.abc", "AsyncIterator", ""))
        methods.append(
            StubMethod(
                attr=method.attr,
                is_async=not method.server_streams,
                params=(request, "ctx: sb.CallContext"),
                returns=returns,
                doc=method.doc,
                imports=tuple(sorted(set(needs))),
            )
        )
    # The output package is first party to ruff's isort when it sits in the user's project:
    # its imports form their own section, after the third-party one.
    others, ours = ImportSet(), ImportSet()
    module = naming.module_path(fd.name, "_sb").replace("/", ".")
    ours.add(f"{package}.{module}", service.handler)
    for m in methods:
        for source, name, alias in m.imports:
            (ours if source.split(".")[0] == package.split(".")[0] else others).add(
                source, name, alias
            )
    return HandlerStub(
        service=service.full_name,
        class_name=service.full_name.rpartition(".")[2],
        base=service.handler,
        package=package,
        doc=service.doc,
        import_groups=others.groups() + ours.groups(),
        methods=tuple(methods),
    )


def _full_name(fd: d.FileDescriptorProto, svc: d.ServiceDescriptorProto) -> str:
    return f"{fd.package}.{svc.name}" if fd.package else svc.name


def _pb2_import(proto_file: str, from_proto: str, package: str) -> _Import:
    """(from, name, alias) binding the alias ``x_sb.py`` uses for ``proto_file``'s messages."""
    target = naming.module_path(proto_file, "_pb2")
    parent, _, name = target.rpartition("/")
    if is_well_known(proto_file):
        source = parent.replace("/", ".")
    else:
        source = ".".join(p for p in (package, parent.replace("/", ".")) if p)
    alias = naming.pb2_alias(proto_file, from_proto)
    return source, name, "" if alias == name else alias
