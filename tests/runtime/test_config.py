"""RpcConfig and EventsConfig check their values when they are built, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

import runtime_lib as sb


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: sb.RpcConfig(drain_timeout=-1), "RpcConfig.drain_timeout"),
        (lambda: sb.RpcConfig(transport="h3"), "RpcConfig.transport"),  # type: ignore[arg-type]
        (
            lambda: sb.RpcConfig(admission=sb.AdmissionLimits(max_concurrent=0)),
            "AdmissionLimits.max_concurrent",
        ),
        (
            lambda: sb.RpcConfig(admission=sb.AdmissionLimits(max_queued=-1)),
            "AdmissionLimits.max_queued",
        ),
        (lambda: sb.RpcConfig(idempotency=sb.IdempotencyPolicy(ttl=0)), "IdempotencyPolicy.ttl"),
        (
            lambda: sb.RpcConfig(breaker=sb.BreakerPolicy(failure_ratio=1.5)),
            "BreakerPolicy.failure_ratio",
        ),
        (lambda: sb.RpcConfig(breaker=sb.BreakerPolicy(min_calls=0)), "BreakerPolicy.min_calls"),
        (lambda: sb.RpcConfig(call_defaults={"timeout": "soon"}), "soon"),
        (lambda: sb.EventsConfig(broker="http://broker"), "EventsConfig.broker"),
        (lambda: sb.EventsConfig(max_outbox_rows=0), "EventsConfig.max_outbox_rows"),
        (lambda: sb.EventsConfig(max_outbox_bytes=0), "EventsConfig.max_outbox_bytes"),
        (lambda: sb.EventsConfig(max_in_flight=0), "EventsConfig.max_in_flight"),
        (lambda: sb.EventsConfig(max_attempts=0), "EventsConfig.max_attempts"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_bad_value_is_a_config_error_naming_the_field(build: Any, field: str) -> None:
    with pytest.raises(sb.ConfigError, match=field):
        build()


def test_defaults_are_valid() -> None:
    assert sb.RpcConfig().transport == "grpcio"
    assert sb.EventsConfig().broker == "embedded"


async def test_a_broker_alone_is_the_events_config_shorthand(tmp_path: Path) -> None:
    short = sb.Bridge("orders", data_dir=tmp_path, events="memory")
    full = sb.Bridge("orders", data_dir=tmp_path, events=sb.EventsConfig(broker="memory"))
    assert short.events._config == full.events._config == sb.EventsConfig(broker="memory")


def test_configs_are_frozen() -> None:
    config = sb.RpcConfig()
    with pytest.raises(AttributeError):
        config.drain_timeout = 1.0  # type: ignore[misc]


def test_interceptors_with_the_grpclib_server_are_a_config_error_naming_the_fix() -> None:
    # grpclib serves the bridge and would never run grpc.aio interceptors.
    with pytest.raises(sb.ConfigError, match="transport='grpcio'"):
        sb.RpcConfig(transport="grpclib", interceptors=[_Passing()])


class _Passing(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        return await continuation(details)
