"""RpcConfig: every setting of a bridge's calls and server, checked when it is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc

from runtime_lib._errors import ConfigError, check_at_least
from runtime_lib._rpc.admission import AdmissionLimits
from runtime_lib._rpc.breaker import BreakerPolicy
from runtime_lib._rpc.deadline import parse_timeout
from runtime_lib._rpc.idempotency import IdempotencyPolicy
from runtime_lib._rpc.options import CallOptions, NetworkTransport, check_call_options
from runtime_lib._rpc.transports import NETWORK
from runtime_lib._rpc.transports.base import DEFAULT_MAX_MESSAGE_SIZE, check_max_message_size


@dataclass(frozen=True)
class RpcConfig:
    """``Bridge(rpc=RpcConfig(...))``.

    call_defaults: :class:`CallOptions` every call starts from (per-call options win).
    transport: the gRPC library of the bridge, both ways: it carries the calls to other
      processes and serves the calls to this one. ``"grpcio"`` (default) or ``"grpclib"`` (pure
      Python, the same wire; ``pip install 'sb-gen[grpclib]'``).
    admission: concurrent and queued call limits of the server (256 + 256).
    idempotency: TTL and size of the server's replay cache (24 h, 10 000 entries).
    breaker: circuit breaker policy for each endpoint this bridge calls (10 s, 10, 50 %, 30 s).
    drain_timeout: how long ``stop()`` waits for in-flight calls, in seconds.
    interceptors: ``grpc.aio`` server interceptors (authentication, logging), outermost first;
      transport ``"grpcio"`` only.
    expose_errors: send a crashed handler's exception type and text to the caller (for
      development; by default the caller gets a generic message with the request id and the
      traceback goes to the ``runtime_lib.rpc`` log).
    reflection: serve gRPC server reflection (on by default), so grpcurl, Postman and evans can
      list and call the served methods; ``False`` hides the service catalogue.
    max_message_size: the largest message, in bytes, this bridge receives: a request its server
      takes, a reply its client reads (4 MiB, gRPC's default). A larger one fails the call with
      ``ValidationError``. What a bridge may send is bounded by its receiver's limit, not this.
    """

    call_defaults: CallOptions = field(default_factory=lambda: CallOptions())
    transport: NetworkTransport = "grpcio"
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    idempotency: IdempotencyPolicy = field(default_factory=IdempotencyPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    drain_timeout: float = 30.0
    interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    expose_errors: bool = False
    reflection: bool = True
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    def __post_init__(self) -> None:
        # A bad default fails here, not on the first call.
        check_call_options(self.call_defaults)
        default_timeout = self.call_defaults.get("timeout")
        if default_timeout is not None:
            parse_timeout(default_timeout)
        if self.transport not in NETWORK:
            raise ConfigError(
                f"RpcConfig.transport={self.transport!r}: use grpcio (the default) or grpclib"
            )
        if self.interceptors and self.transport != "grpcio":
            raise ConfigError(
                f"RpcConfig.interceptors are grpc.aio server interceptors, but transport="
                f"{self.transport!r} serves with grpclib, which would not run them: use "
                "transport='grpcio' with interceptors, or drop them"
            )
        if not self.drain_timeout >= 0:
            raise ConfigError(f"RpcConfig.drain_timeout={self.drain_timeout!r}: seconds, 0 or more")
        check_max_message_size("RpcConfig.max_message_size", self.max_message_size)
        check_at_least("AdmissionLimits.max_concurrent", self.admission.max_concurrent, 1)
        check_at_least("AdmissionLimits.max_queued", self.admission.max_queued, 0)
        check_at_least("IdempotencyPolicy.max_entries", self.idempotency.max_entries, 0)
        check_at_least("BreakerPolicy.min_calls", self.breaker.min_calls, 1)
        if not 0 < self.breaker.failure_ratio <= 1:
            raise ConfigError(
                f"BreakerPolicy.failure_ratio={self.breaker.failure_ratio!r}: a ratio in (0, 1]"
            )
        for name, seconds in (
            ("IdempotencyPolicy.ttl", self.idempotency.ttl),
            ("BreakerPolicy.window", self.breaker.window),
            ("BreakerPolicy.open_for", self.breaker.open_for),
        ):
            if not seconds > 0:
                raise ConfigError(f"{name}={seconds!r}: seconds, more than 0")


def listen_refused(listen: str) -> ConfigError:
    """What either server raises when it cannot bind ``listen=``."""
    return ConfigError(
        f"cannot listen on {listen}: the address is in use (another server is serving it) or "
        "not available on this host; choose another listen= address"
    )
