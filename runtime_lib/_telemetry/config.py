"""TelemetryConfig: what a bridge does with its spans and metrics. Off unless configured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime_lib._errors import ConfigError

Exporter = Literal["off", "console", "memory", "otlp", "file"]
EXPORTERS: tuple[Exporter, ...] = ("off", "console", "memory", "otlp", "file")


@dataclass(frozen=True, slots=True, kw_only=True)
class TelemetryConfig:
    """How one bridge records telemetry.

    exporter: ``"off"`` (the default: the OpenTelemetry API's no-op tracer and meter, no SDK),
      ``"console"`` (spans and metrics printed to stdout), ``"memory"`` (kept in memory for tests:
      ``bridge.telemetry.memory``), ``"otlp"`` (to a collector at ``otlp_endpoint``) or ``"file"``
      (spans as JSON lines appended to ``path``, for ``sb-trace``).
    service_name: the ``service.name`` resource attribute (default: the bridge's service name).
    sampling_ratio: the share of new traces recorded; a call inside a trace follows its parent.
    set_global: also install this bridge's providers as the process-wide OpenTelemetry providers,
      so third-party instrumentation reports into them (only one bridge per process should).
    metrics_interval: seconds between metric exports for ``console`` and ``otlp``.
    """

    exporter: Exporter = "off"
    service_name: str | None = None
    sampling_ratio: float = 1.0
    path: str | Path | None = None
    otlp_endpoint: str = "http://localhost:4317"
    set_global: bool = False
    metrics_interval: float = 60.0

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise ConfigError(
                f"telemetry exporter {self.exporter!r}: use one of {', '.join(EXPORTERS)}"
            )
        if not 0.0 <= self.sampling_ratio <= 1.0:
            raise ConfigError(f"sampling_ratio {self.sampling_ratio} must be between 0 and 1")
        if self.exporter == "file" and not self.path:
            raise ConfigError('telemetry exporter "file" needs path= (the JSON lines file)')
        if self.metrics_interval <= 0:
            raise ConfigError(f"metrics_interval {self.metrics_interval} must be positive")

    @property
    def enabled(self) -> bool:
        return self.exporter != "off"
