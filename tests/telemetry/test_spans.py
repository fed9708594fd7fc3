"""The hop observers build exactly the spans the semantic conventions ask for."""

from __future__ import annotations

import pytest

from runtime_lib._errors import CallTimeoutError, HandlerError, ValidationError

from .helpers import memory_telemetry, one, parent_id, span_id, spans_of, tree

CHARGE = "/payment.v1.Payment/Charge"


def test_client_and_server_span_of_one_call() -> None:
    orders, payment = memory_telemetry("orders"), memory_telemetry("payment")
    with orders.op("checkout"), orders.rpc_client(CHARGE) as call:
        call.attempt(1, "10.0.0.7:50051")
        with payment.rpc_server(CHARGE, dict(call.metadata()), caller="orders"):
            pass
    spans = spans_of(orders, payment)
    assert tree(spans) == [
        (0, "INTERNAL", "checkout", "UNSET"),
        (1, "CLIENT", "payment.v1.Payment/Charge", "UNSET"),
        (2, "SERVER", "payment.v1.Payment/Charge", "UNSET"),
    ]
    client = one(spans, "payment.v1.Payment/Charge", "CLIENT")
    server = one(spans, "payment.v1.Payment/Charge", "SERVER")
    assert dict(client.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "payment.v1.Payment",
        "rpc.method": "Charge",
        "server.address": "10.0.0.7",
        "server.port": 50051,
        "sb.attempts": 1,
        "rpc.grpc.status_code": 0,
    }
    assert dict(server.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "payment.v1.Payment",
        "rpc.method": "Charge",
        "sb.caller": "orders",
        "rpc.grpc.status_code": 0,
    }
    assert server.resource.attributes["service.name"] == "payment"
    assert client.resource.attributes["service.name"] == "orders"


def test_attempts_are_events_of_one_client_span_and_retries_are_counted() -> None:
    orders = memory_telemetry("orders")
    with orders.rpc_client(CHARGE) as call:
        call.attempt(1, "10.0.0.7:1")
        call.attempt(2, "10.0.0.8:1")
        [(attrs, point)] = orders.memory.metrics()["sb.rpc.client.active_calls"]
        assert (attrs, point.value) == (
            {"rpc.service": "payment.v1.Payment", "rpc.method": "Charge"},
            1,
        )
    (client,) = orders.memory.spans()
    assert [(e.name, dict(e.attributes or {})) for e in client.events] == [
        ("attempt", {"sb.attempt": 1, "server.address": "10.0.0.7", "server.port": 1}),
        ("attempt", {"sb.attempt": 2, "server.address": "10.0.0.8", "server.port": 1}),
    ]
    assert client.attributes is not None and client.attributes["server.address"] == "10.0.0.8"
    metrics = orders.memory.metrics()
    [(attrs, point)] = metrics["sb.rpc.client.retries"]
    assert point.value == 1 and attrs["rpc.method"] == "Charge"
    assert [p.value for _, p in metrics["sb.rpc.client.active_calls"]] == [0]


def test_failed_call_marks_client_error_and_server_by_convention() -> None:
    orders, payment = memory_telemetry("orders"), memory_telemetry("payment")
    refused = HandlerError("CARD_DECLINED", "card declined")
    with (
        pytest.raises(HandlerError),
        orders.rpc_client(CHARGE) as call,
        payment.rpc_server(CHARGE, dict(call.metadata())),
    ):
        raise refused
    server = one(payment.memory.spans(), "payment.v1.Payment/Charge")
    client = one(orders.memory.spans(), "payment.v1.Payment/Charge")
    for span in (client, server):
        assert span.status.status_code.name == "ERROR"
        assert span.attributes is not None
        assert span.attributes["rpc.grpc.status_code"] == 2  # UNKNOWN: the handler failed
        assert span.attributes["error.type"] == "HANDLER"
        assert [e.name for e in span.events] == ["exception"]


def test_a_callers_mistake_is_not_a_server_error() -> None:
    payment = memory_telemetry("payment")
    with pytest.raises(ValidationError), payment.rpc_server(CHARGE, {}):
        raise ValidationError("amount must be positive")
    (server,) = payment.memory.spans()
    assert server.status.status_code.name == "UNSET"
    assert server.attributes is not None and server.attributes["rpc.grpc.status_code"] == 3


def test_client_span_ended_with_an_error_by_end() -> None:
    orders = memory_telemetry("orders")
    call = orders.rpc_client(CHARGE)
    call.end(CallTimeoutError("deadline passed"))
    call.end()  # a second end changes nothing
    (client,) = orders.memory.spans()
    assert client.status.status_code.name == "ERROR"
    assert client.attributes is not None and client.attributes["rpc.grpc.status_code"] == 4
    [(attrs, point)] = orders.memory.metrics()["rpc.client.call.duration"]
    assert point.count == 1 and attrs["rpc.grpc.status_code"] == 4


def test_server_span_without_traceparent_is_a_root() -> None:
    payment = memory_telemetry("payment")
    with payment.rpc_server(CHARGE, {"traceparent": "not a trace"}):
        pass
    (server,) = payment.memory.spans()
    assert server.parent is None


def test_handler_work_nests_under_the_server_span() -> None:
    payment = memory_telemetry("payment")
    with payment.rpc_server(CHARGE, {}), payment.op("ledger-write", business_key="tx-1"):
        pass
    assert tree(list(payment.memory.spans())) == [
        (0, "SERVER", "payment.v1.Payment/Charge", "UNSET"),
        (1, "INTERNAL", "ledger-write", "UNSET"),
    ]


def test_publish_and_delivery_are_one_trace_with_a_link() -> None:
    orders, notifications = memory_telemetry("orders"), memory_telemetry("notifications")
    with orders.op("place-order"), orders.publish("order.placed", "evt-1") as publish:
        headers = publish.headers()
    assert set(headers) == {"traceparent"}
    with notifications.deliver(
        name="order.placed",
        event_id="evt-1",
        trace_headers=headers,
        attempt=1,
        group="notifications",
        subscription="order.placed",
    ) as delivery:
        delivery.acked()
    spans = spans_of(orders, notifications)
    assert tree(spans) == [
        (0, "INTERNAL", "place-order", "UNSET"),
        (1, "PRODUCER", "publish order.placed", "UNSET"),
        (2, "CONSUMER", "process order.placed", "UNSET"),
    ]
    producer = one(spans, "publish order.placed")
    consumer = one(spans, "process order.placed")
    assert [link.context.span_id for link in consumer.links] == [span_id(producer)]
    assert dict(producer.attributes or {}) == {
        "messaging.system": "nats",
        "messaging.destination.name": "order.placed",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.message.id": "evt-1",
    }
    assert dict(consumer.attributes or {}) == {
        "messaging.system": "nats",
        "messaging.destination.name": "order.placed",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": "evt-1",
        "messaging.consumer.group.name": "notifications",
        "messaging.destination.subscription.name": "order.placed",
        "sb.delivery.attempt": 1,
    }
    assert orders.memory.metrics()["sb.events.published"][0][1].value == 1
    assert notifications.memory.metrics()["sb.events.delivered"][0][1].value == 1


def test_failed_deliveries_retry_then_dead_letter() -> None:
    notifications = memory_telemetry("notifications")
    options = {
        "name": "order.placed",
        "event_id": "evt-1",
        "trace_headers": {},
        "group": "notifications",
        "subscription": "order.*",
    }
    for attempt in (1, 2):
        with notifications.deliver(attempt=attempt, **options) as delivery:  # type: ignore[arg-type]
            delivery.failed(RuntimeError("smtp down"))
            if attempt == 1:
                delivery.retry(1.0, "RuntimeError: smtp down")
            else:
                delivery.dead_letter("RuntimeError: smtp down")
    first, last = notifications.memory.spans()
    assert (first.parent, first.links) == (None, ())
    assert [e.name for e in first.events] == ["exception", "retry"]
    assert first.status.status_code.name == "ERROR"
    assert [e.name for e in last.events] == ["exception", "dead_letter"]
    assert last.status.description == "dead-lettered: RuntimeError: smtp down"
    metrics = notifications.memory.metrics()
    assert metrics["sb.events.retried"][0][1].value == 1
    assert metrics["sb.events.dead_lettered"][0][1].value == 1
    assert "sb.events.delivered" not in metrics


def test_an_unsampled_trace_builds_no_spans_but_counts_metrics() -> None:
    orders = memory_telemetry("orders", sampling_ratio=0.0)
    with orders.rpc_client(CHARGE) as call:
        call.attempt(1, "10.0.0.7:1")
        # The decision travels: the server will not sample this trace either.
        [(key, value)] = call.metadata()
        assert key == "traceparent" and int(value[-2:], 16) & 1 == 0  # not sampled
    assert orders.memory.spans() == ()
    assert orders.memory.metrics()["rpc.client.call.duration"][0][1].count == 1


def test_a_call_inside_a_sampled_trace_follows_its_parent() -> None:
    orders = memory_telemetry("orders")
    payment = memory_telemetry("payment", sampling_ratio=0.0)
    with orders.rpc_client(CHARGE) as call, payment.rpc_server(CHARGE, dict(call.metadata())):
        pass
    (server,) = payment.memory.spans()
    assert parent_id(server) == span_id(one(orders.memory.spans(), "payment.v1.Payment/Charge"))


def test_breaker_and_outbox_gauges_read_their_sources() -> None:
    from runtime_lib._telemetry.metrics import OutboxStats

    bridge = memory_telemetry("orders")
    bridge.observe_breakers(lambda: [("10.0.0.7:1", "open"), ("10.0.0.8:1", "closed")])
    bridge.observe_outbox(lambda: OutboxStats(depth=3, oldest_age=1.5))
    metrics = bridge.memory.metrics()
    states = {a["server.address"]: p.value for a, p in metrics["sb.rpc.breaker.state"]}
    assert states == {"10.0.0.7:1": 2, "10.0.0.8:1": 0}
    assert [p.value for _, p in metrics["sb.outbox.depth"]] == [3]
    assert [p.value for _, p in metrics["sb.outbox.oldest_age"]] == [1.5]
