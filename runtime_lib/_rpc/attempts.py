"""The retry loop's decisions, shared by the async invoker (``client.py``) and the sync one
(``runtime_lib._sync``): which endpoints may serve a call, which one an attempt goes to, what a
failure tells that endpoint's breaker, and whether (and after how long) the call is tried again.
The invokers only do the waiting and the sending. See ``retry.py`` for what may be retried.

    attempts = route.attempts(call, replayable=True)
    while True:
        try:
            endpoint = attempts.lease()          # raises a refusal (breaker, deadline)
            ...wait until endpoint.connection is ready (nothing sent if that fails)...
            return endpoint, send(endpoint.connection, attempts.send())
        except BaseException as exc:
            if not attempts.failed(exc):         # True: the rules retry it
                raise
        sleep(attempts.pause)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from runtime_lib._errors import (
    CallTimeoutError,
    ConfigError,
    ConnectionFailedError,
    ErrorCode,
    NoLiveInstanceError,
    ServiceBridgeError,
)
from runtime_lib._registry.base import Instance
from runtime_lib._rpc import balancer, retry
from runtime_lib._rpc.endpoints import Endpoint, EndpointPool
from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.outgoing import CallPreparer
from runtime_lib._rpc.spec import MethodSpec
from runtime_lib._rpc.transports.base import OutgoingCall
from runtime_lib._telemetry.spans import NO_RPC_CLIENT

# Failures that say the endpoint itself is unwell; anything else (a handler error, a rejected
# argument) is an answer from a working endpoint and counts as a success for its breaker.
_ENDPOINT_FAILURES = frozenset(
    {ErrorCode.CONNECTION, ErrorCode.TIMEOUT, ErrorCode.OVERLOADED, ErrorCode.INTERNAL}
)

_NONE_TRIED: frozenset[str] = frozenset()

C = TypeVar("C")  # the connection type: async transport, or the sync one


@dataclass(frozen=True, slots=True)
class Target:
    """Where a client's calls go. ``local`` is set when this bridge serves the target itself;
    ``service`` is who must answer (checked in the TLS handshake when the bridge has TLS).
    Either ``resolve`` looks the instances up on every call, or ``address`` is the one
    endpoint, taken to serve every method (nothing to look up or filter)."""

    name: str
    resolve: Callable[[], Sequence[Instance]] | None
    local: bool = False
    service: str | None = None
    address: str | None = None

    def endpoints(self, pool: EndpointPool[C], method: MethodSpec[Any, Any]) -> list[Endpoint[C]]:
        """The endpoints that serve ``method`` with its contract (NoLiveInstanceError if none)."""
        if self.resolve is None:
            assert self.address is not None
            return [pool.get(self.address, self.service)]
        instances = self.resolve()
        if len(instances) == 1:
            only = instances[0]
            if only.serves(method.path, method.contract_hash):
                return [pool.get(only.address, self.service)]
        matching = [i for i in instances if i.serves(method.path, method.contract_hash)]
        if not matching:
            why = " with a matching contract" if instances else ""
            raise NoLiveInstanceError(f"no live instance of {self.name}{why} for {method.path}")
        return [pool.get(i.address, self.service) for i in matching]


def client_target(
    resolve: Callable[[str], Sequence[Instance]],
    *,
    address: str | None,
    service: str | None,
    own_service: str | None = None,
) -> Target:
    """The target of a new client: one ``address``, or a ``service`` name that ``resolve``
    looks up on every call (``own_service``: the name a bridge serves as, if any). With both,
    calls go to ``address`` and ``service`` names who must answer there (what TLS checks)."""
    if address is None and service is None:
        raise ConfigError("client() needs address=, service=, or both")
    if address is not None:
        return Target(f"address {address}", None, service=service, address=address)
    assert service is not None
    name = service
    return Target(
        f"service {name!r}", lambda: resolve(name), local=name == own_service, service=name
    )


def verdict(error: ServiceBridgeError) -> bool | None:
    """What a failed call tells the endpoint's breaker. An overload refusal (not dispatched) is
    back-pressure from a healthy server, not a failure: no verdict, or a burst of them would
    lock callers out of it for the breaker's whole ``open_for``."""
    if error.code is ErrorCode.OVERLOADED and error.not_dispatched:
        return None
    return error.code not in _ENDPOINT_FAILURES


def finish(endpoint: Endpoint[Any], ok: bool | None) -> None:
    """End a lease: drop the in-flight count and tell the breaker (None: no verdict)."""
    endpoint.inflight -= 1
    if ok is None:
        endpoint.breaker.release()
    else:
        endpoint.breaker.record(ok)


def _spent(call: OutgoingCall, refused: ServiceBridgeError) -> ServiceBridgeError:
    """A connection refused because the call's own deadline ran out is a TIMEOUT (nothing was
    sent), whatever the connection was doing at that moment."""
    if time.monotonic() < call.deadline:
        return refused
    return CallTimeoutError(
        f"{call.method.path}: deadline passed while connecting ({refused.message})",
        not_dispatched=True,
    )


# What gRPC may report instead of DEADLINE_EXCEEDED when the deadline runs out mid-call (seen:
# INTERNAL "Internal error from Core" on a bidi stream with a 1 ms budget, CANCELLED, UNAVAILABLE).
_AMBIGUOUS_AT_DEADLINE = frozenset({ErrorCode.INTERNAL, ErrorCode.CANCELLED, ErrorCode.CONNECTION})


def _timed_out(call: OutgoingCall, failure: ServiceBridgeError) -> ServiceBridgeError:
    """A spent deadline is always TIMEOUT: an ambiguous failure that arrives once the call's
    budget is gone is the deadline's doing, whatever status the transport made of it. Answers
    from a handler (HANDLER, VALIDATION, ...) stay what they are."""
    if failure.code not in _AMBIGUOUS_AT_DEADLINE or time.monotonic() < call.deadline:
        return failure
    return CallTimeoutError(
        f"{call.method.path}: deadline passed ({failure.message})",
        not_dispatched=failure.not_dispatched,
    )


class Attempts(Generic[C]):
    """The attempts of one call, one at a time. ``lease()`` takes the next attempt's endpoint
    (its in-flight count, its breaker's claim), ``send()`` marks its request as leaving, and
    ``failed(exc)`` judges what it raised: told to the breaker, then either retried (``True``;
    wait ``pause`` first) or raised on. A success leaves the endpoint held: the invoker
    finishes it once the reply (or the reply stream) is done.

    A plain try/except in the invokers rather than a lease object used as a context manager:
    the successful attempt, the one that counts, then costs no object and no ``__exit__``.
    """

    __slots__ = (
        "_endpoint",
        "_replayable",
        "_route",
        "_sent",
        "_tried",
        "call",
        "number",
        "pause",
        "remaining",
    )

    # Set by lease(), which comes first: not set here, as every assignment costs per call.
    _endpoint: Endpoint[C] | None
    _sent: bool
    remaining: float

    def __init__(self, call: OutgoingCall, route: Route[C], replayable: bool) -> None:
        self.call = call
        self._route = route
        self._replayable = replayable
        self._tried = _NONE_TRIED
        self.number = 0
        self.pause = 0.0

    def lease(self) -> Endpoint[C]:
        """Choose and take an endpoint for the next attempt, with ``remaining`` seconds to its
        deadline. Raises NoLiveInstanceError if none serves the method, or the refusal (every
        breaker open, deadline passed), which ``failed`` judges like any failure."""
        self.number += 1
        self._endpoint = None
        self._sent = False
        call = self.call
        route = self._route
        endpoints = route.target.endpoints(route.pool, call.method)
        endpoint = balancer.pick(endpoints, route.rng, self._tried)
        if endpoint is None:
            raise ConnectionFailedError(
                f"every endpoint of {route.target.name} has an open circuit breaker",
                not_dispatched=True,
            )
        if call.observer is not NO_RPC_CLIENT:
            call.observer.attempt(self.number, endpoint.address)
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise CallTimeoutError(f"{call.method.path}: deadline passed")
        if not endpoint.breaker.acquire():
            raise ConnectionFailedError(
                f"open circuit breaker for {endpoint.address}", not_dispatched=True
            )
        endpoint.inflight += 1
        self._endpoint = endpoint
        self.remaining = remaining
        return endpoint

    def send(self) -> float:
        """Mark the request as (possibly) leaving now; the seconds left to the deadline."""
        self._sent = True
        return self.call.deadline - time.monotonic()

    def failed(self, exc: BaseException) -> bool:
        """Judge what the attempt raised: ``True`` when another attempt follows; ``False`` when
        ``exc`` is not a ``ServiceBridgeError`` (the lease ends with no verdict; raise it on);
        else raises the error that ends the call."""
        endpoint, self._endpoint = self._endpoint, None
        if not isinstance(exc, ServiceBridgeError):
            if endpoint is not None:
                finish(endpoint, None)
            return False
        error = exc
        if endpoint is not None:
            if self._sent:
                finish(endpoint, verdict(error))
                error = _timed_out(self.call, error)
            else:
                finish(endpoint, False)
                error = _spent(self.call, error)
        self._again(error, endpoint)
        return True

    def _again(self, error: ServiceBridgeError, endpoint: Endpoint[Any] | None) -> None:
        """Set ``pause`` before the next attempt, or raise ``error`` when there is none: the
        rules forbid a retry, the attempts are used up, or the deadline comes first."""
        call = self.call
        can_replay = self._replayable or not self._sent
        idempotent = call.idempotency_key is not None
        if not (can_replay and retry.may_retry(error, idempotent=idempotent)):
            raise error from None
        if self.number >= call.retry.max_attempts:
            raise error from None
        if endpoint is not None:
            self._tried = self._tried | {endpoint.address}
        delay = retry.backoff(call.retry, self.number, self._route.rng)
        if time.monotonic() + delay >= call.deadline:
            raise error from None
        self.pause = delay


class Route(Generic[C]):
    """What every call of one client shares, in either invoker: where the calls go
    (``target``, through ``pool``), as whom (``caller``), and from which ``call_defaults``."""

    __slots__ = ("_calls", "caller", "pool", "rng", "target")

    def __init__(
        self,
        target: Target,
        pool: EndpointPool[C],
        caller: str,
        defaults: CallOptions,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.caller = caller
        self.pool = pool
        # Under mutual TLS the server reads the caller from its certificate, so no sb-caller.
        self._calls = CallPreparer(caller, defaults, claim_caller=not pool.secured)
        self.rng = rng or random.Random()

    def prepare(self, method: MethodSpec[Any, Any], options: CallOptions) -> OutgoingCall:
        """One call from its options (see ``outgoing.py``)."""
        return self._calls.prepare(method, options)

    def attempts(self, call: OutgoingCall, *, replayable: bool) -> Attempts[C]:
        """The attempts of ``call`` over this route's endpoints."""
        return Attempts(call, self, replayable)
