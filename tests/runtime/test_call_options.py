"""Call options of the wrong type fail at the call with a ConfigError saying what was expected,
before anything is sent (not as an AttributeError from deep inside the runtime)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from echo_service import make_handler, pb

import runtime_lib as sb
from runtime_lib._rpc.options import CallOptions, check_call_options

pytestmark = pytest.mark.timeout(30)

# One wrong value per option, with the message it must produce.
WRONG: dict[str, tuple[object, str]] = {
    "timeout": (
        [1],
        'timeout= must be seconds, a duration such as "500ms" or a timedelta, got list',
    ),
    "idempotency_key": (7, "idempotency_key= must be a str, got int 7"),
    "request_id": (b"r-1", "request_id= must be a str, got bytes b'r-1'"),
    "metadata": ([("k", "v")], "metadata= must be a mapping of str to str, got list"),
    "reply_metadata": (
        {},
        "reply_metadata= must be a ReplyMetadata (filled by the call), got dict",
    ),
    "retry": (3, "retry= must be a RetryPolicy, got int 3"),
    "transport": ("grpc", "transport= must be one of auto, direct, inproc, got str 'grpc'"),
}


def test_every_call_option_is_checked() -> None:
    # A key added to CallOptions without a check here fails this test.
    assert set(WRONG) == CallOptions.__optional_keys__ | CallOptions.__required_keys__
    for key, (value, message) in WRONG.items():
        with pytest.raises(sb.ConfigError) as raised:
            check_call_options({key: value})
        assert raised.value.message.startswith(message), key


def test_valid_options_and_none_pass() -> None:
    check_call_options(
        {
            "timeout": "2s",
            "idempotency_key": "k",
            "request_id": "r",
            "metadata": {"x-tenant": "t", "x-blob-bin": b"\x00"},
            "retry": sb.RetryPolicy(max_attempts=1),
            "transport": "direct",
        }
    )
    check_call_options(dict.fromkeys(WRONG))


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (
            {"x-trace-bin": "abc"},
            "metadata= entry 'x-trace-bin' ends in -bin, so its value must be bytes",
        ),
        ({"x-tenant": b"t"}, "metadata= entry 'x-tenant' must be a str (only keys ending in -bin"),
        ({1: "v"}, "metadata= keys must be str, got int 1"),
    ],
)
def test_metadata_follows_grpcs_bin_rule(metadata: dict[Any, Any], message: str) -> None:
    with pytest.raises(sb.ConfigError) as raised:
        check_call_options({"metadata": metadata})
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize("key", ["größe", "a\nb"])
def test_an_idempotency_key_grpc_cannot_carry_is_a_config_error(key: str) -> None:
    # It used to reach grpcio and fail the call with a raw ExecuteBatchError.
    with pytest.raises(sb.ConfigError) as raised:
        check_call_options({"idempotency_key": key})
    assert raised.value.message.startswith("idempotency_key= must be printable ASCII")


def test_unknown_option_is_named() -> None:
    with pytest.raises(
        sb.ConfigError, match="unknown call option deadline=: the options are timeout"
    ):
        check_call_options({"deadline": 5})


async def test_wrong_option_fails_at_the_call_before_sending(echo: ModuleType) -> None:
    handler = make_handler(echo)
    server = sb.Bridge("echo")
    server.serve(handler)
    async with server, sb.Bridge("caller") as caller:
        client = caller.client(echo.CalleeClient, address=server.address)
        with pytest.raises(sb.ConfigError, match="retry= must be a RetryPolicy, got int 3"):
            await client.echo(pb().Echo(text="a"), retry=3)
        with pytest.raises(sb.ConfigError, match="unknown call option retries="):
            await client.echo(pb().Echo(text="a"), retries=3)
        assert handler.served["echo"] == 0
        assert (await client.echo(pb().Echo(text="b"), timeout="5s")).text == "b"
        assert handler.served["echo"] == 1


def test_wrong_call_default_fails_when_the_bridge_is_built() -> None:
    defaults: Any = {"retry": 3}
    with pytest.raises(sb.ConfigError, match="retry= must be a RetryPolicy, got int 3"):
        sb.Bridge("caller", rpc=sb.RpcConfig(call_defaults=defaults))
