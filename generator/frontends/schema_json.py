"""Stage frontend, .schema.json: a ServiceBridge schema file, plus our extensions, as a FileDescriptorProto.

docs/schema-json.md is the user's reference and generator/schema_json_format.schema.json the JSON
Schema of the format. In short:

- ``input``/``output`` (one message each) are ServiceBridge's format, read exactly; ``package``,
  ``service``, ``method``, ``methods``, ``events``, ``description``, ``allowedCallers`` and the
  ``enum``/``map`` field types are ours and never change what a ServiceBridge file means.
- Python names come from the JSON keys: message ``ChargeRequest``; an object, array-of-object,
  enum or map-of-object field ``line_items`` declares the nested type ``ChargeRequest.LineItems``
  (``Type`` is appended if the name is taken in that message); a map field ``totals`` also
  declares the entry message ``TotalsEntry`` protoc requires.
- Every message carries ``(servicebridge.wire_name)``, the name ServiceBridge's reader gives it, so
  contract hashes match ServiceBridge's: ``Input``/``Output`` at the top of each method (an event
  payload is an ``Input``: its reply is the empty message), ``<Parent>_<field>`` for an object,
  ``<Parent>_<field>_elem`` for an array element, ``<Parent>_<field>_value`` for a map value.

Every problem becomes a Diagnostic with its JSON path; all found in one pass are raised together.
"""

from __future__ import annotations

import json
import keyword
import pathlib
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2

from generator.descriptors import sb_options
from generator.errors import Diagnostic, GeneratorError
from generator.frontends.schema_json_names import (
    JsonPath,
    camel,
    did_you_mean,
    format_path,
    is_event_name,
    is_identifier,
    is_package,
    package_from_stem,
    service_name_from_stem,
    upper_snake,
)
from generator.frontends.schema_json_read import JsonObject, read_json
from generator.model.access import ANY_CALLER
from runtime_lib._security.identity import check_service_name

_F = descriptor_pb2.FieldDescriptorProto

_SCALARS: dict[str, _F.Type.ValueType] = {
    "string": _F.TYPE_STRING,
    "bool": _F.TYPE_BOOL,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "bytes": _F.TYPE_BYTES,
}
_MAP_KEYS = ("string", "bool", "int32", "int64", "uint32", "uint64")
_TYPES = (*_SCALARS, "object", "array", "enum", "map")
_ELEMENT_TYPES = (*_SCALARS, "object", "enum")  # what an array element or a map value can be
# The key each composite type needs besides type/fieldNumber/description.
_TYPE_KEYS = {
    "object": ("nested",),
    "array": ("array",),
    "enum": ("values",),
    "map": ("key", "value"),
}
_FIELD_KEYS = ("type", "fieldNumber", "description", "nested", "array", "values", "key", "value")
_ELEMENT_KEYS = ("type", "nested", "values")
_TOP_KEYS = (
    "$schema",
    "description",
    "package",
    "service",
    "method",
    "input",
    "output",
    "methods",
    "events",
    "allowedCallers",
)
_METHOD_KEYS = ("description", "input", "output", "allowedCallers")
_MAX_FIELD_NUMBER = 536870911
_RESERVED_NUMBERS = range(19000, 20000)
_INT32 = range(-(2**31), 2**31)
_MAX_DEPTH = 64  # deeper nesting is a mistake, and must not exhaust the Python stack
_OPTIONS_PROTO = "servicebridge/options.proto"
_TOP_LEVEL_ERROR = 'schema file must have top-level "input" and "output" objects'

# SourceCodeInfo path components: field numbers in descriptor.proto.
_FILE_SYNTAX, _FILE_MESSAGE, _FILE_SERVICE = 12, 4, 6
_MESSAGE_FIELD, _MESSAGE_NESTED = 2, 3
_SERVICE_METHOD = 2

_Method = tuple[str, JsonObject, JsonPath]  # name, {input, output, description?}, path


def load_schema_json(path: pathlib.Path, display_name: str) -> descriptor_pb2.FileDescriptorProto:
    """Read ``path`` into a proto3 FileDescriptorProto named after ``display_name``.

    ``billing/payment.schema.json`` becomes ``billing/payment.proto``. Raises GeneratorError with
    every problem found, each naming ``display_name`` and a JSON path or line:col.
    """
    document = read_json(path, display_name)
    posix = pathlib.PurePosixPath(display_name)
    stem = posix.name.removesuffix(".json").removesuffix(".schema")
    loader = _Loader(display_name)
    loader.load(document, str(posix.with_name(stem + ".proto")), stem)
    if loader.diagnostics:
        raise GeneratorError(loader.diagnostics)
    return loader.file


@dataclass
class _Message:
    """A message being built: where it sits, and the names already taken in its scope."""

    proto: descriptor_pb2.DescriptorProto
    full_name: str  # ".pkg.ChargeRequest.Items", as in FieldDescriptorProto.type_name
    local_name: str  # "ChargeRequest.Items", for messages to the user
    wire: str  # the ServiceBridge name: "Input_items_elem"
    location: list[int]  # SourceCodeInfo path
    taken: set[str] = field(default_factory=set)

    def nested_message(self, name: str, wire: str) -> _Message:
        proto = self.proto.nested_type.add(name=name)
        location = [*self.location, _MESSAGE_NESTED, len(self.proto.nested_type) - 1]
        local = f"{self.local_name}.{name}"
        return _Message(proto, f"{self.full_name}.{name}", local, wire, location)


@dataclass
class _Loader:
    display_name: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    file: descriptor_pb2.FileDescriptorProto = field(
        default_factory=descriptor_pb2.FileDescriptorProto
    )
    top_names: dict[str, JsonPath] = field(default_factory=dict)
    wire_names: dict[str, JsonPath] = field(default_factory=dict)  # in one input, output or event

    def error(self, path: JsonPath, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(self.display_name, message, format_path(path), hint))

    # --- the file: service, methods, events ---------------------------------------------------

    def load(self, document: object, proto_name: str, stem: str) -> None:
        self.file.name = proto_name
        self.file.syntax = "proto3"
        self.file.dependency.append(_OPTIONS_PROTO)
        if not isinstance(document, JsonObject):
            self.error((), _TOP_LEVEL_ERROR)
            return
        self.check_keys(document, (), _TOP_KEYS)
        self.string(document, ("$schema",))
        package = self.string(document, ("package",))
        if package is not None and is_package(package):
            self.file.package = package
        elif package is not None:
            self.error(
                ("package",), f"invalid package {json.dumps(package)}", "use a name like shop.v1"
            )
        else:
            self.file.package = package_from_stem(stem)
        description = self.string(document, ("description",))
        self.comment([_FILE_SYNTAX], description)
        methods = self.methods(document)
        if methods:
            self.service(document, stem, methods)
            self.comment([_FILE_SERVICE, 0], description)
        elif "service" in document:
            self.error(("service",), '"service" needs "input"/"output" or "methods"')
        if "events" in document:
            self.events(document["events"])

    def methods(self, document: JsonObject) -> list[_Method]:
        if "methods" in document:
            return self.methods_form(document)
        if "input" in document or "output" in document or "events" not in document:
            if not isinstance(document.get("input"), dict) or not isinstance(
                document.get("output"), dict
            ):
                self.error((), _TOP_LEVEL_ERROR)
                return []
            name = self.string(document, ("method",))
            return [(name if name is not None else "Call", document, ())]
        return []  # a file of events only

    def methods_form(self, document: JsonObject) -> list[_Method]:
        for key in ("input", "output", "method"):
            if key in document:
                self.error(
                    (key,), f'"{key}" cannot be used with "methods"', 'move it into "methods"'
                )
        methods = document["methods"]
        if not isinstance(methods, JsonObject) or not methods:
            self.error(("methods",), '"methods" must map method names to {"input", "output"}')
            return []
        self.check_duplicates(methods, ("methods",))
        found: list[_Method] = []
        for name, spec in methods.items():
            path = ("methods", name)
            if not isinstance(spec, JsonObject) or "input" not in spec or "output" not in spec:
                self.error(path, 'method must be an object with "input" and "output"')
                continue
            self.check_keys(spec, path, _METHOD_KEYS)
            found.append((name, spec, path))
        return found

    def service(self, document: JsonObject, stem: str, methods: list[_Method]) -> None:
        name = self.string(document, ("service",))
        path: JsonPath = ("service",) if name is not None else ()
        if name is None:
            name = service_name_from_stem(stem)
        if not is_identifier(name):
            hint = 'set "service" to a name like Payments'
            self.error(path, f"invalid service name {json.dumps(name)}", hint)
        self.claim_top_name(name, path)
        service = self.file.service.add(name=name)
        callers = self.allowed_callers(document, ("allowedCallers",))
        if callers is not None:
            sb_options.set_allowed_callers(service.options, callers)
        for index, (method_name, spec, method_path) in enumerate(methods):
            if not is_identifier(method_name):
                hint = "use a name like Charge"
                self.error(
                    method_path or ("method",),
                    f"invalid method name {json.dumps(method_name)}",
                    hint,
                )
            method = service.method.add(name=method_name)
            if method_path:  # the single-method form's callers and description are the file's
                callers = self.allowed_callers(spec, (*method_path, "allowedCallers"))
                if callers is not None:
                    sb_options.set_allowed_callers(method.options, callers)
                location = [_FILE_SERVICE, 0, _SERVICE_METHOD, index]
                self.comment(location, self.string(spec, (*method_path, "description")))
            request = self.top_message(spec["input"], (*method_path, "input"), "Input")
            response = self.top_message(spec["output"], (*method_path, "output"), "Output")
            method.input_type = request.full_name if request else ""
            method.output_type = response.full_name if response else ""

    def events(self, events: object) -> None:
        if not isinstance(events, JsonObject):
            self.error(("events",), '"events" must map event names to a message')
            return
        self.check_duplicates(events, ("events",))
        for name, section in events.items():
            path = ("events", name)
            if not is_event_name(name):
                hint = "use lowercase dotted words like order.placed"
                self.error(path, f"invalid event name {json.dumps(name)}", hint)
            # ServiceBridge's event identity hashes the payload as an input with an empty reply.
            message = self.top_message(section, path, "Input")
            if message is not None:
                sb_options.set_event_name(message.proto.options, name)

    # --- messages and fields --------------------------------------------------------------------

    def top_message(self, section: object, path: JsonPath, wire: str) -> _Message | None:
        """The one message of an input, output or event section (None after an error)."""
        self.wire_names = {wire: path}
        if not isinstance(section, JsonObject):
            self.error(path, "must be an object holding one message")
            return None
        self.check_duplicates(section, path)
        if len(section) != 1:
            what = "each event" if path[0] == "events" else "each of input/output"
            self.error(path, f"{what} must declare exactly one message, got {len(section)}")
            return None
        ((name, fields),) = section.items()
        message_path = (*path, name)
        if not is_identifier(name):
            hint = "use a name like ChargeRequest"
            self.error(message_path, f"invalid message name {json.dumps(name)}", hint)
        elif keyword.iskeyword(name):  # the message becomes a Python class of that name
            self.error(message_path, f"message name {name} is a Python keyword", "rename it")
        self.claim_top_name(name, message_path)
        full_name = f".{self.file.package}.{name}" if self.file.package else f".{name}"
        location = [_FILE_MESSAGE, len(self.file.message_type)]
        message = _Message(self.file.message_type.add(name=name), full_name, name, wire, location)
        self.fill_message(message, fields, message_path, depth=0)
        return message

    def claim_top_name(self, name: str, path: JsonPath) -> None:
        if name in self.top_names:
            hint = f"already declared at {format_path(self.top_names[name])}"
            self.error(path, f"duplicate name {json.dumps(name)}", hint)
        self.top_names.setdefault(name, path)

    def claim_wire_name(self, wire: str, path: JsonPath) -> None:
        if wire in self.wire_names:
            # ServiceBridge defines both types under one name, so it cannot load the file either.
            first = format_path(self.wire_names[wire])
            self.error(
                path,
                f"ServiceBridge name {wire} is also the name of {first}",
                "rename one of the two fields",
            )
        self.wire_names.setdefault(wire, path)

    def fill_message(self, message: _Message, fields: object, path: JsonPath, depth: int) -> None:
        sb_options.set_wire_name(message.proto.options, message.wire)
        if depth > _MAX_DEPTH:
            self.error(path, f"messages nested more than {_MAX_DEPTH} levels deep")
            return
        if not isinstance(fields, JsonObject):
            self.error(path, 'message must map field names to {"type", "fieldNumber"}')
            return
        self.check_duplicates(fields, path)
        # A string under "description" documents the message; an object is a field of that name.
        specs = {k: v for k, v in fields.items() if not (k == "description" and isinstance(v, str))}
        if isinstance(fields.get("description"), str):
            self.comment(message.location, self.string(fields, (*path, "description")))
        message.taken.update(name for name in specs if is_identifier(name))
        numbers: dict[int, str] = {}
        json_names: dict[str, str] = {}
        next_free = 1 + max((n for n in map(_field_number_of, specs.values()) if n), default=0)
        for name, spec in specs.items():
            field_path = (*path, name)
            if not is_identifier(name):
                hint = "use letters, digits and _, not starting with a digit"
                self.error(field_path, f"invalid field name {json.dumps(name)}", hint)
                continue
            json_name = camel(name, upper_first=False)
            if json_name in json_names:
                hint = f'both have the JSON name "{json_name}", which proto3 requires to be unique'
                self.error(
                    field_path, f"field name clashes with {json.dumps(json_names[json_name])}", hint
                )
            json_names.setdefault(json_name, name)
            if not isinstance(spec, JsonObject):
                self.error(
                    field_path, 'field must be an object like {"type": "string", "fieldNumber": 1}'
                )
                continue
            self.check_keys(spec, field_path, _FIELD_KEYS)
            number = self.field_number(spec, field_path, next_free)
            if number in numbers:
                message_text = f"duplicate fieldNumber {number} in {message.local_name}"
                self.error(field_path, message_text, f"also used by {json.dumps(numbers[number])}")
            elif number is not None:
                numbers[number] = name
            self.field(message, name, spec, field_path, number or 0, depth)

    def field_number(self, spec: JsonObject, path: JsonPath, next_free: int) -> int | None:
        raw = spec.get("fieldNumber")
        if not _is_number(raw):  # ServiceBridge: typeof fieldNumber !== "number"
            hint = f'add "fieldNumber": {next_free}; schema evolution requires explicit numbers'
            self.error(path, "missing required fieldNumber", hint)
            return None
        number = _integer(raw)
        if number is None:
            self.error(path, f"fieldNumber must be an integer, got {raw}")
        elif not 1 <= number <= _MAX_FIELD_NUMBER:
            self.error(path, f"fieldNumber {number} is out of range 1..{_MAX_FIELD_NUMBER}")
        elif number in _RESERVED_NUMBERS:
            hint = "protobuf reserves 19000-19999 for itself"
            self.error(path, f"fieldNumber {number} is reserved", hint)
        else:
            return number
        return None

    def field(
        self,
        message: _Message,
        name: str,
        spec: JsonObject,
        path: JsonPath,
        number: int,
        depth: int,
    ) -> None:
        kind = self.type_of(spec, path, _TYPES)
        proto = message.proto.field.add(
            name=name,
            number=number,
            json_name=camel(name, upper_first=False),
            label=_F.LABEL_OPTIONAL,
        )
        location = [*message.location, _MESSAGE_FIELD, len(message.proto.field) - 1]
        self.comment(location, self.string(spec, (*path, "description")))
        if kind is None:
            return
        for other, keys in _TYPE_KEYS.items():
            for key in keys:
                if key in spec and other != kind:
                    self.error(path, f'"{key}" applies only to type={other}, not type={kind}')
        if kind == "array":
            proto.label = _F.LABEL_REPEATED
            element = spec.get("array")
            if not isinstance(element, JsonObject):
                self.error(
                    path, "type=array requires array spec", 'add "array": {"type": "string"}'
                )
                return
            wire = f"{message.wire}_{name}_elem"
            self.element(message, name, proto, element, (*path, "array"), wire, depth, "array")
        elif kind == "map":
            self.map_field(message, name, proto, spec, path, depth)
        else:
            self.element(message, name, proto, spec, path, f"{message.wire}_{name}", depth, "field")

    def element(
        self,
        message: _Message,
        name: str,
        proto: descriptor_pb2.FieldDescriptorProto,
        spec: JsonObject,
        path: JsonPath,
        wire: str,
        depth: int,
        role: str,
    ) -> None:
        """Give ``proto`` the type ``spec`` names; objects and enums are declared in ``message``.

        ``spec`` is the field itself (role "field"), an array spec ("array") or a map value ("map").
        """
        if role == "field":
            kind = spec.get("type")
        else:
            self.check_keys(spec, path, _ELEMENT_KEYS)
            if spec.get("type") in ("array", "map"):
                hint = "wrap the inner one in an object"
                self.error(
                    path, f"{role} of {spec.get('type')}s is not supported by protobuf", hint
                )
                return
            kind = self.type_of(spec, path, _ELEMENT_TYPES)
            for key, owner in (("nested", "object"), ("values", "enum")):
                if key in spec and kind is not None and kind != owner:
                    self.error(path, f'"{key}" applies only to type={owner}, not type={kind}')
        if isinstance(kind, str) and kind in _SCALARS:
            proto.type = _SCALARS[kind]
        elif kind == "object":
            nested = spec.get("nested")
            if not isinstance(nested, JsonObject):
                what = {
                    "field": "type=object",
                    "array": "array of objects",
                    "map": "map of objects",
                }
                self.error(path, f"{what[role]} requires nested fields", 'add "nested": {fields}')
                return
            self.claim_wire_name(wire, path)
            child = message.nested_message(self.nested_name(message, name), wire)
            self.fill_message(child, nested, (*path, "nested"), depth + 1)
            proto.type = _F.TYPE_MESSAGE
            proto.type_name = child.full_name
        elif kind == "enum":
            proto.type = _F.TYPE_ENUM
            proto.type_name = self.enum(message, name, spec.get("values"), path)

    def map_field(
        self,
        message: _Message,
        name: str,
        proto: descriptor_pb2.FieldDescriptorProto,
        spec: JsonObject,
        path: JsonPath,
        depth: int,
    ) -> None:
        # protoc accepts a map only as a repeated nested entry message named exactly <Field>Entry.
        entry_name = camel(name, upper_first=True) + "Entry"
        if entry_name in message.taken:
            self.error(path, f"a map field needs the nested name {entry_name}, which is taken")
        message.taken.add(entry_name)
        entry = message.proto.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        proto.label = _F.LABEL_REPEATED
        proto.type = _F.TYPE_MESSAGE
        proto.type_name = f"{message.full_name}.{entry_name}"
        key = spec.get("key")
        key_type = _SCALARS[key] if isinstance(key, str) and key in _MAP_KEYS else None
        if key_type is None:
            found = json.dumps(key) if "key" in spec else "none"
            self.error(path, f"map key must be one of {', '.join(_MAP_KEYS)}; got {found}")
        entry.field.add(
            name="key",
            number=1,
            json_name="key",
            label=_F.LABEL_OPTIONAL,
            type=key_type or _F.TYPE_STRING,
        )
        value = entry.field.add(name="value", number=2, json_name="value", label=_F.LABEL_OPTIONAL)
        value_spec = spec.get("value")
        if not isinstance(value_spec, JsonObject):
            self.error(path, "type=map requires a value spec", 'add "value": {"type": "string"}')
            return
        wire = f"{message.wire}_{name}_value"
        self.element(message, name, value, value_spec, (*path, "value"), wire, depth, "map")

    def nested_name(self, message: _Message, field_name: str) -> str:
        """The type a field declares: its name in PascalCase, with ``Type`` appended if taken."""
        base = camel(field_name, upper_first=True) or "Field"
        name, counter = base, 1
        # base, baseType, baseType2, ...; a keyword (field "none" -> None) cannot name a class.
        while name in message.taken or keyword.iskeyword(name):
            name = f"{base}Type{counter if counter > 1 else ''}"
            counter += 1
        message.taken.add(name)
        return name

    def enum(self, message: _Message, field_name: str, values: object, path: JsonPath) -> str:
        name = self.nested_name(message, field_name)
        enum = message.proto.enum_type.add(name=name)
        if not isinstance(values, JsonObject) or not values:
            self.error(path, 'type=enum requires "values"', 'add "values": {"CARD": 1}')
            return f"{message.full_name}.{name}"
        values_path = (*path, "values")
        self.check_duplicates(values, values_path)
        numbers: dict[int, str] = {}
        for value_name, raw in values.items():
            value_path = (*values_path, value_name)
            number = _integer(raw)
            if not is_identifier(value_name):
                hint = "use a name like CARD"
                self.error(value_path, f"invalid enum value name {json.dumps(value_name)}", hint)
            elif keyword.iskeyword(value_name):  # values are Python class attributes
                self.error(
                    value_path, f"enum value name {value_name} is a Python keyword", "rename it"
                )
            elif value_name in message.taken:
                # protobuf puts enum values beside their enum, in the enclosing message's scope
                self.error(
                    value_path,
                    f"enum value {value_name} clashes with another name in {message.local_name}",
                )
            elif number is None or number not in _INT32:
                self.error(
                    value_path, f"enum value must be a 32-bit integer, got {json.dumps(raw)}"
                )
            elif number in numbers:
                self.error(
                    value_path, f"duplicate enum number {number}", f"also used by {numbers[number]}"
                )
            else:
                numbers[number] = value_name
                message.taken.add(value_name)
        if 0 not in numbers:  # proto3 enums need a zero value, the default
            zero = f"{upper_snake(name)}_UNSPECIFIED"
            if zero in message.taken:
                self.error(
                    values_path,
                    f"the enum needs a zero value and {zero} is taken",
                    "give one of the values the number 0",
                )
            message.taken.add(zero)
            numbers[0] = zero
        for number in sorted(numbers, key=lambda n: n != 0):  # zero first (proto3), then as written
            enum.value.add(name=numbers[number], number=number)
        return f"{message.full_name}.{name}"

    # --- small checks -------------------------------------------------------------------------

    def type_of(self, spec: JsonObject, path: JsonPath, allowed: tuple[str, ...]) -> str | None:
        kind = spec.get("type")
        if isinstance(kind, str) and kind in allowed:
            return kind
        if kind is None:
            self.error(path, "missing type", did_you_mean("", allowed))
        else:
            self.error(path, f"unknown type {json.dumps(kind)}", did_you_mean(str(kind), allowed))
        return None

    def string(self, obj: JsonObject, path: JsonPath) -> str | None:
        """The optional string ``obj[path[-1]]``; an error if it is there but not a string."""
        value = obj.get(path[-1])
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(path, "must be a string")
            return None
        if not _is_utf8(value):
            self.error(path, "must be valid Unicode text (no lone surrogates)")
            return None
        return value

    def allowed_callers(self, obj: JsonObject, path: JsonPath) -> tuple[str, ...] | None:
        """The optional ``allowedCallers`` list: service names, or "*" for any caller."""
        value = obj.get(path[-1])
        if value is None:
            return None
        hint = 'a list of service names as in Bridge("orders"), or ["*"] for any caller'
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(path, "must be a list of strings", hint)
            return None
        for number, name in enumerate(value, 1):
            if name == ANY_CALLER:
                continue
            try:
                check_service_name(name)
            except ValueError:
                self.error(path, f"invalid caller {json.dumps(name)} (item {number})", hint)
                return None
        return tuple(value)

    def check_keys(self, obj: JsonObject, path: JsonPath, allowed: tuple[str, ...]) -> None:
        """Report keys outside ``allowed``, and keys given twice."""
        self.check_duplicates(obj, path)
        for key in obj:
            if key not in allowed:
                self.error(path, f"unknown key {json.dumps(key)}", did_you_mean(key, allowed))

    def check_duplicates(self, obj: JsonObject, path: JsonPath) -> None:
        for key in dict.fromkeys(obj.duplicates):
            self.error(path, f"duplicate key {json.dumps(key)}", "JSON keeps only the last one")
        obj.duplicates = []  # once per object, however often it is looked at

    def comment(self, location: list[int], text: str | None) -> None:
        """Attach ``text`` as a leading comment, which the generator turns into a docstring."""
        if not text:
            return
        info = self.file.source_code_info.location.add(path=location, span=[0, 0, 0])
        info.leading_comments = "".join(f" {line}\n" for line in text.splitlines())


def _field_number_of(spec: object) -> int | None:
    return _integer(spec.get("fieldNumber")) if isinstance(spec, dict) else None


def _is_number(value: object) -> bool:
    """A JSON number, as ServiceBridge's ``typeof x === "number"`` sees it."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: object) -> int | None:
    """The integer a JSON number stands for (``2.0`` is 2, as in JavaScript); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_utf8(text: str) -> bool:
    """False for lone surrogates (``"\\ud800"`` in JSON), which a protobuf string cannot hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
