"""Stage model: who may call each method, from ``(servicebridge.access)`` on the method or
``(servicebridge.service_access)`` on its service (the method's wins), with the names checked."""

from __future__ import annotations

from google.protobuf import descriptor_pb2 as d

from generator.descriptors import sb_options
from generator.descriptors.type_index import position
from generator.errors import Diagnostic, GeneratorError
from runtime_lib._security.identity import check_service_name

ANY_CALLER = "*"
_FILE_SERVICE = d.FileDescriptorProto.SERVICE_FIELD_NUMBER
_SERVICE_METHOD = d.ServiceDescriptorProto.METHOD_FIELD_NUMBER
_SERVICE_OPTIONS = d.ServiceDescriptorProto.OPTIONS_FIELD_NUMBER
_METHOD_OPTIONS = d.MethodDescriptorProto.OPTIONS_FIELD_NUMBER


def allowed_callers(fd: d.FileDescriptorProto, service: int, method: int) -> tuple[str, ...] | None:
    """The callers of method ``method`` of service ``service`` in ``fd``; None if undeclared."""
    svc = fd.service[service]
    m = svc.method[method]
    method_path = (_FILE_SERVICE, service, _SERVICE_METHOD, method)
    callers = sb_options.allowed_callers(m.options)
    option_path: tuple[int, ...] = (*method_path, _METHOD_OPTIONS, sb_options.ACCESS_FIELD)
    if callers is None:
        callers = sb_options.allowed_callers(svc.options)
        option_path = (_FILE_SERVICE, service, _SERVICE_OPTIONS, sb_options.ACCESS_FIELD)
    if callers is None:
        return None
    for name in callers:
        if name == ANY_CALLER:
            continue
        try:
            check_service_name(name)
        except ValueError:
            raise GeneratorError(
                Diagnostic(
                    fd.name,
                    f'invalid caller "{name}" in allowed_callers of {svc.name}.{m.name}',
                    position(fd, option_path) or position(fd, method_path),
                    hint='use service names as in Bridge("orders") (lowercase letters, digits '
                    'and -), or "*" for any caller',
                )
            ) from None
    return tuple(dict.fromkeys(callers))  # once each, in the order written
