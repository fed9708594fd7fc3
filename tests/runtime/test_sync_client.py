"""Generated sync clients (``CalleeSyncClient``) through ``SyncBridge``, against the generated
handlers over real gRPC: every cardinality, every call option, every error class, the retry
rules (a not-dispatched refusal moves to another endpoint; an ambiguous failure is retried only
with an idempotency key, and replayed), deadlines and telemetry. The servers run on a loop of
their own thread (``served.py``); the calls block the test's thread, with no loop of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from echo_service import SDK, make_handler, pb, until
from faults import Faults
from served import ServedInThread, free_address

import runtime_lib as sb
from runtime_lib import codegen

pytestmark = pytest.mark.timeout(60)

ECHO = "/conformance.Callee/Echo"
WATCH = "/conformance.Callee/Watch"
FAST = sb.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def _serving(
    echo: ModuleType, name: str = SDK, methods: dict[str, Any] | None = None, **options: Any
) -> tuple[ServedInThread, Any]:
    """A counting handler (``methods`` replaces some of its methods) on a bridge of its own."""
    handler = make_handler(echo, name)
    for attr, method in (methods or {}).items():
        setattr(handler, attr, method)  # before serve(): it reads them from the instance
    bridge = sb.Bridge("echo", **options)
    bridge.serve(handler)
    return ServedInThread(bridge), handler


def _texts(*texts: str) -> Iterator[Any]:
    for text in texts:
        yield pb().Echo(text=text)


def test_every_cardinality_over_grpc_without_an_event_loop(echo: ModuleType) -> None:
    served, _ = _serving(echo)
    with served, sb.SyncBridge("script", registry={"echo": [served.address]}) as caller:
        client = caller.client(echo.CalleeSyncClient, service="echo")
        reply = client.echo(pb().Echo(text="hi", n=2))
        assert (reply.text, reply.n, reply.handled_by) == ("hi", 2, SDK)
        assert [r.n for r in client.watch(pb().Echo(text="w", n=3))] == [0, 1, 2]
        assert client.upload([pb().Echo(text="a"), pb().Echo(text="b")]).text == "ab"
        assert [r.text for r in client.chat(_texts("p", "q"))] == ["P", "Q"]
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()  # none was started in this thread


def test_every_call_option(echo: ModuleType) -> None:
    async def stamped(request: Any, ctx: sb.CallContext) -> Any:
        ctx.set_header("x-served", "yes")
        ctx.set_trailer("x-count", "7")
        return pb().EchoReply(text=request.text)

    served, handler = _serving(echo, methods={"stats": stamped})
    defaults: sb.CallOptions = {"metadata": {"x-team": "pay"}, "timeout": "20s"}
    with served, sb.SyncBridge("script", call_defaults=defaults) as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        info = client.info(pb().Echo(), timeout="2s", idempotency_key="ik")
        assert (info.text, info.handled_by) == ("script", "ik")  # caller name, key
        assert 0 < info.n <= 2000  # the handler's deadline is the call's timeout
        assert 2000 < client.info(pb().Echo()).n <= 20_000  # call_defaults' timeout
        client.echo(pb().Echo(), request_id="rid-1", metadata={"X-Tenant": "t1", "k-bin": b"\1"})
        ctx = handler.contexts[-1]
        assert ctx.request_id == "rid-1"
        assert (ctx.metadata["x-tenant"], ctx.metadata["k-bin"]) == ("t1", b"\1")
        assert "x-team" not in ctx.metadata  # a call's metadata replaces the default's
        client.echo(pb().Echo())
        assert handler.contexts[-1].metadata["x-team"] == "pay"
        md = sb.ReplyMetadata()
        assert client.stats(pb().Echo(text="s"), reply_metadata=md).text == "s"
        assert (md.headers["x-served"], md.trailers["x-count"]) == ("yes", "7")
        assert client.echo(pb().Echo(text="d"), transport="direct").text == "d"
        with pytest.raises(sb.NoLiveInstanceError, match="SyncBridge serves none"):
            client.echo(pb().Echo(), transport="inproc")
        with pytest.raises(sb.ConfigError, match="timeout 'fast'"):
            client.echo(pb().Echo(), timeout="fast")
        with pytest.raises(sb.ConfigError, match="unknown call option timeuot="):
            client.echo(pb().Echo(), **{"timeuot": 3})
        with pytest.raises(sb.ConfigError, match="metadata= entry 'grpc-x'"):
            client.watch(pb().Echo(), metadata={"grpc-x": "no"})  # at the call, not at next()


def test_retry_option_bounds_the_attempts(echo: ModuleType) -> None:
    faults = Faults()
    faults.plan[ECHO] = ["OVERLOAD"] * 4  # refused before the handler, as a full server does
    served, handler = _serving(echo, rpc=sb.RpcConfig(interceptors=[faults]))
    with served, sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        with pytest.raises(sb.OverloadedError) as refused:
            client.echo(pb().Echo(), retry=sb.RetryPolicy(max_attempts=1))
        assert refused.value.not_dispatched
        assert faults.seen[ECHO] == 1
        with pytest.raises(sb.OverloadedError):
            client.echo(pb().Echo(), retry=FAST)
        assert faults.seen[ECHO] == 1 + 3
        assert handler.served["echo"] == 0


def test_not_dispatched_refusal_is_retried_on_another_endpoint(echo: ModuleType) -> None:
    faults = Faults()
    faults.plan[ECHO] = ["OVERLOAD"] * 64  # "a" refuses every call, as a full server does
    faults.plan[WATCH] = ["OVERLOAD"] * 8
    busy, _ = _serving(echo, "a", rpc=sb.RpcConfig(interceptors=[faults]))
    free, handler_b = _serving(echo, "b")
    with busy, free:
        registry = {"echo": [busy.address, free.address]}
        with sb.SyncBridge("script", registry=registry) as caller:
            client = caller.client(echo.CalleeSyncClient, service="echo")
            # The balancer picks either endpoint first; call until "a" has refused one.
            calls = 0
            while faults.seen[ECHO] == 0 and calls < 64:
                calls += 1
                assert client.echo(pb().Echo(text="x"), retry=FAST).handled_by == "b"
            assert faults.seen[ECHO] >= 1, "the balancer never chose the refusing endpoint"
            assert handler_b.served["echo"] == calls  # each ran once, on "b", no key needed
            replies = list(client.watch(pb().Echo(n=2), retry=FAST))
            assert [r.handled_by for r in replies] == ["b", "b"]


def test_unreachable_endpoint_fails_over_and_alone_is_connection_failed(echo: ModuleType) -> None:
    served, _ = _serving(echo)
    dead = free_address()
    with served, sb.SyncBridge("script", registry={"echo": [dead, served.address]}) as caller:
        client = caller.client(echo.CalleeSyncClient, service="echo")
        for _ in range(4):  # whichever comes first, the call lands on the live one
            assert client.echo(pb().Echo(text="ok"), retry=FAST).text == "ok"
        alone = caller.client(echo.CalleeSyncClient, address=dead)
        with pytest.raises(sb.ConnectionFailedError) as failed:
            alone.echo(pb().Echo(), retry=sb.RetryPolicy(max_attempts=1))
        assert failed.value.not_dispatched
        assert dead in failed.value.message


def test_ambiguous_failure_is_retried_with_a_key_and_replayed(echo: ModuleType) -> None:
    faults = Faults()
    served, handler = _serving(echo, rpc=sb.RpcConfig(interceptors=[faults]))
    with served, sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        faults.plan[ECHO] = ["UNAVAILABLE"]
        with pytest.raises(sb.ConnectionFailedError) as lost:
            client.echo(pb().Echo(text="once"), retry=FAST)  # no key: the caller decides
        assert not lost.value.not_dispatched
        assert handler.served["echo"] == 1
        faults.plan[ECHO] = ["UNAVAILABLE"]
        reply = client.echo(pb().Echo(text="pay"), retry=FAST, idempotency_key="pay-1")
        assert reply.text == "pay"
        assert faults.seen[ECHO] == 1 + 2  # the lost reply, then the retry
        assert handler.served["echo"] == 2  # the retry was answered from the replay cache
        again = client.echo(pb().Echo(text="pay"), idempotency_key="pay-1")
        assert again.text == "pay"
        assert handler.served["echo"] == 2
        with pytest.raises(sb.ConflictError):
            client.echo(pb().Echo(text="other"), idempotency_key="pay-1")


def test_every_error_class(echo: ModuleType) -> None:
    async def unimplemented(request: Any, ctx: sb.CallContext) -> Any:
        raise NotImplementedError

    faults = Faults()
    served, handler = _serving(
        echo, methods={"absent": unimplemented}, rpc=sb.RpcConfig(interceptors=[faults])
    )
    handler.gate = asyncio.Event()
    with served, sb.SyncBridge("script", registry={}) as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        with pytest.raises(sb.HandlerError) as declined:
            client.decline(pb().Echo())
        assert (declined.value.handler_code, declined.value.message) == (
            "CARD_DECLINED",
            "card declined",
        )
        with pytest.raises(sb.HandlerError) as crashed:
            client.crash(pb().Echo(), request_id="r-9")
        assert crashed.value.handler_code == "INTERNAL"
        assert "r-9" in crashed.value.message
        assert "database is down" not in crashed.value.message  # nothing internal crosses
        with pytest.raises(sb.UnimplementedError):
            client.absent(pb().Echo())
        with pytest.raises(sb.CallTimeoutError):
            client.slow(pb().Echo(), timeout="200ms")
        served.call(handler.gate.set)
        with pytest.raises(sb.CallTimeoutError):
            list(client.watch(pb().Echo(n=1), timeout=0.000_001))
        mismatched = dataclasses.replace(echo._CALLEE_ECHO, contract_hash="v2:other")
        with pytest.raises(sb.ValidationError, match="v2:other"):
            client._unary(mismatched, pb().Echo(), {})
        faults.plan["/conformance.Callee/Info"] = ["DENY"]
        with pytest.raises(sb.ServiceBridgeError) as denied:
            client.info(pb().Echo())
        assert denied.value.code is sb.ErrorCode.ACCESS_DENIED
        faults.plan["/conformance.Callee/Info"] = ["CANCELLED"]
        with pytest.raises(sb.CallCancelledError):
            client.info(pb().Echo())
        nowhere = caller.client(echo.CalleeSyncClient, service="ledger")
        with pytest.raises(sb.NoLiveInstanceError, match="ledger"):
            nowhere.echo(pb().Echo())


def test_deadline_covers_every_attempt(echo: ModuleType) -> None:
    served, handler = _serving(echo)
    handler.gate = asyncio.Event()
    with served, sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        with pytest.raises(sb.CallTimeoutError):
            client.slow(pb().Echo(), timeout="300ms", idempotency_key="k", retry=FAST)
        assert handler.served["slow"] == 1  # a timeout is never retried
        served.call(handler.gate.set)


def test_leaving_a_stream_early_cancels_it(echo: ModuleType) -> None:
    served, handler = _serving(echo)
    with served, sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        replies = client.watch(pb().Echo(n=1_000_000))
        assert next(replies).n == 0
        replies.close()  # what leaving a for loop over it early does, once collected
        served.run(until(lambda: handler.cancelled == 1, "the server stopped the stream"))


def test_telemetry_spans_the_call_and_reaches_the_server(echo: ModuleType) -> None:
    memory = sb.TelemetryConfig(exporter="memory")
    served, _ = _serving(echo, telemetry=memory)
    with served, sb.SyncBridge("script", telemetry=memory) as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)
        client.echo(pb().Echo(text="t"))
        assert [r.n for r in client.watch(pb().Echo(n=2))] == [0, 1]
        client_spans = caller.telemetry.memory.spans()
        server_spans = served.bridge.telemetry.memory.spans()
    assert [s.name for s in client_spans] == [
        "conformance.Callee/Echo",
        "conformance.Callee/Watch",
    ]
    by_name = {s.name: s for s in server_spans}
    for span in client_spans:
        assert span.context is not None
        served_span = by_name[span.name]
        assert served_span.parent is not None
        assert served_span.parent.span_id == span.context.span_id


def test_only_static_registries_without_a_loop() -> None:
    with pytest.raises(sb.ConfigError, match="NatsKvRegistry needs an event loop"):
        sb.SyncBridge("script", registry=sb.NatsKvRegistry("nats://127.0.0.1:4222"))  # type: ignore[arg-type]
    with pytest.raises(sb.ConfigError, match="needs address=, service=, or both"):
        sb.SyncBridge("script").client(codegen.SyncClientBase)
    with pytest.raises(sb.ConfigError, match="timeout"):
        sb.SyncBridge("script", call_defaults={"timeout": "soon"})


def test_a_sync_bridge_belongs_to_its_thread(echo: ModuleType) -> None:
    served, handler = _serving(echo)
    failures: list[BaseException] = []
    with served, sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=served.address)

        def elsewhere() -> None:
            try:
                client.echo(pb().Echo())
            except sb.ConfigError as refused:
                failures.append(refused)

        other = threading.Thread(target=elsewhere)
        other.start()
        other.join()
        assert client.echo(pb().Echo(text="here")).text == "here"
    assert len(failures) == 1
    assert "threading.local()" in str(failures[0])
    assert handler.served["echo"] == 1


def test_a_restarted_peer_is_reached_again(echo: ModuleType) -> None:
    listen = free_address()
    patient = sb.RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.2)
    with sb.SyncBridge("script") as caller:
        client = caller.client(echo.CalleeSyncClient, address=listen)
        first, _ = _serving(echo, "first", listen=listen)
        with first:
            assert client.echo(pb().Echo()).handled_by == "first"
        second, _ = _serving(echo, "second", listen=listen)
        with second:
            # Not dispatched while the channel reconnects: retried until it has.
            reply = client.echo(pb().Echo(), retry=patient, timeout="30s")
            assert reply.handled_by == "second"


def test_a_reply_over_the_sync_clients_limit_is_a_validation_error_unless_raised(
    echo: ModuleType,
) -> None:
    served, _ = _serving(echo, rpc=sb.RpcConfig(max_message_size=8 * 1024 * 1024))
    big = pb().Echo(text="x" * (5 * 1024 * 1024))
    with served:
        with sb.SyncBridge("script") as caller:
            client = caller.client(echo.CalleeSyncClient, address=served.address)
            with pytest.raises(sb.ValidationError, match="larger than its receiver accepts"):
                client.echo(big)
        with sb.SyncBridge("script", max_message_size=8 * 1024 * 1024) as caller:
            client = caller.client(echo.CalleeSyncClient, address=served.address)
            assert len(client.echo(big).text) == 5 * 1024 * 1024
    with pytest.raises(sb.ConfigError, match="max_message_size=10: must be at least 1024"):
        sb.SyncBridge("script", max_message_size=10)
