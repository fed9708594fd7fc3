"""What a served call's bytes and metadata become: the handler's request messages and its
:class:`CallContext`, the same whichever server library (grpc.aio or grpclib) carried the call.

A malformed call is the caller's fault: undecodable request bytes, a bad ``sb-timeout-ms`` or a
contract mismatch raise the error the caller receives. The call's own entries
(``sb-call``, or the separate ones of older callers) are read as docs/wire.md says.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Collection
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from runtime_lib._errors import BadRequestError
from runtime_lib._rpc import wire
from runtime_lib._rpc.context import CallContext, MetadataValue
from runtime_lib._rpc.dispatch import Dispatcher, Route

M = TypeVar("M", bound=Message)

_CALL, _IDEMPOTENCY_KEY = wire.CALL, wire.IDEMPOTENCY_KEY

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
    pairs: Collection[tuple[str, MetadataValue]],
    remaining: float | None,
    caller: str | None,
) -> CallContext:
    """The context of a call with this incoming metadata (``pairs``, keys lower-case, ``-bin``
    values bytes) and ``remaining`` seconds by its ``grpc-timeout``; ``caller`` is the one its
    verified certificate names (None without TLS: the caller's own claim says)."""
    # One pass for the two entries every call is read for: cheaper than making the pairs a
    # dict, which is left to the handler that reads ctx.metadata.
    packed = key = metadata = None
    for name, value in pairs:
        if name == _CALL:
            packed = value
        elif name == _IDEMPOTENCY_KEY:
            key = value
    contract: str | None
    if packed is not None:
        # sb-call (docs/wire.md): budget in ms, contract, request id[, caller]. Checked inline:
        # a split and three str checks cost half of what one regex match does.
        fields = packed.split(" ") if isinstance(packed, str) else ()
        if len(fields) == 4:
            budget_ms, contract, request_id, claimed = fields
        elif len(fields) == 3:
            budget_ms, contract, request_id = fields
            claimed = ""
        else:
            raise _malformed(packed)
        # _whole_ms written out: this line runs on every call, the function call costs ~1k.
        if not (
            budget_ms.isdigit() and budget_ms.isascii() and len(budget_ms) <= _MAX_TIMEOUT_DIGITS
        ):
            raise _malformed(packed)
        if "%" in request_id or "%" in claimed:
            request_id, claimed = _percent_decoded(packed, request_id, claimed)
        # float() of the checked digits is exact and cheaper than int(), the quotient the same.
        budget: float | None = float(budget_ms) / 1000
    else:  # a caller of the wire before sb-call: the separate entries
        metadata = dict(pairs)
        get = metadata.get
        stated = get(wire.TIMEOUT_MS)
        budget = None if stated is None else _timeout_ms(stated) / 1000
        sent = get(wire.CONTRACT)
        contract = None if sent is None else _text(sent)
        request_id = _text(get(wire.REQUEST_ID))
        claimed = _text(get(wire.CALLER))
    if contract is not None and contract != route.method.contract_hash:
        Dispatcher.check_contract(route, contract)  # raises the mismatch
    if budget is not None and (remaining is None or budget < remaining):
        remaining = budget
    return CallContext(
        route.method.path,
        claimed if caller is None else caller,
        request_id,
        None if key is None else _text(key) or None,
        None if remaining is None else time.monotonic() + remaining,
        metadata,
        pairs=pairs,
    )


def _percent_decoded(packed: MetadataValue, *fields: str) -> tuple[str, str]:
    try:
        request_id, claimed = (wire.decode_field(f) for f in fields)
    except UnicodeDecodeError:
        raise _malformed(packed) from None
    return request_id, claimed


def _malformed(packed: MetadataValue) -> BadRequestError:
    return BadRequestError(
        f"metadata {wire.CALL} must be '<timeout-ms> <contract> <request-id>[ <caller>]' "
        f"(docs/wire.md; the budget 1 to {_MAX_TIMEOUT_DIGITS} digits), got {len(packed)} "
        f"characters starting {packed[:40]!r}",
        field=wire.CALL,
    )


def _text(value: MetadataValue | None) -> str:
    # Only "-bin" keys carry bytes, and none of the sb-* keys is one.
    return value if isinstance(value, str) else ""


def _whole_ms(text: str) -> bool:
    """A budget as both wire forms state it: 1 to 12 ASCII digits."""
    return text.isdigit() and text.isascii() and len(text) <= _MAX_TIMEOUT_DIGITS


def _timeout_ms(stated: MetadataValue) -> int:
    if isinstance(stated, str) and _whole_ms(stated):
        return int(stated)
    raise BadRequestError(
        f"metadata {wire.TIMEOUT_MS} must be a whole number of milliseconds "
        f"(1 to {_MAX_TIMEOUT_DIGITS} digits), got {len(stated)} characters "
        f"starting {stated[:20]!r}",
        field=wire.TIMEOUT_MS,
    )
