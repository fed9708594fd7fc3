"""allowed_callers declared in the protocol (.proto options, .schema.json keys) reach the generated
service table, pass mypy --strict, are checked with the place to fix, and are enforced by a Bridge."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs published
import pytest

import runtime_lib as sb
from runtime_lib import codegen
from tests.generator.test_schema_json_format import format_schema
from tests.generator.tools import run_mypy, sb_gen

PROTO = """syntax = "proto3";
package acl.v1;
import "servicebridge/options.proto";

message Req { string text = 1; }
message Rep { string text = 1; }

service Ledger {
  option (servicebridge.service_access) = { allowed_callers: ["orders", "billing"] };
  rpc Post(Req) returns (Rep) {
    option (servicebridge.access) = { allowed_callers: ["payment"] };
  }
  rpc Read(Req) returns (Rep);
  rpc Close(Req) returns (Rep) { option (servicebridge.access) = {}; }
}

service Open {
  rpc Ping(Req) returns (Rep);
  rpc Any(Req) returns (Rep) { option (servicebridge.access) = { allowed_callers: ["*"] }; }
}
"""


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[ModuleType]:
    (tmp_path / "acl.proto").write_text(PROTO)
    result = sb_gen("acl.proto", "-o", "acl_gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("acl_gen.acl_sb")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "acl_gen" or m.startswith("acl_gen.")]:
            del sys.modules[name]


def _callers(module: ModuleType, table: str) -> dict[str, tuple[str, ...] | None]:
    spec: codegen.ServiceSpec = getattr(module, table)
    return {m.name: m.allowed_callers for m in spec.methods}


def test_options_become_the_service_table_and_the_method_wins(
    generated: ModuleType, tmp_path: Path
) -> None:
    assert _callers(generated, "LEDGER_SERVICE") == {
        "Post": ("payment",),
        "Read": ("orders", "billing"),
        "Close": (),
    }
    assert _callers(generated, "OPEN_SERVICE") == {"Ping": None, "Any": ("*",)}
    checked = run_mypy(tmp_path / "acl_gen", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout


async def test_a_bridge_enforces_what_the_protocol_declares(generated: ModuleType) -> None:
    pb = sys.modules["acl_gen.acl_pb2"]
    ran: list[str] = []

    class Ledger(generated.LedgerHandler):  # type: ignore[misc, name-defined]
        async def post(self, request: Any, ctx: sb.CallContext) -> Any:
            ran.append("post")
            return pb.Rep(text=ctx.caller)

        async def read(self, request: Any, ctx: sb.CallContext) -> Any:
            ran.append("read")
            return pb.Rep(text=ctx.caller)

        async def close(self, request: Any, ctx: sb.CallContext) -> Any:
            ran.append("close")
            return pb.Rep(text=ctx.caller)

    ledger = sb.Bridge("ledger")
    ledger.serve(Ledger())
    async with ledger, sb.Bridge("payment") as payment, sb.Bridge("orders") as orders:
        as_payment = payment.client(generated.LedgerClient, address=ledger.address)
        as_orders = orders.client(generated.LedgerClient, address=ledger.address)
        assert (await as_payment.post(pb.Req())).text == "payment"
        assert (await as_orders.read(pb.Req())).text == "orders"
        with pytest.raises(sb.AccessDeniedError):
            await as_orders.post(pb.Req())
        with pytest.raises(sb.AccessDeniedError):
            await as_payment.read(pb.Req())
        with pytest.raises(sb.AccessDeniedError):
            await as_orders.close(pb.Req())
    assert ran == ["post", "read"]
    # Configuration overrides the protocol.
    configured = sb.Bridge(
        "ledger", access=sb.AccessPolicy(methods={"acl.v1.Ledger/Close": ["orders"]})
    )
    configured.serve(Ledger())
    async with configured, sb.Bridge("orders") as orders:
        client = orders.client(generated.LedgerClient, address=configured.address)
        assert (await client.close(pb.Req())).text == "orders"


def test_an_invalid_caller_is_reported_at_its_option(tmp_path: Path) -> None:
    (tmp_path / "bad.proto").write_text(
        'syntax = "proto3";\nimport "servicebridge/options.proto";\n'
        "message R { string a = 1; }\n"
        "service S {\n"
        "  rpc M(R) returns (R) {\n"
        '    option (servicebridge.access) = { allowed_callers: ["Orders Team"] };\n'
        "  }\n"
        "}\n"
    )
    result = sb_gen("bad.proto", "-o", "gen", cwd=tmp_path)
    assert result.returncode == 1
    assert 'bad.proto:6:5: invalid caller "Orders Team" in allowed_callers of S.M' in result.stderr
    assert 'Bridge("orders")' in result.stderr
    assert not (tmp_path / "gen").exists()


SCHEMA = {
    "package": "acl.v2",
    "allowedCallers": ["orders"],
    "methods": {
        "Post": {
            "input": {"Req": {"text": {"type": "string", "fieldNumber": 1}}},
            "output": {"Rep": {}},
            "allowedCallers": ["payment", "*"],
        },
        "Read": {"input": {"ReadReq": {}}, "output": {"ReadRep": {}}},
    },
}


def test_schema_json_keys_become_the_service_table(tmp_path: Path) -> None:
    jsonschema.Draft202012Validator(format_schema()).validate(SCHEMA)
    (tmp_path / "ledger.schema.json").write_text(json.dumps(SCHEMA))
    result = sb_gen("ledger.schema.json", "-o", "ledger_gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("ledger_gen.ledger_sb")
        assert _callers(module, "LEDGER_SERVICE") == {
            "Post": ("payment", "*"),
            "Read": ("orders",),
        }
    finally:
        sys.path.remove(str(tmp_path))
    checked = run_mypy(tmp_path / "ledger_gen", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("orders", "must be a list of strings"),
        (["orders", 3], "must be a list of strings"),
        (["orders", "Billing"], 'invalid caller "Billing" (item 2)'),
    ],
)
def test_schema_json_bad_callers_are_reported_with_their_path(
    tmp_path: Path, value: object, message: str
) -> None:
    document = {"input": {"A": {}}, "output": {"R": {}}, "allowedCallers": value}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(format_schema()).validate(document)
    (tmp_path / "bad.schema.json").write_text(json.dumps(document))
    result = sb_gen("bad.schema.json", "-o", "gen", cwd=tmp_path)
    assert result.returncode == 1
    assert f"bad.schema.json: $.allowedCallers: {message}" in result.stderr
