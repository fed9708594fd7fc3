"""The .schema.json frontend: what a user's file becomes, and the exact errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from generator.descriptors.sb_options import event_name, wire_name
from generator.errors import Diagnostic, GeneratorError
from generator.frontends.schema_json import load_schema_json

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "reference" / "schema-testdata"
DOCS_EXAMPLE = REPO / "docs" / "schema-json.md"

F = descriptor_pb2.FieldDescriptorProto


def load(tmp_path: Path, document: object, name: str = "payment.schema.json") -> Any:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return load_schema_json(path, name)


def errors(tmp_path: Path, document: object) -> list[str]:
    with pytest.raises(GeneratorError) as caught:
        load(tmp_path, document)
    return [str(d) for d in caught.value.diagnostics]


def text_errors(tmp_path: Path, text: str | bytes) -> list[str]:
    path = tmp_path / "payment.schema.json"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    with pytest.raises(GeneratorError) as caught:
        load_schema_json(path, "payment.schema.json")
    return [str(d) for d in caught.value.diagnostics]


def message(file: descriptor_pb2.FileDescriptorProto, name: str) -> descriptor_pb2.DescriptorProto:
    """A message by its dotted name inside the file (``OrderRequest.Items``)."""
    first, *rest = name.split(".")
    found = next(m for m in file.message_type if m.name == first)
    for part in rest:
        found = next(m for m in found.nested_type if m.name == part)
    return found


def reference(file_name: str) -> Path:
    return TESTDATA / file_name


def docs_example() -> dict[str, Any]:
    """The example in docs/schema-json.md: the first json block after the "## Example" heading."""
    text = DOCS_EXAMPLE.read_text(encoding="utf-8")
    block = text.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    document: dict[str, Any] = json.loads(block)
    return document


def small(**fields: Any) -> dict[str, Any]:
    """A ServiceBridge document whose input message ``A`` has ``fields``."""
    return {"input": {"A": fields}, "output": {"R": {}}}


# --- the ServiceBridge format ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "service", "input_name", "output_name"),
    [
        ("payment.schema.json", "Payment", "ChargeRequest", "ChargeResponse"),
        ("payment-nested.schema.json", "PaymentNested", "OrderRequest", "OrderResponse"),
        ("vectors.schema.json", "Vectors", "OrderRequest", "OrderResponse"),
        ("vectors-renamed.schema.json", "VectorsRenamed", "OrderRequest", "OrderResponse"),
    ],
)
def test_reference_files_load_as_one_service_with_one_method(
    file_name: str, service: str, input_name: str, output_name: str
) -> None:
    file = load_schema_json(reference(file_name), file_name)

    assert file.name == file_name.replace(".schema.json", ".proto")
    assert file.syntax == "proto3"
    assert list(file.dependency) == ["servicebridge/options.proto"]
    assert [s.name for s in file.service] == [service]
    (method,) = file.service[0].method
    # Without "package", the file stem is the package, so reference files load side by side.
    package = file_name.removesuffix(".schema.json").replace("-", "_")
    assert file.package == package
    assert (method.name, method.input_type, method.output_type) == (
        "Call",
        f".{package}.{input_name}",
        f".{package}.{output_name}",
    )


def test_nested_messages_take_python_names_from_fields_and_wire_names_from_servicebridge(
    tmp_path: Path,
) -> None:
    file = load(tmp_path, json.loads(reference("vectors.schema.json").read_text()))
    request = message(file, "OrderRequest")

    assert [m.name for m in request.nested_type] == ["Items", "Metadata"]
    fields = {f.name: (f.number, f.label, f.type, f.type_name) for f in request.field}
    assert fields == {
        "userId": (1, F.LABEL_OPTIONAL, F.TYPE_STRING, ""),
        "items": (2, F.LABEL_REPEATED, F.TYPE_MESSAGE, f".{file.package}.OrderRequest.Items"),
        "metadata": (3, F.LABEL_OPTIONAL, F.TYPE_MESSAGE, f".{file.package}.OrderRequest.Metadata"),
        "tags": (4, F.LABEL_REPEATED, F.TYPE_STRING, ""),
    }
    wire_names = {
        name: wire_name(message(file, name).options)
        for name in ("OrderRequest", "OrderRequest.Items", "OrderRequest.Metadata", "OrderResponse")
    }
    assert wire_names == {
        "OrderRequest": "Input",
        "OrderRequest.Items": "Input_items_elem",
        "OrderRequest.Metadata": "Input_metadata",
        "OrderResponse": "Output",
    }


def test_proto_name_keeps_the_directory_of_the_display_name(tmp_path: Path) -> None:
    path = tmp_path / "payment.schema.json"
    path.write_text(json.dumps(small()), encoding="utf-8")
    assert load_schema_json(path, "billing/payment.schema.json").name == "billing/payment.proto"


def test_integral_float_field_numbers_are_accepted_as_javascript_does(tmp_path: Path) -> None:
    file = load(tmp_path, small(a={"type": "string", "fieldNumber": 2.0}))
    assert message(file, "A").field[0].number == 2


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "payment.schema.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(small()).encode())
    assert load_schema_json(path, "payment.schema.json").service[0].name == "Payment"


# --- extensions ------------------------------------------------------------------------------


def test_docs_example_uses_every_extension(tmp_path: Path) -> None:
    file = load(tmp_path, docs_example(), "shop.schema.json")

    assert file.package == "shop.v1"
    assert [(s.name, [m.name for m in s.method]) for s in file.service] == [
        ("Checkout", ["Charge", "Refund"])
    ]
    charge = file.service[0].method[0]
    assert (charge.input_type, charge.output_type) == (
        ".shop.v1.ChargeRequest",
        ".shop.v1.ChargeReply",
    )
    request = message(file, "ChargeRequest")
    assert [m.name for m in request.nested_type] == [
        "LineItems",
        "LabelsEntry",
        "TotalsEntry",
        "Totals",
    ]
    assert [(e.name, [(v.name, v.number) for v in e.value]) for e in request.enum_type] == [
        ("Currency", [("CURRENCY_UNSPECIFIED", 0), ("USD", 1), ("EUR", 2)])
    ]
    labels = message(file, "ChargeRequest.LabelsEntry")
    assert labels.options.map_entry
    assert [(f.name, f.number, f.type) for f in labels.field] == [
        ("key", 1, F.TYPE_STRING),
        ("value", 2, F.TYPE_STRING),
    ]
    assert message(file, "ChargeRequest.TotalsEntry").field[1].type_name == (
        ".shop.v1.ChargeRequest.Totals"
    )
    assert wire_name(message(file, "ChargeRequest.Totals").options) == "Input_totals_value"
    assert wire_name(message(file, "RefundRequest").options) == "Input"
    placed = message(file, "OrderPlaced")
    assert (event_name(placed.options), wire_name(placed.options)) == ("order.placed", "Input")
    assert event_name(request.options) is None


def test_single_method_form_takes_package_service_and_method(tmp_path: Path) -> None:
    document = {"package": "billing.v2", "service": "Payments", "method": "Charge", **small()}
    file = load(tmp_path, document)
    method = file.service[0].method[0]
    assert (file.service[0].name, method.name, method.input_type) == (
        "Payments",
        "Charge",
        ".billing.v2.A",
    )


def test_file_of_events_only_has_no_service(tmp_path: Path) -> None:
    file = load(tmp_path, {"events": {"user.created": {"UserCreated": {}}}})
    assert not file.service
    assert event_name(file.message_type[0].options) == "user.created"


def test_descriptions_become_leading_comments_at_their_paths(tmp_path: Path) -> None:
    file = load(tmp_path, docs_example(), "shop.schema.json")
    comments = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
    assert comments == {
        (12,): " Checkout of the shop.\n Charges cards, refunds charges.\n",
        (6, 0): " Checkout of the shop.\n Charges cards, refunds charges.\n",
        (6, 0, 2, 0): " Charge a card.\n",
        (4, 0): " What to charge.\n",
        (4, 0, 2, 0): " Amount in major units.\n",
        (4, 4): " An order was placed.\n",
    }


def test_nested_type_name_taken_by_a_field_gets_type_appended(tmp_path: Path) -> None:
    nested = {"x": {"type": "string", "fieldNumber": 1}}
    file = load(
        tmp_path,
        small(
            Meta={"type": "object", "fieldNumber": 1, "nested": nested},
            meta={"type": "object", "fieldNumber": 2, "nested": nested},
        ),
    )
    assert [m.name for m in message(file, "A").nested_type] == ["MetaType", "MetaType2"]


def test_nested_type_never_takes_a_python_keyword(tmp_path: Path) -> None:
    file = load(tmp_path, small(none={"type": "object", "fieldNumber": 1, "nested": {}}))
    assert [m.name for m in message(file, "A").nested_type] == ["NoneType"]


def test_enum_with_a_zero_value_keeps_it_first(tmp_path: Path) -> None:
    values = {"CARD": 1, "NONE": 0}
    file = load(tmp_path, small(kind={"type": "enum", "fieldNumber": 1, "values": values}))
    assert [(v.name, v.number) for v in message(file, "A").enum_type[0].value] == [
        ("NONE", 0),
        ("CARD", 1),
    ]


def test_a_field_named_description_is_a_field_when_it_is_an_object(tmp_path: Path) -> None:
    file = load(tmp_path, small(description={"type": "string", "fieldNumber": 1}))
    assert [f.name for f in message(file, "A").field] == ["description"]


# --- errors ----------------------------------------------------------------------------------

FIELD_ERRORS = [
    (
        small(userId={"type": "string", "fieldNumber": 1}, amount={"type": "double"}),
        '$.input.A.amount: missing required fieldNumber (add "fieldNumber": 2;'
        " schema evolution requires explicit numbers)",
    ),
    (
        small(a={"type": "string", "fieldNumber": "1"}),
        '$.input.A.a: missing required fieldNumber (add "fieldNumber": 1;'
        " schema evolution requires explicit numbers)",
    ),
    (
        small(a={"type": "string", "fieldNumber": 1}, b={"type": "bool", "fieldNumber": 1}),
        '$.input.A.b: duplicate fieldNumber 1 in A (also used by "a")',
    ),
    (
        small(a={"type": "string", "fieldNumber": 1.5}),
        "$.input.A.a: fieldNumber must be an integer, got 1.5",
    ),
    (
        small(a={"type": "string", "fieldNumber": 0}),
        "$.input.A.a: fieldNumber 0 is out of range 1..536870911",
    ),
    (
        small(a={"type": "string", "fieldNumber": 536870912}),
        "$.input.A.a: fieldNumber 536870912 is out of range 1..536870911",
    ),
    (
        small(a={"type": "string", "fieldNumber": 19000}),
        "$.input.A.a: fieldNumber 19000 is reserved (protobuf reserves 19000-19999 for itself)",
    ),
    (
        small(a={"type": "object", "fieldNumber": 1}),
        '$.input.A.a: type=object requires nested fields (add "nested": {fields})',
    ),
    (
        small(a={"type": "array", "fieldNumber": 1}),
        '$.input.A.a: type=array requires array spec (add "array": {"type": "string"})',
    ),
    (
        small(a={"type": "array", "fieldNumber": 1, "array": {"type": "object"}}),
        '$.input.A.a.array: array of objects requires nested fields (add "nested": {fields})',
    ),
    (
        small(a={"type": "array", "fieldNumber": 1, "array": {"type": "array"}}),
        "$.input.A.a.array: array of arrays is not supported by protobuf (wrap the inner one in an object)",
    ),
    (
        small(a={"type": "strng", "fieldNumber": 1}),
        '$.input.A.a: unknown type "strng" (did you mean "string"?)',
    ),
    (
        small(a={"fieldNumber": 1}),
        "$.input.A.a: missing type (expected one of: array, bool, bytes, double, enum, float, int32,"
        " int64, map, object, string, uint32, uint64)",
    ),
    (
        small(a={"type": "string", "fieldNumber": 1, "nested": {}}),
        '$.input.A.a: "nested" applies only to type=object, not type=string',
    ),
    (
        small(a={"type": "string", "fieldNumber": 1, "descripton": "x"}),
        '$.input.A.a: unknown key "descripton" (did you mean "description"?)',
    ),
    (
        small(**{"user-id": {"type": "string", "fieldNumber": 1}}),
        '$.input.A["user-id"]: invalid field name "user-id"'
        " (use letters, digits and _, not starting with a digit)",
    ),
    (
        small(
            fooBar={"type": "string", "fieldNumber": 1},
            foo_bar={"type": "string", "fieldNumber": 2},
        ),
        '$.input.A.foo_bar: field name clashes with "fooBar"'
        ' (both have the JSON name "fooBar", which proto3 requires to be unique)',
    ),
    (
        small(
            a_b={"type": "object", "fieldNumber": 1, "nested": {}},
            a={
                "type": "object",
                "fieldNumber": 2,
                "nested": {"b": {"type": "object", "fieldNumber": 1, "nested": {}}},
            },
        ),
        "$.input.A.a.nested.b: ServiceBridge name Input_a_b is also the name of $.input.A.a_b"
        " (rename one of the two fields)",
    ),
    (
        small(a={"type": "enum", "fieldNumber": 1}),
        '$.input.A.a: type=enum requires "values" (add "values": {"CARD": 1})',
    ),
    (
        small(a={"type": "enum", "fieldNumber": 1, "values": {"USD": 1, "EUR": 1}}),
        "$.input.A.a.values.EUR: duplicate enum number 1 (also used by USD)",
    ),
    (
        small(a={"type": "enum", "fieldNumber": 1, "values": {"None": 0}}),
        "$.input.A.a.values.None: enum value name None is a Python keyword (rename it)",
    ),
    (
        small(a={"type": "map", "fieldNumber": 1, "key": "double", "value": {"type": "string"}}),
        '$.input.A.a: map key must be one of string, bool, int32, int64, uint32, uint64; got "double"',
    ),
    (
        small(a={"type": "map", "fieldNumber": 1, "key": "string"}),
        '$.input.A.a: type=map requires a value spec (add "value": {"type": "string"})',
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), FIELD_ERRORS, ids=[e[1].split(": ", 1)[1][:40] for e in FIELD_ERRORS]
)
def test_field_error(tmp_path: Path, document: dict[str, Any], expected: str) -> None:
    assert errors(tmp_path, document) == [f"payment.schema.json: {expected}"]


FILE_ERRORS = [
    ({"input": {"A": {}}}, ['$: schema file must have top-level "input" and "output" objects']),
    ([1, 2], ['$: schema file must have top-level "input" and "output" objects']),
    (
        {"input": {"A": {}, "B": {}}, "output": {"R": {}}},
        ["$.input: each of input/output must declare exactly one message, got 2"],
    ),
    ({**small(), "servce": "X"}, ['$: unknown key "servce" (did you mean "service"?)']),
    (
        {"input": {"A": {}}, "output": {"A": {}}},
        ['$.output.A: duplicate name "A" (already declared at $.input.A)'],
    ),
    (
        {**small(), "methods": {"X": {"input": {"B": {}}, "output": {"C": {}}}}},
        [
            '$.input: "input" cannot be used with "methods" (move it into "methods")',
            '$.output: "output" cannot be used with "methods" (move it into "methods")',
        ],
    ),
    (
        {"events": {"Order.Placed": {"E": {}}}},
        [
            '$.events["Order.Placed"]: invalid event name "Order.Placed" (use lowercase dotted words like order.placed)'
        ],
    ),
    (
        {"events": {"a": {"E": {}, "F": {}}}},
        ["$.events.a: each event must declare exactly one message, got 2"],
    ),
    (
        {"service": "S", "events": {"a": {"E": {}}}},
        ['$.service: "service" needs "input"/"output" or "methods"'],
    ),
    (
        {"input": {"class": {}}, "output": {"R": {}}},
        ["$.input.class: message name class is a Python keyword (rename it)"],
    ),
    (
        {**small(), "package": "shop-v1"},
        ['$.package: invalid package "shop-v1" (use a name like shop.v1)'],
    ),
    ({**small(), "description": 3}, ["$.description: must be a string"]),
]


@pytest.mark.parametrize(("document", "expected"), FILE_ERRORS)
def test_file_error(tmp_path: Path, document: object, expected: list[str]) -> None:
    assert errors(tmp_path, document) == [f"payment.schema.json: {e}" for e in expected]


def test_several_errors_are_reported_together(tmp_path: Path) -> None:
    document = small(a={"type": "strng", "fieldNumber": 1}, b={"type": "string"})
    assert errors(tmp_path, document) == [
        'payment.schema.json: $.input.A.a: unknown type "strng" (did you mean "string"?)',
        'payment.schema.json: $.input.A.b: missing required fieldNumber (add "fieldNumber": 2;'
        " schema evolution requires explicit numbers)",
    ]


def test_duplicate_json_key_is_reported(tmp_path: Path) -> None:
    text = '{"input": {"A": {"a": {"type": "string", "fieldNumber": 1}, "a": {"type": "string", "fieldNumber": 2}}}, "output": {"R": {}}}'
    assert text_errors(tmp_path, text) == [
        'payment.schema.json: $.input.A: duplicate key "a" (JSON keeps only the last one)'
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"input": {},\n  "output": {},\n}',
            "payment.schema.json:3:1: parse schema file: Expecting property name enclosed in double quotes",
        ),
        ('{"input": NaN}', "payment.schema.json: parse schema file: NaN is not valid JSON"),
        ("[" * 100_000, "payment.schema.json: parse schema file: nested too deeply"),
        ("9" * 5000, "payment.schema.json: parse schema file: a number is too long"),
        (b'{"description": "\xe9"}', "payment.schema.json: read schema file: not UTF-8 (byte 17)"),
        (
            '{"description": "\\ud800"}',
            "payment.schema.json: $.description: must be valid Unicode text (no lone surrogates)",
        ),
    ],
)
def test_unparsable_file(tmp_path: Path, text: str | bytes, expected: str) -> None:
    assert text_errors(tmp_path, text)[0] == expected


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError) as caught:
        load_schema_json(tmp_path / "missing.schema.json", "missing.schema.json")
    assert str(caught.value) == "missing.schema.json: read schema file: No such file or directory"


def test_diagnostic_formats() -> None:
    assert str(
        Diagnostic(
            "payment.schema.json", "missing fieldNumber", "$.input.ChargeRequest.amount", "hint"
        )
    ) == ("payment.schema.json: $.input.ChargeRequest.amount: missing fieldNumber (hint)")
    assert str(Diagnostic("file.proto", "message", "3:7")) == "file.proto:3:7: message"
