from __future__ import annotations

import pytest

from runtime_lib._errors import ConfigError, InvalidEventNameError
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.filters import PayloadFilter
from runtime_lib._events.names import (
    compile_pattern,
    parse_subject,
    service_token,
    subject_for,
    validate_name,
)
from runtime_lib._ids import new_event_id
from tests.events.eventlib import OrderEventPb, OrderPlaced


@pytest.mark.parametrize("name", ["order", "order.placed", "a-b.c_d.9", "x.y.z.w"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "Order", "order.", ".order", "order..placed", "a b", "a.*"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidEventNameError):
        validate_name(name)


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("order.placed", "order.placed", True),
        ("order.placed", "order.paid", False),
        ("order.*", "order.placed", True),
        ("order.*", "order", False),
        ("order.*", "order.placed.eu", False),
        ("order.#", "order", True),
        ("order.#", "order.placed", True),
        ("order.#", "order.placed.eu", True),
        ("order.#", "orders.placed", False),
        ("#", "anything.at.all", True),
        ("*.placed", "order.placed", True),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.#.z", "a.b.c", False),
        ("*.*", "a", False),
    ],
)
def test_pattern_matching(pattern: str, name: str, matches: bool) -> None:
    assert compile_pattern(pattern).matches(name) is matches


def test_nats_filters_cover_the_pattern() -> None:
    # The publisher token lets '#' match zero segments on NATS, where '>' needs at least one.
    assert compile_pattern("order.#").nats_filter == "sb.ev.order.>"
    assert subject_for("order", "shop") == "sb.ev.order.shop"
    assert compile_pattern("order.*").nats_filter == "sb.ev.order.*.*"
    assert compile_pattern("order.placed").nats_filter == "sb.ev.order.placed.*"
    assert compile_pattern("a.#.z").nats_filter == "sb.ev.a.>"


def test_subjects_name_the_event_and_its_publisher() -> None:
    assert parse_subject(subject_for("order.placed", "shop")) == ("order.placed", "shop")
    assert parse_subject("sb.ev.order.shop") == ("order", "shop")
    # Published before subjects named the publisher: delivered, publisher unknown.
    assert parse_subject("sb.ev.order.placed._") == ("order.placed", "")
    assert service_token("my.svc") == "my_svc"
    for subject in ("sb.ev.order", "sb.dlq.a.b", "order.placed.shop"):
        with pytest.raises(ValueError, match="not an event subject"):
            parse_subject(subject)


@pytest.mark.parametrize("pattern", ["order.", "Order.*", "order.**", "order.>"])
def test_invalid_patterns(pattern: str) -> None:
    with pytest.raises(InvalidEventNameError):
        compile_pattern(pattern)


def test_filter_matches_proto_and_json_names() -> None:
    message = OrderEventPb(order_id="o-1", amount=4.5, currency="EUR")
    assert PayloadFilter.parse({"$.currency": "EUR"}).matches(message)
    assert PayloadFilter.parse({"$.orderId": "o-1", "$.amount": 4.5}).matches(message)
    assert PayloadFilter.parse({"$.order_id": "o-1"}).matches(message)
    assert not PayloadFilter.parse({"$.currency": "USD"}).matches(message)
    assert not PayloadFilter.parse({"$.currency": "EUR", "$.amount": 1}).matches(message)
    assert not PayloadFilter.parse({"$.missing": "x"}).matches(message)
    assert not PayloadFilter.parse({"$.currency.deeper": "x"}).matches(message)


def test_filter_paths_must_start_at_root() -> None:
    with pytest.raises(ConfigError):
        PayloadFilter.parse({"currency": "EUR"})


def test_envelope_round_trips_through_headers() -> None:
    envelope = EventEnvelope(
        id=new_event_id(),
        name="order.placed",
        payload=OrderPlaced(order_id="o-1").to_proto().SerializeToString(),
        occurred_at_ms=1_700_000_000_123,
        idempotency_key="k-1",
        partition_key="p-1",
        contract_hash="v2:abc",
        trace_headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
        headers={"tenant": "acme"},
    )
    back = EventEnvelope.from_headers(envelope.to_headers(), envelope.payload, name=envelope.name)
    assert back == envelope
    assert back.decode(OrderPlaced) == OrderPlaced(order_id="o-1")
    assert back.occurred_at.year == 2023


def test_event_ids_are_uuid7_and_sort_in_creation_order() -> None:
    ids = [new_event_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i[14] == "7" for i in ids)
