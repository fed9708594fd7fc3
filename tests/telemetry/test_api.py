"""The user API of bridge.telemetry: op (context manager and decorator), metrics, log, config."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib._telemetry.api import Telemetry
from runtime_lib._telemetry.config import TelemetryConfig
from runtime_lib._telemetry.logs import TraceContextFilter

from .helpers import memory_telemetry, parent_id, span_id, tree


def test_op_as_decorator_on_sync_and_async_functions() -> None:
    telemetry = memory_telemetry("orders")

    @telemetry.op("price-item")
    def price(amount: int) -> int:
        return amount * 2

    @telemetry.op("reprice-cart", business_key="cart-7")
    async def reprice(items: list[int]) -> int:
        await asyncio.sleep(0)
        return sum(price(i) for i in items)

    assert asyncio.run(reprice([1, 2])) == 6
    assert reprice.__name__ == "reprice"  # functools.wraps
    assert tree(list(telemetry.memory.spans())) == [
        (0, "INTERNAL", "reprice-cart", "UNSET"),
        (1, "INTERNAL", "price-item", "UNSET"),
        (1, "INTERNAL", "price-item", "UNSET"),
    ]
    root = telemetry.memory.spans()[-1]
    assert dict(root.attributes or {}) == {"sb.business_key": "cart-7"}


def test_each_decorated_call_gets_its_own_span_even_concurrently() -> None:
    telemetry = memory_telemetry("orders")

    @telemetry.op("step")
    async def step() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(step(), step(), step())

    asyncio.run(main())
    spans = telemetry.memory.spans()
    assert len({span_id(s) for s in spans}) == 3
    assert all(s.parent is None for s in spans)


def test_op_as_async_context_manager_with_attributes_and_errors() -> None:
    telemetry = memory_telemetry("orders")

    async def main() -> None:
        async with telemetry.op("reserve-stock", business_key="o-1", items=2) as op:
            op.set(warehouse="east", sizes=[1, 2], note=object())
            op.event("reserved", count=2)
        with pytest.raises(KeyError), telemetry.op("charge"):
            raise KeyError("card")

    asyncio.run(main())
    reserve, charge = telemetry.memory.spans()
    attributes = dict(reserve.attributes or {})
    assert str(attributes.pop("note")).startswith("<object object")
    assert attributes == {
        "items": 2,
        "sb.business_key": "o-1",
        "warehouse": "east",
        "sizes": (1, 2),
    }
    assert [(e.name, dict(e.attributes or {})) for e in reserve.events] == [
        ("reserved", {"count": 2})
    ]
    assert charge.status.status_code.name == "ERROR"
    assert charge.status.description == "KeyError: 'card'"


def test_an_op_is_entered_once() -> None:
    telemetry = memory_telemetry("orders")
    op = telemetry.op("once")
    with op, pytest.raises(RuntimeError, match="already running"), op:
        pass


def test_op_refuses_generators() -> None:
    telemetry = memory_telemetry("orders")

    async def events() -> AsyncIterator[int]:
        yield 1

    with pytest.raises(TypeError, match="not generators"):
        telemetry.op("stream")(events)


def test_counter_gauge_histogram() -> None:
    telemetry = memory_telemetry("orders")
    telemetry.counter("orders.placed").add(2, {"region": "eu"})
    assert telemetry.counter("orders.placed") is telemetry.counter("orders.placed")
    telemetry.counter("orders.placed").add(1, {"region": "eu"})
    telemetry.gauge("cart.size").set(5)
    telemetry.gauge("cart.size").set(3)
    telemetry.histogram("order.amount", unit="EUR").record(42.0)
    metrics = telemetry.memory.metrics()
    assert [(a, p.value) for a, p in metrics["orders.placed"]] == [({"region": "eu"}, 3)]
    assert [p.value for _, p in metrics["cart.size"]] == [3]
    assert [(p.count, p.sum) for _, p in metrics["order.amount"]] == [(1, 42.0)]


def test_log_carries_trace_ids_and_becomes_a_span_event(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = memory_telemetry("orders")
    caplog.set_level(logging.INFO, logger="sb.orders")
    with telemetry.op("checkout") as op:
        telemetry.log("info", "charged", amount=42)
        ids = (format(op.span.get_span_context().trace_id, "032x"), op.span.get_span_context())
    (record,) = caplog.records
    assert record.name == "sb.orders" and record.getMessage() == "charged"
    assert record.trace_id == ids[0]  # type: ignore[attr-defined]
    assert record.span_id == format(ids[1].span_id, "016x")  # type: ignore[attr-defined]
    assert record.sb_attributes == {"amount": 42}  # type: ignore[attr-defined]
    (span,) = telemetry.memory.spans()
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("log", {"log.severity": "INFO", "log.message": "charged", "amount": 42})
    ]
    with pytest.raises(ConfigError, match="unknown log level"):
        telemetry.log("loud", "x")


def test_log_filter_adds_ids_inside_spans_and_blanks_outside() -> None:
    telemetry = memory_telemetry("payment")
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(logging.Formatter("[%(trace_id)s %(span_id)s] %(message)s"))
    logger = logging.getLogger("tests.telemetry.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outside")
        with telemetry.rpc_server("/payment.v1.Payment/Charge", {}):
            logger.warning("inside")
    finally:
        logger.removeHandler(handler)
    (server,) = telemetry.memory.spans()
    context = server.get_span_context()
    assert context is not None
    assert lines == [
        "[ ] outside",
        f"[{context.trace_id:032x} {context.span_id:016x}] inside",
    ]
    assert parent_id(server) is None


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="use one of off, console, memory, otlp, file"):
        TelemetryConfig(exporter="jaeger")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="between 0 and 1"):
        TelemetryConfig(sampling_ratio=1.5)
    with pytest.raises(ConfigError, match="needs path="):
        TelemetryConfig(exporter="file")
    with pytest.raises(ConfigError, match='not "memory"'):
        _ = Telemetry("orders").memory


def _otlp_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_otlp_installed(), reason="the otlp exporter is installed")
def test_otlp_without_its_package_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'sb-gen\[telemetry\]'"):
        Telemetry("orders", TelemetryConfig(exporter="otlp"))


def test_service_name_and_global_flag() -> None:
    from opentelemetry import trace

    telemetry = Telemetry("orders", TelemetryConfig(exporter="memory", service_name="orders-eu"))
    with telemetry.op("x"):
        pass
    (span,) = telemetry.memory.spans()
    assert span.resource.attributes["service.name"] == "orders-eu"
    # Not global unless asked: the process-wide provider is untouched.
    assert trace.get_tracer_provider() is not telemetry._providers.tracer_provider
