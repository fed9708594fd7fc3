"""Errors of the workflow API (all are :class:`runtime_lib.ServiceBridgeError`)."""

from __future__ import annotations

from runtime_lib import ErrorCode, ServiceBridgeError


class WorkflowNotFoundError(ServiceBridgeError):
    """No run with this id (or no workflow with this name on the service)."""

    code = ErrorCode.NOT_FOUND


class WorkflowTerminalError(ServiceBridgeError):
    """The run has finished: it takes no more signals and cannot be cancelled."""

    code = ErrorCode.TERMINAL


class WorkflowFailedError(ServiceBridgeError):
    """The run failed (after compensating); ``message`` names the step and its error."""

    code = ErrorCode.HANDLER


class WorkflowCancelledError(ServiceBridgeError):
    """The run was cancelled (after compensating)."""

    code = ErrorCode.CANCELLED


class WorkflowEngineError(ServiceBridgeError):
    """The workflow engine could not be reached or refused a request."""

    code = ErrorCode.CONNECTION
