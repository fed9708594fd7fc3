"""Telemetry off (the default): the API's no-op tracer and meter, no SDK, shared no-op hops."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    import runtime_lib
    from runtime_lib._telemetry.api import Telemetry

    telemetry = Telemetry("orders")
    assert not telemetry.enabled

    def work() -> int:
        return 1

    assert telemetry.op("work")(work) is work  # the decorator adds nothing when off
    with telemetry.op("work", business_key="o-1") as op:
        op.set(a=1)
        assert not op.span.is_recording()

    client = telemetry.rpc_client("/payment.v1.Payment/Charge")
    assert client is telemetry.rpc_client("/payment.v1.Payment/Other")  # one shared no-op
    with client:
        client.attempt(1, "127.0.0.1:1")
        assert client.metadata() == []
    with telemetry.rpc_server("/payment.v1.Payment/Charge", {"traceparent": "x"}):
        pass
    with telemetry.publish("order.placed", "evt-1") as publish:
        assert publish.headers() == {}
    with telemetry.deliver(
        name="order.placed", event_id="evt-1", trace_headers={}, attempt=1, group="g",
        subscription="order.placed",
    ) as delivery:
        delivery.failed(RuntimeError("x"))
        delivery.dead_letter("x")
    telemetry.counter("c").add(1)
    telemetry.gauge("g").set(1)
    telemetry.histogram("h").record(1.0)
    telemetry.log("info", "hello", a=1)
    telemetry.force_flush()
    print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
    """
)


def test_off_imports_no_sdk_and_every_hook_is_a_no_op() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
