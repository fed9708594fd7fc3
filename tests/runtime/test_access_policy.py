"""allowed_callers enforced before the handler: over mutual TLS (callee processes and in-test
bridges), in process, deny by default, overrides from configuration, and the policy_violation
events on both sides."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from echo_service import make_handler, pb
from processes import Callee, start_callee

import runtime_lib as sb
from tests.ca import make_ca

pytestmark = pytest.mark.timeout(120)

ECHO = "conformance.Callee/Echo"


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    return make_ca(tmp_path / "certs", "example.org", "payment", "orders", "billing")


def tls(cert_dir: Path, service: str) -> sb.TlsConfig:
    return sb.TlsConfig.from_dir(cert_dir, service)


@contextlib.contextmanager
def payment_process(
    echo_root: Path, cert_dir: Path, access: Mapping[str, object]
) -> Iterator[Callee]:
    process = start_callee(echo_root, "payment", tls=cert_dir, access=access)
    try:
        yield process
    finally:
        process.close()


async def test_a_caller_outside_allowed_callers_is_denied_and_the_handler_does_not_run(
    echo: ModuleType, echo_root: Path, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    access = {"methods": {ECHO: ["billing"]}}
    with payment_process(echo_root, cert_dir, access) as payment:
        orders = sb.Bridge(
            "orders",
            rpc=sb.RpcConfig(transport=transport),
            tls=tls(cert_dir, "orders"),
        )
        violations: list[sb.PolicyViolation] = []
        orders.on("policy_violation", violations.append)
        async with orders, sb.Bridge("billing", tls=tls(cert_dir, "billing")) as billing:
            as_orders = orders.client(echo.CalleeClient, address=payment.address, service="payment")
            as_billing = billing.client(
                echo.CalleeClient, address=payment.address, service="payment"
            )
            with pytest.raises(sb.AccessDeniedError) as denied:
                # A forged sb-caller and a retry budget change nothing.
                await as_orders.echo(
                    pb().Echo(text="x"),
                    metadata={"sb-caller": "billing"},
                    idempotency_key="k",
                    retry=sb.RetryPolicy(max_attempts=5),
                )
            assert not denied.value.retryable
            assert (await as_billing.echo(pb().Echo(text="y"))).text == "y"
            assert (await as_orders.info(pb().Echo())).text == "orders"  # Info is open
            served = await as_billing.stats(pb().Echo(text="echo"))
    assert served.n == 1  # only billing's call reached the handler
    assert "'orders' may not call /conformance.Callee/Echo" in denied.value.message
    assert [(v.side, v.service_name, v.method, v.caller) for v in violations] == [
        ("client", "orders", "/conformance.Callee/Echo", "orders")
    ]


async def test_the_serving_bridge_reports_each_refused_call_once(
    echo: ModuleType, cert_dir: Path, transport: sb.NetworkTransport
) -> None:
    handler = make_handler(echo)
    server = sb.Bridge(
        "payment",
        tls=tls(cert_dir, "payment"),
        access=sb.AccessPolicy(default="deny", services={"conformance.Callee": ["billing"]}),
    )
    server.serve(handler)
    refused: list[sb.PolicyViolation] = []

    async def record(violation: sb.PolicyViolation) -> None:  # coroutine callbacks work too
        refused.append(violation)

    server.on("policy_violation", record)
    async with (
        server,
        sb.Bridge(
            "orders",
            rpc=sb.RpcConfig(transport=transport),
            tls=tls(cert_dir, "orders"),
        ) as o,
    ):
        client = o.client(echo.CalleeClient, address=server.address, service="payment")
        with pytest.raises(sb.AccessDeniedError):
            await client.info(pb().Echo(), retry=sb.RetryPolicy(max_attempts=5))
        with pytest.raises(sb.AccessDeniedError):
            await anext(aiter(client.watch(pb().Echo(text="a"))))
    assert handler.served == {}
    assert [(v.side, v.service_name, v.method, v.caller) for v in refused] == [
        ("server", "payment", "/conformance.Callee/Info", "orders"),
        ("server", "payment", "/conformance.Callee/Watch", "orders"),
    ]


async def test_deny_by_default_closes_methods_nobody_declared(echo: ModuleType) -> None:
    handler = make_handler(echo)
    bridge = sb.Bridge(
        "payment", access=sb.AccessPolicy(default="deny", methods={ECHO: ["payment"]})
    )
    bridge.serve(handler)
    async with bridge:
        # In process: the caller is the bridge's own identity.
        client = bridge.client(echo.CalleeClient, service="payment")
        assert (await client.echo(pb().Echo(text="own"))).text == "own"
        with pytest.raises(sb.AccessDeniedError):
            await client.info(pb().Echo())
    assert handler.served == {"echo": 1}


async def test_the_in_process_path_enforces_the_policy_with_events_on_both_sides(
    echo: ModuleType,
) -> None:
    handler = make_handler(echo)
    closed = sb.AccessPolicy(services={"conformance.Callee": ["billing"]})
    bridge = sb.Bridge("payment", access=closed)
    bridge.serve(handler)
    seen: list[sb.PolicyViolation] = []
    bridge.on("policy_violation", seen.append)
    async with bridge:
        client = bridge.client(echo.CalleeClient, service="payment")
        with pytest.raises(sb.AccessDeniedError):
            await client.echo(pb().Echo(text="x"))
        with pytest.raises(sb.AccessDeniedError):
            await anext(aiter(client.chat(_one())))
    assert handler.served == {}
    assert [v.side for v in seen] == ["server", "client", "server", "client"]


async def _one() -> object:
    yield pb().Echo(text="a")


async def test_any_caller_star_and_configuration_beating_the_service_entry(
    echo: ModuleType,
) -> None:
    bridge = sb.Bridge(
        "payment",
        access=sb.AccessPolicy(
            default="deny",
            services={"conformance.Callee": ["billing"]},
            methods={ECHO: ["*"]},
        ),
    )
    bridge.serve(make_handler(echo))
    async with bridge:
        client = bridge.client(echo.CalleeClient, service="payment")
        assert (await client.echo(pb().Echo(text="x"))).text == "x"
        with pytest.raises(sb.AccessDeniedError):
            await client.info(pb().Echo())


async def test_a_policy_naming_what_the_bridge_does_not_serve_is_a_config_error(
    echo: ModuleType,
) -> None:
    bridge = sb.Bridge("payment", access=sb.AccessPolicy(methods={"conformance.Callee/Ech": []}))
    bridge.serve(make_handler(echo))
    with pytest.raises(sb.ConfigError, match=r"'conformance.Callee/Ech', which this bridge does"):
        await bridge.start()


def test_a_bare_string_of_callers_is_a_config_error() -> None:
    with pytest.raises(sb.ConfigError, match=r"give a list of caller names"):
        sb.AccessPolicy(methods={ECHO: "billing"})
    with pytest.raises(sb.ConfigError, match=r'use "allow" or "deny"'):
        sb.AccessPolicy(default="closed")  # type: ignore[arg-type]


async def test_a_refused_call_is_in_the_servers_span_with_telemetry_on(echo: ModuleType) -> None:
    """The server span wraps the access check (the unary path enters it only when telemetry
    records): a refused call over gRPC ends its span with PERMISSION_DENIED, an allowed one OK."""
    server = sb.Bridge(
        "payment",
        access=sb.AccessPolicy(methods={ECHO: ["billing"]}),
        telemetry=sb.TelemetryConfig(exporter="memory"),
    )
    handler = make_handler(echo)
    server.serve(handler)
    async with server, sb.Bridge("orders") as orders:
        client = orders.client(echo.CalleeClient, address=server.address, service="payment")
        with pytest.raises(sb.AccessDeniedError):
            await client.echo(pb().Echo(text="a"))
        await client.info(pb().Echo())
    spans = [s for s in server.telemetry.memory.spans() if s.kind.name == "SERVER"]
    codes = {s.name: (s.attributes or {}).get("rpc.grpc.status_code") for s in spans}
    assert codes == {ECHO: 7, "conformance.Callee/Info": 0}
    assert handler.served == {"info": 1}
