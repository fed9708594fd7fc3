"""The OpenAPI 3.1 document of a gateway, built from its bindings and the messages' descriptors
with protobuf's canonical JSON mapping (lowerCamelCase names, 64-bit integers as strings, enums
by name, well-known types as their JSON forms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from runtime_lib.http.binding import Binding
from runtime_lib.http.streaming import NDJSON, SSE

_F = FieldDescriptor
_INT32 = {_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32, _F.TYPE_UINT32, _F.TYPE_FIXED32}
_INT64 = {_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.Int64Value": {"type": ["string", "integer"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "integer"], "format": "uint64"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "uint32"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_STATUS = {
    "type": "object",
    "description": "google.rpc.Status: the gRPC code, a message and typed details",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}
_STATUS_REF = {"$ref": "#/components/schemas/google.rpc.Status"}


def openapi_document(title: str, bindings: Sequence[Binding]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"google.rpc.Status": _STATUS}
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for binding in bindings:
        operation_id = binding.rpc
        number = 1
        while operation_id in used_ids:
            number += 1
            operation_id = f"{binding.rpc}{number}"
        used_ids.add(operation_id)
        operation = _operation(binding, operation_id, schemas)
        item = paths.setdefault(binding.template.openapi_path, {})
        method = binding.method.lower()
        if method in _OPENAPI_METHODS:
            item[method] = operation
        else:  # OpenAPI 3.1 has no field for a custom method: an extension holds it
            item.setdefault("x-custom-methods", {})[binding.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _operation(binding: Binding, operation_id: str, schemas: dict[str, Any]) -> dict[str, Any]:
    # The stubs type DESCRIPTOR as the pure-Python or the upb class; both have this interface.
    request = cast(Descriptor, binding.request.DESCRIPTOR)
    reply = cast(Descriptor, binding.reply.DESCRIPTOR)
    path_fields = [v.field_path for v in binding.template.variables]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(request, name)}
        for name in path_fields
    ]
    if binding.body != "*":
        taken = {p.split(".")[0] for p in path_fields} | {binding.body}
        parameters += [
            {"name": name, "in": "query", "schema": schema}
            for name, schema in _query_fields(request, "", taken, set())
        ]
    reply_schema = (
        _field_schema(reply.fields_by_name[binding.response_body], schemas)
        if binding.response_body
        else _message_ref(reply, schemas)
    )
    media = [NDJSON, SSE] if binding.server_streaming else ["application/json"]
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "the reply"
                + (", one per line or event" if media != ["application/json"] else ""),
                "content": {m: {"schema": reply_schema} for m in media},
            },
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": _STATUS_REF}},
            },
        },
    }
    if binding.doc:
        operation["description"] = binding.doc
    if binding.body:
        schema = (
            _message_ref(request, schemas)
            if binding.body == "*"
            else _field_schema(request.fields_by_name[binding.body], schemas)
        )
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def _path_schema(descriptor: Descriptor, field_path: str) -> dict[str, Any]:
    field: FieldDescriptor | None = None
    for part in field_path.split("."):
        field = descriptor.fields_by_name[part]
        if field.message_type is not None:
            descriptor = field.message_type
    assert field is not None
    return _scalar_schema(field)


def _query_fields(
    descriptor: Descriptor, prefix: str, taken: set[str], seen: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Every leaf a query parameter can set, ``a.b`` for nested ones (recursive types once)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for field in descriptor.fields:
        if not prefix and field.name in taken:
            continue
        name = prefix + field.name
        message = field.message_type
        if message is None or message.full_name in _WELL_KNOWN:
            schema = _scalar_schema(field) if message is None else _WELL_KNOWN[message.full_name]
            found.append(
                (name, {"type": "array", "items": schema} if field.is_repeated else schema)
            )
        elif not field.is_repeated and message.full_name not in seen:
            found += _query_fields(message, name + ".", taken, seen | {message.full_name})
    return found


def _field_schema(field: FieldDescriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _field_schema(value, schemas)}
    single = _scalar_schema(field) if message is None else _message_ref(message, schemas)
    return {"type": "array", "items": single} if field.is_repeated else single


def _message_ref(descriptor: Descriptor, schemas: dict[str, Any]) -> dict[str, Any]:
    name = descriptor.full_name
    if name in _WELL_KNOWN:
        return _WELL_KNOWN[name]
    if name not in schemas:
        schemas[name] = {}  # placed first: a recursive message refers to itself
        schemas[name] = {
            "type": "object",
            "properties": {f.json_name: _field_schema(f, schemas) for f in descriptor.fields},
        }
    return {"$ref": f"#/components/schemas/{name}"}


def _scalar_schema(field: FieldDescriptor) -> dict[str, Any]:
    kind = field.type
    if kind in _INT32:
        return {"type": "integer", "format": "int32"}
    if kind in _INT64:
        return {"type": ["string", "integer"], "format": "int64"}
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return {"type": "number"}
    if kind == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == _F.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    if kind == _F.TYPE_ENUM and field.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
    return {"type": "string"}
