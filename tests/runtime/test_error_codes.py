"""Every ServiceBridge error code has exactly one error class, and each survives the wire."""

from __future__ import annotations

import inspect

import grpc
import pytest

import runtime_lib
from runtime_lib import _errors
from runtime_lib._errors import (
    BadRequestError,
    ErrorCode,
    HandlerError,
    ServiceBridgeError,
    UnimplementedError,
    error_for,
)
from runtime_lib._rpc import wire_errors


def _code_classes() -> dict[ErrorCode, list[type[ServiceBridgeError]]]:
    """The classes of the errors module that set a ``code`` of their own, by code."""
    by_code: dict[ErrorCode, list[type[ServiceBridgeError]]] = {}
    for _, cls in inspect.getmembers(_errors, inspect.isclass):
        if (
            issubclass(cls, ServiceBridgeError)
            and cls is not ServiceBridgeError
            and "code" in vars(cls)
        ):
            by_code.setdefault(cls.code, []).append(cls)
    return by_code


def test_every_code_has_exactly_one_class() -> None:
    by_code = _code_classes()
    assert set(by_code) == set(ErrorCode)
    assert {code: len(classes) for code, classes in by_code.items()} == dict.fromkeys(ErrorCode, 1)


def test_every_error_class_is_exported_from_runtime_lib() -> None:
    classes = {cls.__name__ for classes in _code_classes().values() for cls in classes}
    classes |= {"BadRequestError", "UnimplementedError", "ServiceBridgeError"}
    assert classes <= set(runtime_lib.__all__)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_for_gives_the_class_of_the_code(code: ErrorCode) -> None:
    error = error_for(code, "what went wrong")
    (cls,) = _code_classes()[code]
    assert type(error) is cls
    assert error.code is code
    assert error.retryable is code.retryable


@pytest.mark.parametrize("code", list(ErrorCode))
@pytest.mark.parametrize("not_dispatched", [False, True])
def test_every_code_round_trips_through_the_wire(code: ErrorCode, not_dispatched: bool) -> None:
    sent = error_for(code, "what went wrong", not_dispatched=not_dispatched)
    status, details, trailers = wire_errors.encode(sent)
    received = wire_errors.decode(status, details, trailers)
    assert type(received) is type(sent)
    assert received.code is code
    assert received.message == "what went wrong"
    if code is not ErrorCode.HANDLER:  # a handler ran: never "not dispatched"
        assert received.not_dispatched is not_dispatched


@pytest.mark.parametrize(
    "sent",
    [
        HandlerError("CARD_DECLINED", "card declined"),
        BadRequestError("not a uuid", field="sb-idempotency-key"),
        UnimplementedError("Pay is not implemented"),
    ],
    ids=type,
)
def test_refined_classes_round_trip(sent: ServiceBridgeError) -> None:
    status, details, trailers = wire_errors.encode(sent)
    received = wire_errors.decode(status, details, trailers)
    assert str(received) == str(sent)
    # BadRequest's field travels as a field violation the client does not need to read back
    if isinstance(sent, BadRequestError):
        assert received.code is ErrorCode.VALIDATION
    else:
        assert type(received) is type(sent)


def test_unimplemented_is_sent_as_grpc_unimplemented() -> None:
    status, _, _ = wire_errors.encode(UnimplementedError("nope"))
    assert status is grpc.StatusCode.UNIMPLEMENTED
    assert isinstance(UnimplementedError("nope"), _errors.NotFoundError)


def test_call_cancelled_error_does_not_shadow_asyncio() -> None:
    assert "CancelledError" not in runtime_lib.__all__
    assert runtime_lib.CallCancelledError.code is ErrorCode.CANCELLED
