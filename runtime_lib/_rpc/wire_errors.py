"""Errors to and from the gRPC rich error model.

A server failure travels as a gRPC status plus a ``google.rpc.Status`` whose ``ErrorInfo`` has
domain ``servicebridge``, ``reason`` = the error code and, for a handler error, the handler's
own code and message in ``metadata``; a malformed call adds a ``BadRequest`` naming the field.
Clients in any language can read it; a status without that detail (a plain gRPC server) maps
through ``GRPC_STATUS_TO_CODE``. A message over its receiver's size limit is gRPC core's
``RESOURCE_EXHAUSTED`` "Received message larger than max (N vs. M)" whichever side and library
refused it, and a ``ValidationError`` to the caller: not overload, and no retry can help.
"""

from __future__ import annotations

import re
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import (  # type: ignore[import-untyped]  # googleapis-common-protos ships no stubs
    error_details_pb2,
    status_pb2,
)

from runtime_lib._errors import (
    BadRequestError,
    ErrorCode,
    HandlerError,
    ServiceBridgeError,
    UnimplementedError,
    ValidationError,
    error_for,
)
from runtime_lib._rpc import wire
from runtime_lib._rpc.status_codes import CODE_TO_GRPC_STATUS, GRPC_STATUS_TO_CODE

Trailers = tuple[tuple[str, str | bytes], ...]

_HANDLER_CODE = "handler_code"
_HANDLER_MESSAGE = "handler_message"
# gRPC core's words for a message over grpc.max_receive_message_length (grpc's
# message_size_filter), which a grpclib receiver says too.
_TOO_LARGE = re.compile(r"Received message larger than max \((\d+) vs\. (\d+)\)")


class MessageTooLargeError(BadRequestError):
    """A received message over this side's limit (``RpcConfig.max_message_size``): sent as gRPC
    core sends it, so any client recognises it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Received message larger than max ({size} vs. {limit})", field="message")
        self.size = size
        self.limit = limit


def too_large(size: int, limit: int) -> ValidationError:
    """What the caller is told of a message of ``size`` bytes over its receiver's ``limit``."""
    return ValidationError(
        f"a message of this call ({size:,} bytes) is larger than its receiver accepts "
        f"({limit:,} bytes): send less (a stream of smaller messages), or raise "
        "RpcConfig.max_message_size on the receiving side (gRPC's default limit is 4 MiB)"
    )


def encode(error: ServiceBridgeError) -> tuple[grpc.StatusCode, str, Trailers]:
    """Status code, details and trailing metadata for ``error``."""
    # gRPC's own status for a method not implemented, so any client recognises it.
    if isinstance(error, UnimplementedError):
        status = grpc.StatusCode.UNIMPLEMENTED
    elif isinstance(error, MessageTooLargeError):
        status = grpc.StatusCode.RESOURCE_EXHAUSTED
    else:
        status = CODE_TO_GRPC_STATUS[error.code]
    info = error_details_pb2.ErrorInfo(reason=str(error.code), domain=wire.ERROR_DOMAIN)
    if isinstance(error, HandlerError):
        info.metadata[_HANDLER_CODE] = error.handler_code
        info.metadata[_HANDLER_MESSAGE] = error.message
    details = [_packed(info)]
    if isinstance(error, BadRequestError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    rich = status_pb2.Status(code=status.value[0], message=error.message, details=details)
    trailers: list[tuple[str, str | bytes]] = [(wire.STATUS_DETAILS, rich.SerializeToString())]
    if error.not_dispatched:
        trailers.append((wire.NOT_DISPATCHED, "1"))
    return status, error.message, tuple(trailers)


def decode(
    code: grpc.StatusCode, details: str | None, trailers: Trailers | None
) -> ServiceBridgeError:
    """The runtime error for a failed call's status and trailing metadata."""
    not_dispatched = False
    info: Any = None
    for key, value in trailers or ():
        if key == wire.NOT_DISPATCHED and value in ("1", b"1"):
            not_dispatched = True
        elif key == wire.STATUS_DETAILS and isinstance(value, bytes):
            info = _error_info(value)
    message = details or ""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and (sizes := _TOO_LARGE.search(message)):
        return too_large(int(sizes[1]), int(sizes[2]))
    if code is grpc.StatusCode.UNIMPLEMENTED:
        # The handler raised NotImplementedError, or the server has no such method.
        return UnimplementedError(message, not_dispatched=not_dispatched)
    if info is not None:
        error_code = ErrorCode(info.reason)
        if error_code is ErrorCode.HANDLER:
            return HandlerError(
                info.metadata.get(_HANDLER_CODE, "INTERNAL"),
                info.metadata.get(_HANDLER_MESSAGE, message),
            )
        return error_for(error_code, message, not_dispatched=not_dispatched)
    return error_for(
        GRPC_STATUS_TO_CODE.get(code, ErrorCode.INTERNAL), message, not_dispatched=not_dispatched
    )


def _packed(detail: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def _error_info(raw: bytes) -> Any:
    rich = status_pb2.Status.FromString(raw)
    for detail in rich.details:
        info = error_details_pb2.ErrorInfo()
        if (
            detail.Is(info.DESCRIPTOR)
            and detail.Unpack(info)
            and info.domain == wire.ERROR_DOMAIN
            and info.reason in ErrorCode.__members__
        ):
            return info
    return None
