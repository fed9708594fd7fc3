"""No input makes the .schema.json frontend fail other than with a GeneratorError.

Random JSON, mutated reference documents and damaged text are fed to the loader. Whatever it
accepts must also be accepted by protoc and have computable contract hashes, so a bad file never
gets past the frontend to fail later with a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.descriptors.contract import event_contract_hash, rpc_contract_hash
from generator.descriptors.sb_options import event_name
from generator.errors import GeneratorError
from generator.frontends.schema_json import load_schema_json

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "reference" / "schema-testdata"
WELL_KNOWN = str(resources.files("grpc_tools") / "_proto")

KEYS = [
    *("input", "output", "type", "fieldNumber", "nested", "array", "values", "key", "value"),
    *("methods", "events", "description", "package", "service", "method", "$schema"),
    *("A", "B", "a", "a_b", "b", "Items", "items", "USD", "order.placed", "Bad-Name", "0x", ""),
]
TYPES = ["string", "bool", "int64", "double", "object", "array", "enum", "map", "strng", "Input"]
NUMBERS = [0, 1, 2, -1, 1.5, 2.0, 19000, 19999, 20000, 536870911, 536870912, 2**31, 2**64, True]

scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from(NUMBERS)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(TYPES + KEYS)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=30,
)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def seed_documents() -> list[Any]:
    docs = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted(TESTDATA.glob("*.schema.json"))
    ]
    text = (REPO / "docs" / "schema-json.md").read_text(encoding="utf-8")
    docs.append(
        json.loads(text.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])
    )
    return docs


SEEDS = seed_documents()


@pytest.fixture(scope="module")
def options_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("options") / "options.pb"
    args = [f"-I{REPO / 'protos'}", f"-I{WELL_KNOWN}", f"--descriptor_set_out={out}"]
    assert protoc.main(["protoc", *args, "--include_imports", "servicebridge/options.proto"]) == 0
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check(work: Path, options_set: Path, content: bytes) -> None:
    """Load ``content``: a clean GeneratorError, or a file that protoc and the hash both accept."""
    path = work / "fuzz.schema.json"
    path.write_bytes(content)
    try:
        file = load_schema_json(path, "fuzz.schema.json")
    except GeneratorError as error:
        assert error.diagnostics
        assert all(d.file == "fuzz.schema.json" and d.message for d in error.diagnostics)
        return
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(options_set.read_bytes())
    descriptor_set.file.append(file)
    set_path = work / "fuzz.pb"
    set_path.write_bytes(descriptor_set.SerializeToString())
    args = [f"--descriptor_set_in={set_path}", f"--descriptor_set_out={work / 'out.pb'}"]
    assert protoc.main(["protoc", *args, file.name]) == 0, file
    for service in file.service:
        for method in service.method:
            assert rpc_contract_hash([file], method.input_type, method.output_type).startswith(
                "v2:"
            )
    for message in file.message_type:
        if event_name(message.options) is not None:
            package = f".{file.package}" if file.package else ""
            assert event_contract_hash([file], f"{package}.{message.name}").startswith("v2:")


def locations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key or index path inside a JSON value."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*path, key)
        yield from locations(child, (*path, key))


def mutate(document: Any, data: st.DataObject) -> Any:
    """One random change at a random place: replace, delete, rename, renumber or retype."""
    places = list(locations(document))
    if not places:
        return data.draw(json_values)
    *parent_path, key = data.draw(st.sampled_from(places))
    parent = document
    for step in parent_path:
        parent = parent[step]
    kind = data.draw(st.sampled_from(["replace", "delete", "rename", "number", "type"]))
    if kind == "delete":
        del parent[key]
    elif kind == "rename" and isinstance(parent, dict):
        parent[data.draw(st.sampled_from(KEYS) | st.text(max_size=6))] = parent.pop(key)
    elif kind == "number":
        parent[key] = data.draw(st.sampled_from(NUMBERS))
    elif kind == "type":
        parent[key] = data.draw(st.sampled_from(TYPES))
    else:
        parent[key] = data.draw(json_values)
    return document


@SETTINGS
@given(document=json_values)
def test_random_json(work: Path, options_set: Path, document: Any) -> None:
    check(work, options_set, json.dumps(document).encode())


@SETTINGS
@given(data=st.data())
def test_mutated_reference_documents(work: Path, options_set: Path, data: st.DataObject) -> None:
    document = json.loads(json.dumps(data.draw(st.sampled_from(SEEDS))))  # a deep copy
    for _ in range(data.draw(st.integers(1, 3))):
        document = mutate(document, data)
    check(work, options_set, json.dumps(document).encode())


@SETTINGS
@given(data=st.data())
def test_damaged_text(work: Path, options_set: Path, data: st.DataObject) -> None:
    text = json.dumps(data.draw(st.sampled_from(SEEDS)), indent=1).encode()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 8)))
    insert = data.draw(st.binary(max_size=4) | st.sampled_from([b"", b",", b"}", b'"', b"NaN"]))
    check(work, options_set, text[:start] + insert + text[end:])
