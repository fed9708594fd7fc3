"""Event dataclasses: Python-native fields, lossless protobuf round trips, checked names."""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import struct_pb2

from generator.descriptors.contract import event_contract_hash
from generator.frontends.inputs import resolve_inputs
from generator.frontends.proto import compile_protos
from tests.generator.conftest import CORPUS
from tests.generator.tools import sb_gen


@pytest.fixture
def events(corpus_package: Path) -> ModuleType:
    return importlib.import_module("corpus_gen.events.orders_sb")


def full_order(ev: ModuleType) -> Any:
    extra = struct_pb2.Struct()
    extra.update({"channel": "web"})
    return ev.OrderPlaced(
        order_id="o-1",
        total=4200,
        lines=[ev.OrderPlacedLine(sku="a", qty=2, price=ev.Money(currency="EUR", amount=100))],
        labels={"source": "app"},
        subtotals={"a": ev.Money(currency="EUR", amount=200)},
        method=ev.Method.METHOD_CARD,
        methods=[ev.Method.METHOD_CARD, ev.Method.METHOD_UNSPECIFIED],
        note="",  # set but empty: presence survives the round trip
        placed_at=datetime(2026, 11, 26, 6, 0, 0, 123000, tzinfo=UTC),
        ttl=timedelta(minutes=5),
        coupon="WELCOME",
        voucher=ev.Money(currency="EUR", amount=5),
        reminders=[datetime(2026, 11, 27, tzinfo=UTC)],
        blob=b"\x00\xff",
        ratio=0.5,
        gift=True,
        str_="text",
        Money_=ev.Money(amount=1),
        by_sku={"a": ev.Method.METHOD_CARD},
        from_="keyword field",
        currency=ev.Currency.CURRENCY_USD,
        extra=extra,
        aliases=["x", ""],
        deadlines={7: datetime(2027, 1, 1, tzinfo=UTC)},
        refunds=[ev.Money(amount=3)],
    )


def test_every_field_kind_round_trips_through_the_wire(events: ModuleType) -> None:
    order = full_order(events)
    wire = order.to_proto().SerializeToString()
    back = events.OrderPlaced.from_proto(events.OrderPlaced.PROTO.FromString(wire))
    assert back == order
    # The payload is plain protobuf: any reader sees the same values.
    message = events.orders_pb2.OrderPlaced.FromString(wire)
    assert (message.order_id, message.lines[0].price.amount, message.coupon.value) == (
        "o-1",
        100,
        "WELCOME",
    )
    assert getattr(message, "from") == "keyword field"
    assert message.HasField("note") and message.WhichOneof("payer") == "voucher"


def test_defaults_are_protobuf_defaults(events: ModuleType) -> None:
    empty = events.OrderPlaced()
    assert empty.to_proto() == events.orders_pb2.OrderPlaced()
    assert events.OrderPlaced.from_proto(events.orders_pb2.OrderPlaced()) == empty
    assert (empty.note, empty.placed_at, empty.lines, empty.method) == (None, None, [], 0)
    assert (
        events.OrderCancelled.from_proto(events.orders_pb2.OrderCancelled())
        == events.OrderCancelled()
    )


def test_dataclasses_are_frozen_slotted_and_keyword_only(events: ModuleType) -> None:
    order = events.OrderPlaced(order_id="o-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.order_id = "o-2"
    assert not hasattr(order, "__dict__")
    with pytest.raises(TypeError):
        events.OrderPlaced("o-1")
    assert events.Method.METHOD_CARD.name == "METHOD_CARD"
    assert isinstance(events.Method.METHOD_CARD, int)


def test_event_metadata_and_reach(events: ModuleType) -> None:
    assert events.OrderPlaced.EVENT_NAME == "order.placed"
    assert events.OrderCancelled.EVENT_NAME == "order.cancelled"
    inputs = resolve_inputs([CORPUS], [])
    files = compile_protos([s.name for s in inputs.sources], inputs.include)
    assert event_contract_hash(files, ".events.v1.OrderPlaced") == events.OrderPlaced.CONTRACT_HASH
    # Messages reached from an event get dataclasses; others do not.
    assert hasattr(events, "OrderPlacedLine") and hasattr(events, "Money")
    assert not hasattr(events, "Unrelated")
    assert not hasattr(events.Money, "EVENT_NAME")
    # A service in the same file still gets its client and handler.
    assert events.OrdersClient.SERVICE.full_name == "events.v1.Orders"


def test_invalid_event_name_is_reported_at_its_option(tmp_path: Path) -> None:
    (tmp_path / "bad.proto").write_text(
        'syntax = "proto3";\nimport "servicebridge/options.proto";\n\n'
        "message Placed {\n"
        "  string id = 1;\n"
        '    option (servicebridge.event) = { name: "Order Placed" };\n'
        "}\n"
    )
    result = sb_gen("bad.proto", "-o", "gen", cwd=tmp_path)
    assert result.returncode == 1
    # Line and column of the option itself, not of the message holding it.
    assert 'error: bad.proto:6:5: invalid event name "Order Placed" on Placed' in result.stderr
    assert "like order.placed" in result.stderr
    assert not (tmp_path / "gen").exists()


def test_schema_json_events_become_dataclasses(tmp_path: Path) -> None:
    (tmp_path / "orders.schema.json").write_text(
        json.dumps(
            {
                "package": "shop.v1",
                "events": {
                    "order.placed": {
                        "OrderPlaced": {
                            "orderId": {"type": "string", "fieldNumber": 1},
                            "total": {"type": "int64", "fieldNumber": 2},
                            "items": {
                                "type": "array",
                                "fieldNumber": 3,
                                "array": {
                                    "type": "object",
                                    "nested": {"sku": {"type": "string", "fieldNumber": 1}},
                                },
                            },
                        }
                    }
                },
            }
        )
    )
    result = sb_gen("orders.schema.json", "-o", "gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gen.orders_sb import OrderPlaced, OrderPlacedItems\n"
            "e = OrderPlaced(orderId='o-1', total=3, items=[OrderPlacedItems(sku='a')])\n"
            "assert OrderPlaced.from_proto(OrderPlaced.PROTO.FromString(e.to_proto().SerializeToString())) == e\n"
            "print(OrderPlaced.EVENT_NAME, OrderPlaced.CONTRACT_HASH[:3])",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["order.placed", "v2:"]
