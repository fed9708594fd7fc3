"""dataclass: an event dataclass's to_proto()/from_proto() round trip vs raw protobuf encode/decode."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from bench.generated import shared
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import ratio

OURS = "event dataclass"
RAW = "raw protobuf message"


def sample_event(module: ModuleType) -> Any:
    """A representative event: scalars, an enum, a nested message, repeated fields, a map, a Timestamp."""
    money = module.Money
    return module.OrderPlaced(
        order_id="o-20261126-000123",
        customer_id="c-4711",
        total=12_345,
        weight=2.75,
        gift=True,
        status=module.Status.STATUS_OK,
        amount=money(units=12_345, currency="EUR"),
        items=[
            module.LineItem(
                sku=f"sku-{i}", quantity=i + 1, price=money(units=1000 * i, currency="EUR")
            )
            for i in range(3)
        ],
        tags=["new", "web", "priority", "eu"],
        attributes={"channel": "web", "campaign": "autumn", "locale": "de-DE"},
        placed_at=datetime(2026, 11, 26, 12, 30, 15, 123000, tzinfo=UTC),
    )


def rate(operation: Callable[[], object], iterations: int) -> float:
    """Operations per second of ``iterations`` calls."""
    start = time.perf_counter()
    for _ in range(iterations):
        operation()
    return iterations / (time.perf_counter() - start)


def operations(module: ModuleType) -> dict[str, dict[str, Callable[[], object]]]:
    """case -> subject -> one operation."""
    event = sample_event(module)
    cls, proto = type(event), event.PROTO
    message = event.to_proto()
    wire = message.SerializeToString()
    if cls.from_proto(proto.FromString(wire)) != event:
        raise RuntimeError("the round trip lost information")
    return {
        "round trip, Python values -> bytes -> Python values": {
            OURS: lambda: cls.from_proto(proto.FromString(event.to_proto().SerializeToString())),
            RAW: lambda: read_all(proto.FromString(build(module).SerializeToString())),
        },
        "round trip of an already built message": {
            OURS: lambda: cls.from_proto(proto.FromString(event.to_proto().SerializeToString())),
            RAW: lambda: proto.FromString(message.SerializeToString()),
        },
        "encode (to bytes)": {
            OURS: lambda: event.to_proto().SerializeToString(),
            RAW: lambda: message.SerializeToString(),
        },
        "decode (from bytes)": {
            OURS: lambda: cls.from_proto(proto.FromString(wire)),
            RAW: lambda: proto.FromString(wire),
        },
        "decode + read every field": {
            OURS: lambda: cls.from_proto(proto.FromString(wire)),
            RAW: lambda: read_all(proto.FromString(wire)),
        },
    }


def build(module: ModuleType) -> Any:
    """What a producer using plain protobuf does: build the message from its Python values."""
    pb = module.bench_event_pb2
    return pb.OrderPlaced(
        order_id="o-20261126-000123",
        customer_id="c-4711",
        total=12_345,
        weight=2.75,
        gift=True,
        status=pb.STATUS_OK,
        amount=pb.Money(units=12_345, currency="EUR"),
        items=[
            pb.LineItem(
                sku=f"sku-{i}", quantity=i + 1, price=pb.Money(units=1000 * i, currency="EUR")
            )
            for i in range(3)
        ],
        tags=["new", "web", "priority", "eu"],
        attributes={"channel": "web", "campaign": "autumn", "locale": "de-DE"},
        placed_at=datetime(2026, 11, 26, 12, 30, 15, 123000, tzinfo=UTC),
    )


def read_all(message: Any) -> tuple[object, ...]:
    """What a consumer of the raw message does: touch every field once, as Python values."""
    items = [(i.sku, i.quantity, i.price.units, i.price.currency) for i in message.items]
    return (
        message.order_id,
        message.customer_id,
        message.total,
        message.weight,
        message.gift,
        message.status,
        (message.amount.units, message.amount.currency),
        items,
        list(message.tags),
        dict(message.attributes),
        message.placed_at.ToDatetime(tzinfo=UTC),
    )


def main(options: Options) -> Report:
    iterations = 2_000 if options.quick else 20_000
    report = Report.of("dataclass", "Event dataclass round trip vs raw protobuf", options)
    module = shared().sb("bench_event")
    cases = operations(module)

    def measure(case: str, subject: str) -> Callable[[], Mapping[str, float]]:
        operation = cases[case][subject]
        return lambda: {case: rate(operation, iterations)}

    for case, subjects in cases.items():
        for operation in subjects.values():
            rate(operation, iterations // 10)  # warm up
        results = alternate({s: measure(case, s) for s in subjects}, options.runs)
        ours, peer = results[OURS][case], results[RAW][case]
        r = ratio(ours, peer)
        target = (
            f"≥ 0.30x raw: {verdict(r >= 0.30)}" if case.startswith("round trip, Python") else ""
        )
        report.add(Row(case, OURS, ours, "ops/s", f"{r:.2f}x raw", target))
        report.add(Row(case, RAW, peer, "ops/s", "1.00x", ""))
    report.notes.append(
        f"{iterations} operations per run. The event (bench/protos/bench_event.proto, generated "
        "by sb-gen) has 5 scalars, an enum, a nested message, a repeated message field (3 items, "
        "each with a nested message), a repeated string (4), a map (3 entries) and a Timestamp. "
        "The target row compares like with like: plain protobuf code that starts from Python "
        "values builds the message, encodes, decodes and reads every field back, which is what "
        "to_proto() and from_proto() do for the dataclass. The second round-trip row is upb "
        "alone on a message that already exists (no Python values built or read): no Python "
        "layer can approach it, and it is shown for scale."
    )
    return report
