"""The API sb-gen's generated code (``x_sb.py``) is built on: ``from runtime_lib import codegen as sb``.

Users don't import this module: they import :mod:`runtime_lib` (``import runtime_lib as sb``) for
the bridge, its settings, call/event contexts and errors. Names here change only together with
the templates that emit code against them.
"""

from typing_extensions import deprecated

from runtime_lib._events.event_type import EventType
from runtime_lib._rpc.base import ClientBase, HandlerBase, Invoker
from runtime_lib._rpc.context import CallContext
from runtime_lib._rpc.options import CallOptions
from runtime_lib._rpc.spec import Cardinality, MethodSpec, ServiceSpec
from runtime_lib._sync.client import SyncClientBase
from runtime_lib._timestamps import fill_timestamp, timestamp_datetime

__all__ = [
    "CallContext",
    "CallOptions",
    "Cardinality",
    "ClientBase",
    "EventType",
    "HandlerBase",
    "Invoker",
    "MethodSpec",
    "ServiceSpec",
    "SyncClientBase",
    "deprecated",
    "fill_timestamp",
    "timestamp_datetime",
]
