"""Telemetry on OpenTelemetry: spans, metrics and logs for every hop; W3C trace propagation.

Private: users reach it through ``runtime_lib`` (``TelemetryConfig``, ``Telemetry``, ``Op``,
``TraceContextFilter``); modules import the submodule that holds a name.
"""
