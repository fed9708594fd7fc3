"""Metadata keys and markers on the wire (docs/wire.md, "RPC"), and the one packed entry every
call carries.

``sb-call: <timeout-ms> <contract> <request-id>[ <caller>]`` (space-separated; the caller only
without mutual TLS). One entry instead of four: gRPC Python converts every metadata entry
between Python and C on both sides of a call (7-9k instructions per entry and side, measured
with callgrind), so four separate entries cost ~5 % of a whole unary call. The two free-form fields
are percent-encoded when they hold a space, a ``%`` or anything outside printable ASCII, as W3C
baggage does; names and UUIDs go as they are. The separate keys below are what callers sent
before; a server still reads them from a caller that sends no ``sb-call``.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, unquote

CALL: Final = "sb-call"

# Read when a caller sends no ``sb-call`` (the wire before it was packed).
CALLER: Final = "sb-caller"
REQUEST_ID: Final = "sb-request-id"
CONTRACT: Final = "sb-contract"
# The exact budget in ms when the call was sent: gRPC rounds ``grpc-timeout`` up (by up to ~1 %),
# so a handler given a 30 s call would otherwise see more than 30 s left. The smaller one wins.
TIMEOUT_MS: Final = "sb-timeout-ms"

IDEMPOTENCY_KEY: Final = "sb-idempotency-key"

# Trailer a server sets when it refused a call before any handler code ran (overload, drain).
NOT_DISPATCHED: Final = "x-sb-not-dispatched"

# The google.rpc.Status trailer of gRPC's rich error model.
STATUS_DETAILS: Final = "grpc-status-details-bin"
ERROR_DOMAIN: Final = "servicebridge"


def caller_field(caller: str | None) -> str:
    """The end of a client's ``sb-call`` values: its caller, or nothing under mutual TLS."""
    return "" if caller is None else f" {encode_field(caller)}"


def encode_field(text: str) -> str:
    if " " in text or "%" in text or not (text.isascii() and text.isprintable()):
        return quote(text, safe="")
    return text


def decode_field(text: str) -> str:
    """``encode_field`` undone (UnicodeDecodeError for escapes that are not UTF-8); readers
    call it only for a field holding a ``%``."""
    return unquote(text, errors="strict")
