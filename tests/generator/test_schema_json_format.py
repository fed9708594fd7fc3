"""The shipped JSON Schema of the .schema.json format agrees with the loader on sample files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "reference" / "schema-testdata"


def format_schema() -> Any:
    """The JSON Schema as installed with the generator package."""
    text = (resources.files("generator") / "schema_json_format.schema.json").read_text("utf-8")
    return json.loads(text)


def docs_example() -> Any:
    text = (REPO / "docs" / "schema-json.md").read_text(encoding="utf-8")
    return json.loads(text.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])


def valid_documents() -> list[Any]:
    files = sorted(TESTDATA.glob("*.schema.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in files] + [docs_example()]


FIELD = {"type": "string", "fieldNumber": 1}
INVALID = {
    "missing fieldNumber": {"input": {"A": {"a": {"type": "string"}}}, "output": {"R": {}}},
    "reserved fieldNumber": {
        "input": {"A": {"a": {**FIELD, "fieldNumber": 19000}}},
        "output": {"R": {}},
    },
    "unknown type": {"input": {"A": {"a": {**FIELD, "type": "strng"}}}, "output": {"R": {}}},
    "object without nested": {
        "input": {"A": {"a": {**FIELD, "type": "object"}}},
        "output": {"R": {}},
    },
    "two messages": {"input": {"A": {}, "B": {}}, "output": {"R": {}}},
    "unknown top-level key": {"input": {"A": {}}, "output": {"R": {}}, "servce": "X"},
    "methods with input": {"input": {"A": {}}, "output": {"R": {}}, "methods": {}},
    "bad event name": {"events": {"Order.Placed": {"E": {}}}},
    "no input": {"output": {"R": {}}},
}


def test_schema_describes_the_format_and_marks_extensions() -> None:
    schema = format_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    properties = schema["properties"]
    assert set(properties) == {
        *("$schema", "description", "package", "service", "method"),
        *("input", "output", "methods", "events", "allowedCallers"),
    }
    for key in ("input", "output"):
        assert properties[key]["description"].startswith("ServiceBridge.")
    extensions = ("$schema", "description", "package", "service", "method", "methods", "events")
    for key in (*extensions, "allowedCallers"):
        assert properties[key]["description"].startswith("Extension.")


@pytest.mark.parametrize("document", valid_documents())
def test_sample_files_are_valid(document: Any) -> None:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema (a test extra) is not installed"
    )
    jsonschema.Draft202012Validator(format_schema()).validate(document)


@pytest.mark.parametrize("document", INVALID.values(), ids=list(INVALID))
def test_invalid_files_are_rejected(document: Any) -> None:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema (a test extra) is not installed"
    )
    assert not jsonschema.Draft202012Validator(format_schema()).is_valid(document)
