"""Every vector and property of the ServiceBridge v2 contract hash, from .proto and .schema.json."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from generator.descriptors.contract import canonical_message, event_contract_hash, rpc_contract_hash
from generator.frontends.schema_json import load_schema_json

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "reference"
VECTORS_FILE = REFERENCE / "contract-hash-vectors.json"
WELL_KNOWN = str(resources.files("grpc_tools") / "_proto")

DOC = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: dict[str, dict[str, Any]] = {v["name"]: v for v in DOC["vectors"]}


def compile_proto(tmp_path: Path, text: str) -> list[descriptor_pb2.FileDescriptorProto]:
    (tmp_path / "vector.proto").write_text(text, encoding="utf-8")
    out = tmp_path / "vector.pb"
    args = ["protoc", f"-I{tmp_path}", f"-I{WELL_KNOWN}", f"--descriptor_set_out={out}"]
    assert protoc.main([*args, "--include_imports", "vector.proto"]) == 0
    return list(descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file)


def vector_files(
    tmp_path: Path, vector: dict[str, Any]
) -> tuple[list[descriptor_pb2.FileDescriptorProto], str, str]:
    """The descriptors of a vector and the (input, output) type names in them."""
    if vector["source"] == "proto":
        files = compile_proto(tmp_path, vector["proto"])
        return files, f".{vector['inputMessage']}", f".{vector['outputMessage']}"
    path = tmp_path / "vector.schema.json"
    path.write_text(json.dumps(vector["schemaJson"]), encoding="utf-8")
    file = load_schema_json(path, "vector.schema.json")
    method = file.service[0].method[0]
    return [file], method.input_type, method.output_type


def vector_hash(tmp_path: Path, vector: dict[str, Any]) -> str:
    files, input_type, output_type = vector_files(tmp_path, vector)
    if vector["kind"] == "event":  # the declared reply type must not reach the identity
        return event_contract_hash(files, input_type)
    return rpc_contract_hash(files, input_type, output_type)


@pytest.mark.parametrize("name", list(VECTORS))
def test_vector(tmp_path: Path, name: str) -> None:
    vector = VECTORS[name]
    files, input_type, output_type = vector_files(tmp_path, vector)

    assert canonical_message(files, input_type) == vector["canonicalInput"]
    if vector["kind"] == "rpc":
        assert canonical_message(files, output_type) == vector["canonicalOutput"]
    assert vector_hash(tmp_path, vector) == vector["contractHash"]


@pytest.mark.parametrize("prop", DOC["properties"], ids=[p["name"] for p in DOC["properties"]])
def test_property(tmp_path: Path, prop: dict[str, Any]) -> None:
    hashes = []
    for name in prop["vectors"]:
        (tmp_path / name).mkdir()
        hashes.append(vector_hash(tmp_path / name, VECTORS[name]))
    first, second = hashes
    assert (first == second) == (prop["assert"] == "equal")


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        (
            "payment.schema.json",
            "v2:09c7bb827d60bb1e33e49cca735ed47759bc2e08969acf55a52bfa66dc842acb",
        ),
        (
            "payment-nested.schema.json",
            "v2:6f1976e801c55f5eb5e801a849bf35d469da938d29eb98476560aefd95138bc2",
        ),
    ],
)
def test_reference_schema_files(file_name: str, expected: str) -> None:
    """The hashes NOTES.md computes for the reference .schema.json files."""
    file = load_schema_json(REFERENCE / "schema-testdata" / file_name, file_name)
    method = file.service[0].method[0]
    assert rpc_contract_hash([file], method.input_type, method.output_type) == expected


def test_hash_ignores_python_names_of_schema_json_messages(tmp_path: Path) -> None:
    """Message keys, package and service are Python names only; the wire names decide the hash."""
    doc = dict(VECTORS["json_schema"]["schemaJson"])
    doc["input"] = {"PlaceOrder": doc["input"]["OrderRequest"]}
    doc.update(package="shop.v1", service="Orders", method="Place")
    path = tmp_path / "orders.schema.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    file = load_schema_json(path, "orders.schema.json")
    method = file.service[0].method[0]
    assert method.input_type == ".shop.v1.PlaceOrder"
    assert (
        rpc_contract_hash([file], method.input_type, method.output_type)
        == (VECTORS["json_schema"]["contractHash"])
    )


def test_unknown_type_is_a_caller_bug(tmp_path: Path) -> None:
    files = compile_proto(tmp_path, VECTORS["empty_message"]["proto"])
    with pytest.raises(ValueError, match=r"unknown message type '\.nope\.Missing'"):
        canonical_message(files, ".nope.Missing")
