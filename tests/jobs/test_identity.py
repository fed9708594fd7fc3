"""Canonical job identity: every reference vector byte for byte, and the JavaScript number text."""

from __future__ import annotations

from typing import Any

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib._jobs.canonical import js_number
from runtime_lib._jobs.spec import JobRetry, build_spec, spec_from_opts
from tests.jobs.vectors import vectors


@pytest.mark.parametrize(
    "vector", vectors("job-canonical-vectors.json"), ids=lambda v: str(v["name"])
)
def test_reference_vector(vector: dict[str, Any]) -> None:
    spec = spec_from_opts("job", vector["input"])
    assert spec.canonical().encode() == vector["canonical"].encode()
    assert spec.identity == vector["sha256"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (1e-7, "1e-7"),
        (1.5, "1.5"),
        (0.000001, "0.000001"),
        (1e21, "1e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (-0.25, "-0.25"),
        (0.1, "0.1"),
        (2**53, "9007199254740992"),
        (5e-324, "5e-324"),
    ],
)
def test_numbers_are_written_as_javascript_does(value: float, text: str) -> None:
    assert js_number(value) == text


def test_python_declaration_matches_the_node_shape() -> None:
    declared = build_spec(
        "rollup",
        cron="0 0 1 * *",
        tz="UTC",
        version="v3",
        catchup="fire_all",
        overlap="buffer_one",
        deps=[("rpc", "billing.Charge"), ("event", "order.placed"), ("workflow", "checkout")],
        max_attempts=7,
        lease_ttl="30s",
        max_concurrent=4,
        retry=JobRetry(initial="250ms", max="5s", multiplier=1.5, jitter=0.1),
    )
    every_field = next(
        v for v in vectors("job-canonical-vectors.json") if v["name"] == "every field"
    )
    assert declared.identity == every_field["sha256"]


def test_a_changed_definition_is_a_new_identity() -> None:
    base = build_spec("tick", interval="30s")
    assert build_spec("tick", interval=30).identity == base.identity
    assert build_spec("tick", interval="31s").identity != base.identity
    assert build_spec("tick", interval="30s", overlap="skip").identity != base.identity


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cron": "0 3 * * * *"}, "cron"),
        ({"cron": "@daily"}, "cron"),
        ({"cron": "0 3 * * *", "tz": "Mars/Olympus"}, "tz"),
        ({"cron": "0 3 * * *", "tz": "../etc/passwd"}, "tz"),
        ({"interval": "soon"}, "interval"),
        ({"interval": 0}, "interval"),
        ({"interval": "1.5ms"}, "interval"),
        ({"cron": "* * * * *", "interval": 1}, "trigger"),
        ({"interval": 1, "tz": "UTC"}, "tz"),
        ({"interval": 1, "catchup": "sometimes"}, "catchup"),
        ({"interval": 1, "overlap": "queue"}, "overlap"),
        ({"interval": 1, "max_attempts": -1}, "max_attempts"),
        ({"interval": 1, "max_concurrent": 1.5}, "max_concurrent"),
        ({"interval": 1, "lease_ttl": "-3s"}, "lease_ttl"),
        ({"interval": 1, "retry": JobRetry(initial=0)}, "retry.initial"),
        ({"interval": 1, "retry": JobRetry(initial="2s", max="1s")}, "retry.max"),
        ({"interval": 1, "retry": JobRetry(multiplier=0.5)}, "retry.multiplier"),
        ({"interval": 1, "retry": JobRetry(jitter=2)}, "retry.jitter"),
        ({"interval": 1, "deps": [("queue", "x")]}, "deps"),
    ],
)
def test_bad_declarations_name_the_job_and_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"job 'nightly': {field}: "):
        build_spec("nightly", **kwargs)


def test_bad_job_name() -> None:
    with pytest.raises(ConfigError, match="job name"):
        build_spec("has space", interval=1)
    with pytest.raises(ConfigError, match="job name"):
        build_spec("a.>", interval=1)


def test_node_shape_rejects_a_zero_initial_retry() -> None:
    opts = {
        "trigger": {"interval": 1000},
        "retry": {"initialMs": 0, "maxMs": 1, "multiplier": 2, "jitter": 0},
    }
    with pytest.raises(ConfigError, match=r"retry\.initial"):
        spec_from_opts("j", opts)
