"""Workflows: durable, typed graphs of steps with compensation, run on Temporal.

Declare a :class:`Workflow` of steps (:class:`Call`, :class:`Publish`, :class:`Local`,
:class:`Sleep`, :class:`WaitSignal`, :class:`WaitEvent`, :class:`Child`, and the groups
:class:`Parallel` and :class:`Sequence`), register it with
``bridge.workflows.register(...)`` and drive runs with ``bridge.workflows``. See docs/workflows.md.
"""

from runtime_lib.workflows.errors import (
    WorkflowCancelledError,
    WorkflowEngineError,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowTerminalError,
)
from runtime_lib.workflows.runtime import RunStatus, Workflows, WorkflowsConfig
from runtime_lib.workflows.steps import (
    Call,
    Child,
    Local,
    Parallel,
    Publish,
    RunView,
    Sequence,
    Sleep,
    WaitEvent,
    WaitSignal,
    Workflow,
)

__all__ = [
    "Call",
    "Child",
    "Local",
    "Parallel",
    "Publish",
    "RunStatus",
    "RunView",
    "Sequence",
    "Sleep",
    "WaitEvent",
    "WaitSignal",
    "Workflow",
    "WorkflowCancelledError",
    "WorkflowEngineError",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowTerminalError",
    "Workflows",
    "WorkflowsConfig",
]
