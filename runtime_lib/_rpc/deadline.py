"""Timeouts and the deadline a handler's own outgoing calls inherit."""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from datetime import timedelta

from runtime_lib._errors import ConfigError
from runtime_lib._rpc.options import Timeout

DEFAULT_TIMEOUT = 30.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")

# Set by the server for the task that runs a handler; a call made from there is bounded by it.
_inherited: ContextVar[float | None] = ContextVar("sb_inherited_deadline", default=None)


def parse_timeout(value: Timeout) -> float:
    """Seconds from a number, a ``timedelta`` or a string such as ``"500ms"``, ``"10s"``, ``"2m"``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ConfigError(f"timeout {value!r}: expected a number with ms, s, m or h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        seconds = float(value)
    if seconds <= 0:
        raise ConfigError(f"timeout {value!r} must be positive")
    return seconds


def call_deadline(timeout: Timeout | None) -> float:
    """The monotonic instant a call must finish by: its timeout, capped by an inherited deadline."""
    return deadline_in(parse_timeout(timeout if timeout is not None else DEFAULT_TIMEOUT))


def deadline_in(seconds: float) -> float:
    """``seconds`` from now, capped by an inherited deadline (``seconds`` already parsed)."""
    own = time.monotonic() + seconds
    inherited = _inherited.get()
    return own if inherited is None else min(own, inherited)


def current() -> float | None:
    """The deadline the current task's calls inherit (None: only their own timeouts bind)."""
    return _inherited.get()


# inherit(deadline): make ``deadline`` bind the calls made from the current task (a handler's
# task). The ContextVar's own method, not a function around it: servers call it on every call.
inherit = _inherited.set
