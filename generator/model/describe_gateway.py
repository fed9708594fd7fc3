"""Stage model: ``google.api.http`` bindings -> the gateway module of a file, checked against
the messages they name (path variables, ``body``, ``response_body``), so a mistake is reported
at generation time with its place, not as a 404 or a crash at run time."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.http_rules import HttpRule, http_rules
from generator.descriptors.type_index import TypeIndex, position
from generator.errors import Diagnostic, GeneratorError
from generator.model import naming
from generator.model.describe import import_source
from generator.model.imports import ImportSet
from generator.model.nodes import Gateway, GatewayModule, Route

_SERVICE_FIELD = d.FileDescriptorProto.SERVICE_FIELD_NUMBER
_METHOD_FIELD = d.ServiceDescriptorProto.METHOD_FIELD_NUMBER
_F = d.FieldDescriptorProto
_VARIABLE = re.compile(r"\{([^}=]*)(?:=([^}]*))?\}")
_TEMPLATE = re.compile(r"(/([^{}/:]+|\{[A-Za-z_][\w.]*(=[^{}]+)?\}))+")
_VERB = re.compile(r":[^/{}:]+$")
_NO_BODY = ("GET", "DELETE")


def describe_gateway(fd: d.FileDescriptorProto, index: TypeIndex) -> GatewayModule | None:
    """The gateway module of ``fd``, or None when none of its rpcs has a ``google.api.http``."""
    module = naming.module_path(fd.name, "_gateway")
    imports = ImportSet()
    problems: list[Diagnostic] = []

    def py_type(full_name: str) -> str:
        file, qual = index.locate(full_name)
        alias = naming.pb2_alias(file, fd.name)
        source, name = import_source(file, module)
        imports.add(source, name, alias)
        return f"{alias}.{qual}"

    gateways = []
    tables = naming.unique_names(naming.gateway_bindings(s.name) for s in fd.service)
    for si, (svc, table) in enumerate(zip(fd.service, tables, strict=True)):
        attrs = naming.method_attr_names(m.name for m in svc.method)
        routes: list[Route] = []
        seen: dict[tuple[str, str], str] = {}
        for mi, (method, attr) in enumerate(zip(svc.method, attrs, strict=True)):
            rules = http_rules(method.options)
            where = position(fd, (_SERVICE_FIELD, si, _METHOD_FIELD, mi))

            def report(message: str, hint: str, rpc: str = method.name, at: str = where) -> None:
                problems.append(Diagnostic(fd.name, f"rpc {rpc}: {message}", at, hint))

            if rules and method.client_streaming:
                report(
                    "google.api.http on a client-streaming rpc is not supported by the gateway",
                    "remove the option, or make the rpc unary or server-streaming",
                )
                continue
            for rule in rules:
                if not _check(rule, method, index, report):
                    continue
                # Two bindings clash when they match the same URLs, whatever their fields.
                key = (rule.method, _VARIABLE.sub(_pattern_only, rule.path))
                if key in seen:
                    report(
                        f"{rule.method} {rule.path} is already bound to {seen[key]}",
                        "give each binding its own method and path",
                    )
                    continue
                seen[key] = method.name
                routes.append(
                    Route(
                        method=rule.method,
                        path=json.dumps(rule.path),
                        rpc=method.name,
                        attr=attr,
                        request=py_type(method.input_type),
                        reply=py_type(method.output_type),
                        body=rule.body,
                        response_body=rule.response_body,
                        server_streaming=method.server_streaming,
                    )
                )
        if routes:
            full = f"{fd.package}.{svc.name}" if fd.package else svc.name
            client = naming.client_class(svc.name)
            package, sb_module = naming.relative_import(naming.module_path(fd.name, "_sb"), module)
            dotted = package + sb_module if package.endswith(".") else f"{package}.{sb_module}"
            imports.add(dotted, client)
            gateways.append(
                Gateway(full, client, table, naming.gateway_factory(svc.name), tuple(routes))
            )
    if problems:
        raise GeneratorError(problems)
    if not gateways:
        return None
    imports.add("collections.abc", "Sequence")
    imports.add("typing", "Final")
    imports.add("runtime_lib.http", "Binding")
    imports.add("runtime_lib.http", "GatewayApp")
    return GatewayModule(fd.name, module + ".py", imports.groups(), tuple(gateways))


def _pattern_only(variable: re.Match[str]) -> str:
    return "{=" + (variable.group(2) or "*") + "}"


def _check(
    rule: HttpRule,
    method: d.MethodDescriptorProto,
    index: TypeIndex,
    report: Callable[[str, str], None],
) -> bool:
    """Report what is wrong with ``rule``; True when it is usable."""
    errors = _errors(rule, method, index)
    for message, hint in errors:
        report(message, hint)
    return not errors


def _errors(
    rule: HttpRule, method: d.MethodDescriptorProto, index: TypeIndex
) -> list[tuple[str, str]]:
    if not rule.method or not rule.path:
        return [
            (
                "google.api.http sets no method and path",
                "set one of get, put, post, delete, patch or custom",
            )
        ]
    errors: list[tuple[str, str]] = []
    if rule.nested_bindings:
        errors.append(
            (
                "an additional binding has additional_bindings of its own",
                "list every binding at the top level",
            )
        )
    if not _TEMPLATE.fullmatch(_VERB.sub("", rule.path)):
        errors.append(
            (
                f"path template {rule.path!r} is malformed",
                "see the grammar in google/api/http.proto",
            )
        )
    request = index.get(method.input_type).message
    reply = index.get(method.output_type).message
    assert request is not None and reply is not None
    for variable, _ in _VARIABLE.findall(rule.path):
        problem = _path_field(request, variable, index)
        if problem:
            errors.append(
                (
                    f"path variable {{{variable}}}: {problem}",
                    "name a non-repeated scalar field of the request, a.b for a nested one",
                )
            )
    if rule.body and rule.method in _NO_BODY:
        errors.append(
            (
                f"a {rule.method} binding cannot take a body",
                "remove body, or use POST, PUT or PATCH",
            )
        )
    if rule.body not in ("", "*") and not _top_field(request, rule.body):
        errors.append(
            (
                f"body {rule.body!r} is not a field of {method.input_type.lstrip('.')}",
                'name a top-level field, or use "*"',
            )
        )
    if rule.response_body and not _top_field(reply, rule.response_body):
        errors.append(
            (
                f"response_body {rule.response_body!r} is not a field of {method.output_type.lstrip('.')}",
                "name a top-level field of the reply",
            )
        )
    return errors


def _top_field(message: d.DescriptorProto, name: str) -> bool:
    return any(f.name == name for f in message.field)


def _path_field(message: d.DescriptorProto, field_path: str, index: TypeIndex) -> str:
    """Why ``field_path`` cannot hold a path variable, or "" when it can."""
    parts = field_path.split(".")
    for depth, part in enumerate(parts):
        field = next((f for f in message.field if f.name == part), None)
        if field is None:
            return f"{message.name} has no field {part!r}"
        if field.label == _F.LABEL_REPEATED:
            return f"{part!r} is repeated"
        if depth == len(parts) - 1:
            if field.type == _F.TYPE_MESSAGE:
                return f"{part!r} is a message; bind one of its fields ({field_path}.x)"
            return ""
        if field.type != _F.TYPE_MESSAGE:
            return f"{part!r} is not a message, so it has no field {parts[depth + 1]!r}"
        found = index.get(field.type_name).message
        assert found is not None
        message = found
    return ""
