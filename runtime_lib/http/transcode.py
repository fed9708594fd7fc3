"""HTTP request -> protobuf request message, by the rules of ``google/api/http.proto``.

Path variables fill the fields they name (``{message.id}`` a nested one); the body fills the
whole message (``body: "*"``) or one field (``body: "book"``); with no ``*`` body, query
parameters fill the rest (``?a.b=1``, a repeated field by repeating it, an enum by name or
number). Path variables win over the body and the query. JSON is protobuf's canonical mapping
(``google.protobuf.json_format``), which accepts both the JSON and the proto field names.

Anything the message cannot hold is a :class:`~runtime_lib.BadRequestError` naming the field, raised before
any handler code runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

import runtime_lib as sb

_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field")
_UNKNOWN_FIELD = re.compile(r'no field named "(\w+)"')
_WELL_KNOWN = "google.protobuf."


def build_request(
    request: Message,
    *,
    path: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    body_field: str,
    body: bytes,
) -> None:
    """Fill ``request`` (empty) from one HTTP request's parts."""
    if body_field:
        document = _json(body)
        if body_field != "*":
            field = request.DESCRIPTOR.fields_by_name[body_field]
            message = field.message_type
            if (
                message is not None
                and not message.full_name.startswith(_WELL_KNOWN)
                and not field.is_repeated
                and not isinstance(document, dict)
            ):
                raise sb.BadRequestError(
                    f"the body must be a JSON object ({message.full_name}), "
                    f"not {type(document).__name__}",
                    field="body",
                )
            document = {body_field: document}
        _parse(document, request)
    if query and body_field == "*":
        name = query[0][0]
        raise sb.BadRequestError(
            f"query parameter {name!r}: this route takes every field in the body",
            field=name,
        )
    params: dict[str, Any] = {}
    taken = set(path) | ({body_field} if body_field else set())
    for name, value in query:
        if name in taken or name.split(".")[0] in taken:
            raise sb.BadRequestError(
                f"query parameter {name!r}: that field comes from the path or the body",
                field=name,
            )
        _put(params, request.DESCRIPTOR, name, value, source="query parameter")
    for name, value in path.items():
        if not value:
            raise sb.BadRequestError(f"path parameter {name!r} is missing", field=name)
        _put(params, request.DESCRIPTOR, name, value, source="path parameter")
    _parse(params, request)


def _json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise sb.BadRequestError(f"the body is not JSON: {exc}", field="body") from None


def _parse(document: Any, request: Message) -> None:
    if not isinstance(document, dict):
        raise sb.BadRequestError(
            f"the body must be a JSON object, not {type(document).__name__}", field="body"
        )
    try:
        json_format.ParseDict(document, request)
    except json_format.ParseError as exc:
        # json_format names the field as a chain ("Failed to parse book field: Failed to parse
        # title field: ..."); its own wording (Python exception text) is not passed on.
        text = str(exc)
        path = _FAILED_FIELD.findall(text)
        unknown = _UNKNOWN_FIELD.search(text)
        if unknown is not None:
            field = ".".join([*path, unknown.group(1)])
            raise sb.BadRequestError(f"{field}: no such field", field=field) from None
        field = ".".join(path) or "body"
        raise sb.BadRequestError(
            f"{field}: a value of the wrong JSON type, or out of range, for this field",
            field=field,
        ) from None


def _put(params: dict[str, Any], descriptor: Any, name: str, value: str, *, source: str) -> None:
    """Set ``params[a][b] = value`` for ``name`` ``a.b``, after checking the message has that
    field and that a text value can fill it."""
    target = params
    parts = name.split(".")
    for depth, part in enumerate(parts):
        field = _field(descriptor, part)
        if field is None:
            raise sb.BadRequestError(
                f"{source} {name!r}: {descriptor.full_name} has no field {part!r}", field=name
            )
        last = depth == len(parts) - 1
        message_type = field.message_type
        if not last:
            if message_type is None or field.is_repeated:
                raise sb.BadRequestError(
                    f"{source} {name!r}: {part!r} is not a message field", field=name
                )
            target = target.setdefault(field.json_name, {})
            descriptor = message_type
            continue
        if message_type is not None and not message_type.full_name.startswith(_WELL_KNOWN):
            raise sb.BadRequestError(
                f"{source} {name!r}: a message field is set through its fields ({name}.x=...)",
                field=name,
            )
        converted = _scalar(field, value, name, source)
        if field.is_repeated:
            target.setdefault(field.json_name, []).append(converted)
        elif field.json_name in target:
            raise sb.BadRequestError(f"{source} {name!r} is given more than once", field=name)
        else:
            target[field.json_name] = converted


def _field(descriptor: Any, name: str) -> FieldDescriptor | None:
    found: FieldDescriptor | None = descriptor.fields_by_name.get(name)
    if found is None:
        found = next((f for f in descriptor.fields if f.json_name == name), None)
    return found


def _scalar(field: FieldDescriptor, value: str, name: str, source: str) -> Any:
    """JSON's boolean for a bool field; text for the rest (the JSON mapping parses numbers,
    enum names and well-known types from text)."""
    if field.type != FieldDescriptor.TYPE_BOOL:
        return value
    if value in ("true", "false"):
        return value == "true"
    raise sb.BadRequestError(f"{source} {name!r}: {value!r} is not true or false", field=name)
