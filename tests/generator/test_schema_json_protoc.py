"""What the .schema.json frontend produces is a file protoc accepts and Python protobuf runs."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from generator.frontends.schema_json import load_schema_json

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO / "tests" / "reference" / "schema-testdata"
WELL_KNOWN = str(resources.files("grpc_tools") / "_proto")

# Runs in a fresh interpreter: generated modules register in the default descriptor pool, once.
CHECK = """
import importlib, json, sys
from google.protobuf import json_format
sys.path.insert(0, sys.argv[1])
from servicebridge import options_pb2
module = importlib.import_module(sys.argv[2])
message_name, sample, wire_names, events = json.loads(sys.argv[3])
cls = getattr(module, message_name)
original = json_format.ParseDict(sample, cls())
copy = cls.FromString(original.SerializeToString())
assert copy == original and json_format.MessageToDict(copy) == sample, copy
for name, descriptor in module.DESCRIPTOR.message_types_by_name.items():
    options = descriptor.GetOptions()
    assert options.Extensions[options_pb2.wire_name] == wire_names[name], name
    event = options.Extensions[options_pb2.event].name if options.HasExtension(options_pb2.event) else None
    assert event == events.get(name), name
print("ok")
"""


@pytest.fixture(scope="module")
def options_set(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    """servicebridge/options.proto and descriptor.proto, which every produced file imports."""
    out = tmp_path_factory.mktemp("options") / "options.pb"
    args = [f"-I{REPO / 'protos'}", f"-I{WELL_KNOWN}", f"--descriptor_set_out={out}"]
    assert protoc.main(["protoc", *args, "--include_imports", "servicebridge/options.proto"]) == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def docs_example() -> Any:
    text = (REPO / "docs" / "schema-json.md").read_text(encoding="utf-8")
    return json.loads(text.split("## Example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0])


CASES = [
    (
        "payment.schema.json",
        "ChargeRequest",
        {"userId": "u-1", "amount": 12.5},
        {"ChargeRequest": "Input", "ChargeResponse": "Output"},
        {},
    ),
    (
        "payment-nested.schema.json",
        "OrderRequest",
        {"userId": "u-1", "items": [{"sku": "a", "qty": 2}], "metadata": {"source": "web"}},
        {"OrderRequest": "Input", "OrderResponse": "Output"},
        {},
    ),
    (
        "vectors-renamed.schema.json",
        "OrderRequest",
        {"customerRef": "c", "items": [{"code": "x", "count": 1}], "labels": ["a", "b"]},
        {"OrderRequest": "Input", "OrderResponse": "Output"},
        {},
    ),
    (
        "docs",
        "ChargeRequest",
        {
            "amount": 9.5,
            "currency": "EUR",
            "lineItems": [{"sku": "a", "qty": 1}],
            "labels": {"gift": "yes"},
            "totals": {"eur": {"minor": "950"}},
        },
        {
            "ChargeRequest": "Input",
            "ChargeReply": "Output",
            "RefundRequest": "Input",
            "RefundReply": "Output",
            "OrderPlaced": "Input",
        },
        {"OrderPlaced": "order.placed"},
    ),
]


@pytest.mark.parametrize(
    ("source", "message", "sample", "wire_names", "events"), CASES, ids=[c[0] for c in CASES]
)
def test_protoc_generates_python_that_round_trips(
    tmp_path: Path,
    options_set: descriptor_pb2.FileDescriptorSet,
    source: str,
    message: str,
    sample: dict[str, Any],
    wire_names: dict[str, str],
    events: dict[str, str],
) -> None:
    if source == "docs":
        path = tmp_path / "shop.schema.json"
        path.write_text(json.dumps(docs_example()), encoding="utf-8")
    else:
        path = TESTDATA / source
    file = load_schema_json(path, f"sample/{path.name}")
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    descriptor_set.CopyFrom(options_set)
    descriptor_set.file.append(file)
    set_path = tmp_path / "all.pb"
    set_path.write_bytes(descriptor_set.SerializeToString())
    out = tmp_path / "out"
    out.mkdir()

    args = [f"--descriptor_set_in={set_path}", f"--python_out={out}", f"--pyi_out={out}"]
    assert protoc.main(["protoc", *args, file.name, "servicebridge/options.proto"]) == 0

    # protoc names the module as Python can import it: payment-nested.proto -> payment_nested_pb2
    module = file.name.removesuffix(".proto").replace("-", "_").replace("/", ".") + "_pb2"
    payload = json.dumps([message, sample, wire_names, events])
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(out), module, payload],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
