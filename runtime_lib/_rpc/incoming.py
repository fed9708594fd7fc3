"""What a served call's bytes and metadata become: the handler's request messages and its
:class:`CallContext`, the same whichever server library (grpc.aio or grpclib) carried the call.

A malformed call is the caller's fault: undecodable request bytes, a bad ``sb-timeout-ms`` or a
contract mismatch raise the error the caller receives.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from runtime_lib._errors import BadRequestError
from runtime_lib._rpc import wire
from runtime_lib._rpc.context import CallContext, MetadataValue
from runtime_lib._rpc.dispatch import Dispatcher, Route

M = TypeVar("M", bound=Message)

# A longer ``sb-timeout-ms`` (over ~30 years) is not a deadline anyone meant.
_MAX_TIMEOUT_DIGITS = 12


def decode(cls: type[M], raw: bytes | None, path: str) -> M:
    if raw is not None:
        try:
            return cls.FromString(raw)
        except DecodeError:
            pass
    raise BadRequestError(
        f"the request to {path} is not a valid {cls.DESCRIPTOR.full_name} message "
        "(protobuf could not parse its bytes); check that the caller uses the same .proto",
        field="request",
    ) from None


async def decoded(cls: type[M], raws: AsyncIterable[bytes], path: str) -> AsyncIterator[M]:
    async for raw in raws:
        yield decode(cls, raw, path)


def call_context(
    route: Route,
    metadata: dict[str, MetadataValue],
    remaining: float | None,
    caller: str | None,
) -> CallContext:
    """The context of a call with this incoming ``metadata`` (keys lower-case, ``-bin`` values
    bytes) and ``remaining`` seconds by its ``grpc-timeout``; ``caller`` is the one its verified
    certificate names (None without TLS: ``sb-caller`` says)."""
    get = metadata.get
    sent = get(wire.CONTRACT)
    if sent is not None and sent != route.method.contract_hash:
        Dispatcher.check_contract(route, str(sent))  # raises the mismatch
    stated = get(wire.TIMEOUT_MS)
    if stated is not None:
        budget = _timeout_ms(stated) / 1000
        remaining = budget if remaining is None else min(remaining, budget)
    return CallContext(
        route.method.path,
        _text(get(wire.CALLER)) if caller is None else caller,
        _text(get(wire.REQUEST_ID)),
        _text(get(wire.IDEMPOTENCY_KEY)) or None,
        None if remaining is None else time.monotonic() + remaining,
        metadata,
    )


def _text(value: MetadataValue | None) -> str:
    # Only "-bin" keys carry bytes, and none of the sb-* keys is one.
    return value if isinstance(value, str) else ""


def _timeout_ms(stated: MetadataValue) -> int:
    if (
        isinstance(stated, str)
        and stated.isascii()
        and stated.isdigit()
        and len(stated) <= _MAX_TIMEOUT_DIGITS
    ):
        return int(stated)
    raise BadRequestError(
        f"metadata {wire.TIMEOUT_MS} must be a whole number of milliseconds "
        f"(1 to {_MAX_TIMEOUT_DIGITS} digits), got {len(stated)} characters "
        f"starting {stated[:20]!r}",
        field=wire.TIMEOUT_MS,
    )
