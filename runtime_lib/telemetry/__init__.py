"""Telemetry on OpenTelemetry: spans, metrics and logs for every hop; W3C trace propagation."""

from runtime_lib.telemetry.api import Op, Telemetry
from runtime_lib.telemetry.config import TelemetryConfig
from runtime_lib.telemetry.logs import TraceContextFilter
from runtime_lib.telemetry.metrics import OutboxStats
from runtime_lib.telemetry.provider import MemoryExport

__all__ = [
    "MemoryExport",
    "Op",
    "OutboxStats",
    "Telemetry",
    "TelemetryConfig",
    "TraceContextFilter",
]
