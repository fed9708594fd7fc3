"""Errors as HTTP responses: the status for each ServiceBridge code and a JSON body carrying the
``google.rpc.Status`` (its canonical JSON mapping, as grpc-gateway and Envoy send it)."""

from __future__ import annotations

import json
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import (  # type: ignore[import-untyped]  # googleapis-common-protos ships no stubs
    code_pb2,
    error_details_pb2,
    status_pb2,
)

import runtime_lib as sb
from runtime_lib._rpc.status_codes import CODE_TO_GRPC_STATUS  # internal: each code's gRPC status

# grpc-gateway's HTTPStatusFromCode, the mapping google.rpc.Code's documentation gives.
_HTTP_FROM_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
# Where the gRPC mapping says less than the code: a handler's business refusal (the request was
# understood and refused), and a misconfigured server, which is no fault of the HTTP client.
_BY_CODE = {sb.ErrorCode.HANDLER: 422, sb.ErrorCode.CONFIG: 500}
# Their text describes the server's insides (paths, settings): the client gets none of it.
_HIDDEN = frozenset({sb.ErrorCode.INTERNAL, sb.ErrorCode.CONFIG})
_INTERNAL_MESSAGE = "internal error"


def http_status(code: sb.ErrorCode) -> int:
    return _BY_CODE.get(code) or _HTTP_FROM_GRPC[CODE_TO_GRPC_STATUS[code]]


def status_message(error: sb.ServiceBridgeError) -> Any:
    """The ``google.rpc.Status`` for ``error``: its gRPC code, its message, and an ``ErrorInfo``
    with the ServiceBridge code (``reason``) and the handler's own code; a ``BadRequest`` naming
    the field for a bad request. Internal failures carry no text of their own."""
    grpc_code = CODE_TO_GRPC_STATUS[error.code]
    hidden = error.code in _HIDDEN
    status = status_pb2.Status(
        code=grpc_code.value[0], message=_INTERNAL_MESSAGE if hidden else error.message
    )
    info = error_details_pb2.ErrorInfo(reason=str(error.code), domain="servicebridge")
    handler_code = getattr(error, "handler_code", None)
    if isinstance(handler_code, str):
        info.metadata["handler_code"] = handler_code
    status.details.add().Pack(info)
    if isinstance(error, sb.BadRequestError):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=error.field, description=error.message
        )
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    return status


def error_body(error: sb.ServiceBridgeError) -> bytes:
    return json.dumps(json_format.MessageToDict(status_message(error))).encode()


def internal_error_body() -> bytes:
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=_INTERNAL_MESSAGE)
    return json.dumps(json_format.MessageToDict(status)).encode()
