"""Each row of docs/decisions/0002-retry-rules.md, on an in-memory transport.

``FakeConnection`` implements the transport seam (runtime_lib._rpc.transports.base.Connection)
with scripted outcomes, so the invoker's retry, breaker and balancing rules run exactly as they
do over grpcio or grpclib, without a socket. tests/runtime/test_retry_rules.py proves the same
rules end to end on real gRPC.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

import runtime_lib as sb
from runtime_lib import codegen
from runtime_lib._errors import error_for
from runtime_lib._rpc.admission import Admission
from runtime_lib._rpc.attempts import Route, Target
from runtime_lib._rpc.breaker import BreakerState
from runtime_lib._rpc.client import RpcInvoker
from runtime_lib._rpc.dispatch import Dispatcher
from runtime_lib._rpc.endpoints import EndpointPool
from runtime_lib._rpc.idempotency import IdempotencyCache
from runtime_lib._rpc.transports.base import Connection, Outgoing, OutgoingCall

pytestmark = pytest.mark.timeout(30)

FAST = sb.RetryPolicy(base_delay=0.001, max_delay=0.002)


def _method(cardinality: codegen.Cardinality) -> codegen.MethodSpec[StringValue, StringValue]:
    return codegen.MethodSpec("M", "m", "/fake.S/M", cardinality, StringValue, StringValue)


UNARY = _method(codegen.Cardinality.UNARY)
SERVER_STREAM = _method(codegen.Cardinality.SERVER_STREAMING)
CLIENT_STREAM = _method(codegen.Cardinality.CLIENT_STREAMING)

Outcome = Message | sb.ServiceBridgeError
"""What one attempt gets: the reply, or the error the transport raises."""


class FakeConnection:
    """One endpoint. ``refuse_connect``: ``ready()`` fails (nothing is sent). ``outcomes``: what
    each dispatched unary call gets, in order; ``streams``: the items of each stream opened."""

    def __init__(
        self,
        address: str,
        *,
        refuse_connect: bool = False,
        outcomes: Sequence[Outcome] = (),
        streams: Sequence[Sequence[Outcome]] = (),
        default: Outcome | None = None,
    ) -> None:
        self.address = address
        self.refuse_connect = refuse_connect
        self.outcomes = list(outcomes)
        self.streams = [list(s) for s in streams]
        self.default = default if default is not None else StringValue(value=address)
        self.connected = False
        self.dispatched = 0
        self.sent: list[Any] = []
        self.request_ids: list[str] = []

    def is_ready(self) -> bool:
        return self.connected

    async def ready(self, within: float) -> None:
        if self.refuse_connect:
            raise sb.ConnectionFailedError(f"cannot connect to {self.address}", not_dispatched=True)
        self.connected = True

    def _next(self) -> Outcome:
        self.dispatched += 1
        return self.outcomes.pop(0) if self.outcomes else self.default

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        self.request_ids.append(call.request_id)
        outcome = self._next()
        if not isinstance(outgoing, Message):
            self.sent.append([m async for m in outgoing])
        if isinstance(outcome, sb.ServiceBridgeError):
            raise outcome
        return outcome

    def stream(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> FakeStream:
        self.dispatched += 1
        items = self.streams.pop(0) if self.streams else [self.default]
        return FakeStream(items)

    async def close(self) -> None:
        self.connected = False


class FakeStream:
    def __init__(self, items: list[Outcome]) -> None:
        self.items = items
        self.closed = False

    async def read(self) -> Message | None:
        if not self.items:
            return None
        item = self.items.pop(0)
        if isinstance(item, sb.ServiceBridgeError):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True


class Harness:
    """An invoker over fake endpoints (in the order given), as the bridge builds it."""

    def __init__(self, *connections: FakeConnection, breaker: sb.BreakerPolicy | None = None):
        self.connections = {c.address: c for c in connections}
        self.resolved = 0
        self.pool: EndpointPool[Connection] = EndpointPool(
            breaker or sb.BreakerPolicy(), connect=self._connect
        )
        target = Target("service 'fake'", self._resolve)
        route = Route(target, self.pool, "caller", {}, random.Random(7))
        self.invoker = RpcInvoker(
            route,
            Dispatcher(Admission(sb.AdmissionLimits()), IdempotencyCache(sb.IdempotencyPolicy())),
        )

    def _connect(self, address: str, tls: object = None) -> Connection:
        return self.connections[address]

    def _resolve(self) -> list[sb.Instance]:
        self.resolved += 1
        return [sb.Instance(address) for address in self.connections]

    def call(self, **options: Any) -> Awaitable[StringValue]:
        merged: Any = {"retry": FAST, **options}
        return self.invoker.unary(UNARY, StringValue(value="req"), merged)

    def breaker(self, address: str) -> BreakerState:
        return self.pool.get(address).breaker.state


def _error(code: sb.ErrorCode, *, not_dispatched: bool = False) -> sb.ServiceBridgeError:
    if code is sb.ErrorCode.HANDLER:
        return sb.HandlerError("CARD_DECLINED", "declined")
    return error_for(code, f"scripted {code}", not_dispatched=not_dispatched)


# -- 1. proven before dispatch: retried on another endpoint, key or not -------------------------


async def test_never_ready_channel_is_retried_on_another_endpoint() -> None:
    down = FakeConnection("down", refuse_connect=True)
    up = FakeConnection("up")
    harness = Harness(down, up)
    for _ in range(8):  # the balancer picks "down" first for some of them
        assert (await harness.call()).value == "up"
    assert down.dispatched == 0
    assert up.dispatched == 8


async def test_every_attempt_of_a_call_sends_its_one_request_id() -> None:
    refused = _error(sb.ErrorCode.CONNECTION, not_dispatched=True)
    first = FakeConnection("first", outcomes=[refused])
    second = FakeConnection("second", outcomes=[refused])
    harness = Harness(first, second)
    await harness.call(retry=sb.RetryPolicy(max_attempts=3, base_delay=0.001))
    await harness.call()
    ids = first.request_ids + second.request_ids
    assert len(ids) == 4  # three attempts of the first call, one of the second
    assert len(set(ids)) == 2
    assert ids.count(first.request_ids[0]) == 3


class _Interrupted(FakeConnection):
    """Its calls end in an exception that is not the runtime's (the caller's cancellation)."""

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        self.dispatched += 1
        raise asyncio.CancelledError


async def test_an_attempt_ended_by_cancellation_releases_its_endpoint_and_is_not_retried() -> None:
    only = _Interrupted("only")
    harness = Harness(only)
    with pytest.raises(asyncio.CancelledError):
        await harness.call()
    endpoint = harness.pool.get("only")
    assert (only.dispatched, endpoint.inflight) == (1, 0)
    assert endpoint.breaker.state is BreakerState.CLOSED


async def test_open_breaker_is_skipped_for_another_endpoint() -> None:
    broken, fine = FakeConnection("broken"), FakeConnection("fine")
    harness = Harness(broken, fine, breaker=sb.BreakerPolicy(min_calls=1))
    breaker = harness.pool.get("broken").breaker
    breaker.acquire()
    breaker.record(False)
    assert harness.breaker("broken") is BreakerState.OPEN
    for _ in range(4):
        assert (await harness.call()).value == "fine"
    assert broken.dispatched == 0


async def test_open_breaker_on_the_only_endpoint_fails_not_dispatched() -> None:
    only = FakeConnection("only")
    harness = Harness(only, breaker=sb.BreakerPolicy(min_calls=1))
    breaker = harness.pool.get("only").breaker
    breaker.acquire()
    breaker.record(False)
    with pytest.raises(sb.ConnectionFailedError) as refused:
        await harness.call()
    assert refused.value.not_dispatched
    assert "open circuit breaker" in refused.value.message
    assert only.dispatched == 0


async def test_not_dispatched_marker_is_retried_on_another_endpoint() -> None:
    full = FakeConnection("full", default=_error(sb.ErrorCode.OVERLOADED, not_dispatched=True))
    spare = FakeConnection("spare")
    harness = Harness(full, spare)
    for _ in range(8):  # no key: the marker alone allows the retry
        assert (await harness.call()).value == "spare"
    assert full.dispatched >= 1
    assert spare.dispatched == 8


# -- 2. ambiguous: retried only with an idempotency key -----------------------------------------

AMBIGUOUS = [sb.ErrorCode.INTERNAL, sb.ErrorCode.CONNECTION, sb.ErrorCode.OVERLOADED]


@pytest.mark.parametrize("code", AMBIGUOUS)
async def test_ambiguous_failure_with_key_is_retried(code: sb.ErrorCode) -> None:
    only = FakeConnection("only", outcomes=[_error(code)])
    assert (await Harness(only).call(idempotency_key="k")).value == "only"
    assert only.dispatched == 2


@pytest.mark.parametrize("code", AMBIGUOUS)
async def test_ambiguous_failure_without_key_is_not_retried(code: sb.ErrorCode) -> None:
    only = FakeConnection("only", outcomes=[_error(code)])
    with pytest.raises(sb.ServiceBridgeError) as failed:
        await Harness(only).call()
    assert failed.value.code is code
    assert only.dispatched == 1


# -- 3. definite answers: never retried, even with a key ----------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        sb.ErrorCode.TIMEOUT,
        sb.ErrorCode.HANDLER,
        sb.ErrorCode.VALIDATION,
        sb.ErrorCode.ACCESS_DENIED,
        sb.ErrorCode.NOT_FOUND,
        sb.ErrorCode.CANCELLED,
    ],
)
async def test_definite_answer_is_never_retried(code: sb.ErrorCode) -> None:
    first, second = FakeConnection("first", default=_error(code)), FakeConnection("second")
    harness = Harness(first, second)
    harness.pool.get("second").inflight = 1_000  # the balancer sends the first attempt to "first"
    with pytest.raises(sb.ServiceBridgeError) as failed:
        await harness.call(idempotency_key="k")
    assert failed.value.code is code
    assert first.dispatched == 1
    assert second.dispatched == 0


async def test_no_live_instance_fails_fast() -> None:
    harness = Harness()  # an empty registry
    with pytest.raises(sb.NoLiveInstanceError) as failed:
        await harness.call(idempotency_key="k")
    assert failed.value.retryable  # the caller may try again later...
    assert harness.resolved == 1  # ...but this call did not burn its deadline retrying


# -- 4. overload is back-pressure, not an endpoint failure --------------------------------------


async def test_overload_refusals_do_not_open_the_breaker() -> None:
    refusal = _error(sb.ErrorCode.OVERLOADED, not_dispatched=True)
    busy = FakeConnection("busy", outcomes=[refusal] * 50)
    harness = Harness(busy)  # the default breaker opens past 10 calls with > 50 % failures
    once = sb.RetryPolicy(max_attempts=1)
    for _ in range(50):
        with pytest.raises(sb.OverloadedError):
            await harness.call(retry=once)
    assert harness.breaker("busy") is BreakerState.CLOSED
    assert (await harness.call(retry=once)).value == "busy"  # not locked out once it has room
    assert busy.dispatched == 51


async def test_exhausted_retry_of_overload_refusals_is_overloaded() -> None:
    refusal = _error(sb.ErrorCode.OVERLOADED, not_dispatched=True)
    a = FakeConnection("a", default=refusal)
    b = FakeConnection("b", default=refusal)
    with pytest.raises(sb.OverloadedError) as failed:
        await Harness(a, b).call(retry=sb.RetryPolicy(max_attempts=3, base_delay=0.001))
    assert failed.value.not_dispatched
    assert a.dispatched + b.dispatched == 3


# -- 5. streams ---------------------------------------------------------------------------------


def _replies(*values: str) -> list[Outcome]:
    return [StringValue(value=v) for v in values]


async def _read_all(replies: AsyncIterator[StringValue]) -> list[str]:
    return [r.value async for r in replies]


async def test_server_stream_is_retried_before_its_first_message() -> None:
    only = FakeConnection("only", streams=[[_error(sb.ErrorCode.INTERNAL)], _replies("one", "two")])
    harness = Harness(only)
    replies = harness.invoker.server_stream(
        SERVER_STREAM, StringValue(), {"retry": FAST, "idempotency_key": "k"}
    )
    assert await _read_all(replies) == ["one", "two"]
    assert only.dispatched == 2


async def test_server_stream_is_not_retried_after_its_first_message() -> None:
    broken = [*_replies("one"), _error(sb.ErrorCode.CONNECTION)]
    only = FakeConnection("only", streams=[broken, _replies("again")])
    harness = Harness(only)
    replies = harness.invoker.server_stream(
        SERVER_STREAM, StringValue(), {"retry": FAST, "idempotency_key": "k"}
    )
    seen: list[str] = []
    with pytest.raises(sb.ConnectionFailedError):
        async for reply in replies:
            seen.append(reply.value)
    assert seen == ["one"]
    assert only.dispatched == 1


async def _requests() -> AsyncIterator[StringValue]:
    for text in ("a", "b"):
        yield StringValue(value=text)


async def test_client_stream_is_retried_when_nothing_was_sent() -> None:
    down, up = FakeConnection("down", refuse_connect=True), FakeConnection("up")
    harness = Harness(down, up)
    harness.pool.get("up").inflight = 1_000  # the first attempt goes to "down"
    reply = await harness.invoker.client_stream(CLIENT_STREAM, _requests(), {"retry": FAST})
    assert reply.value == "up"
    assert [[m.value for m in sent] for sent in up.sent] == [["a", "b"]]


@pytest.mark.parametrize("marker", [True, False])
async def test_client_stream_is_not_retried_once_sent(marker: bool) -> None:
    # Even the not-dispatched marker or a key cannot bring back a consumed request iterator.
    refusal = _error(sb.ErrorCode.OVERLOADED, not_dispatched=marker)
    only = FakeConnection("only", outcomes=[refusal])
    harness = Harness(only)
    with pytest.raises(sb.OverloadedError):
        await harness.invoker.client_stream(
            CLIENT_STREAM, _requests(), {"retry": FAST, "idempotency_key": "k"}
        )
    assert only.dispatched == 1


# -- a spent deadline is always TIMEOUT ---------------------------------------------------------


class PastDeadline(FakeConnection):
    """Answers each call with ``failure`` once the call's budget has run out, as gRPC core does
    when it reports a deadline as INTERNAL or CANCELLED."""

    def __init__(self, failure: sb.ServiceBridgeError) -> None:
        super().__init__("late")
        self.failure = failure

    async def unary(self, call: OutgoingCall, outgoing: Outgoing, left: float) -> Message:
        self.dispatched += 1
        await asyncio.sleep(left + 0.01)
        raise self.failure


@pytest.mark.parametrize(
    "code", [sb.ErrorCode.INTERNAL, sb.ErrorCode.CANCELLED, sb.ErrorCode.CONNECTION]
)
async def test_ambiguous_failure_after_the_deadline_is_a_timeout(code: sb.ErrorCode) -> None:
    harness = Harness(PastDeadline(_error(code)))
    with pytest.raises(sb.CallTimeoutError):
        await harness.call(timeout=0.05, idempotency_key="k")


async def test_handler_answer_after_the_deadline_stays_a_handler_error() -> None:
    harness = Harness(PastDeadline(_error(sb.ErrorCode.HANDLER)))
    with pytest.raises(sb.HandlerError):
        await harness.call(timeout=0.05)
