"""Stage descriptors: the ``google.api.http`` option of an rpc (``google/api/annotations.proto``,
extension 72295728 of MethodOptions), flattened with its ``additional_bindings``.

Read from the option's wire bytes, like our own options (``sb_options``): whether the extension
is registered in this process depends on what was imported.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api import http_pb2  # type: ignore[import-untyped]  # googleapis-common-protos ships no stubs
from google.protobuf import descriptor_pb2

from generator.descriptors.sb_options import last_bytes

HTTP_FIELD = 72295728
_KINDS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class HttpRule:
    """One binding: ``method`` upper-case (a custom kind as written), ``path`` the template."""

    method: str
    path: str
    body: str
    response_body: str
    nested_bindings: int  # additional_bindings inside this one (the documentation forbids them)


def http_rules(options: descriptor_pb2.MethodOptions) -> list[HttpRule]:
    """The rpc's bindings, the main one first; empty when it has no ``google.api.http``."""
    data = last_bytes(options.SerializeToString(), HTTP_FIELD)
    if data is None:
        return []
    rule = http_pb2.HttpRule.FromString(data)
    extra = [_binding(r, len(r.additional_bindings)) for r in rule.additional_bindings]
    return [_binding(rule, 0), *extra]


def _binding(rule: http_pb2.HttpRule, nested: int) -> HttpRule:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        method, path = rule.custom.kind, rule.custom.path
    elif kind in _KINDS:
        method, path = kind.upper(), getattr(rule, kind)
    else:
        method, path = "", ""
    return HttpRule(method, path, rule.body, rule.response_body, nested)
