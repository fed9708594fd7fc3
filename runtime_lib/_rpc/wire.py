"""Metadata keys and markers on the wire (docs/wire.md, "RPC")."""

from __future__ import annotations

from typing import Final

CALLER: Final = "sb-caller"
REQUEST_ID: Final = "sb-request-id"
IDEMPOTENCY_KEY: Final = "sb-idempotency-key"
CONTRACT: Final = "sb-contract"
# The exact budget in ms when the call was sent: gRPC rounds ``grpc-timeout`` up (by up to ~1 %),
# so a handler given a 30 s call would otherwise see more than 30 s left. The smaller one wins.
TIMEOUT_MS: Final = "sb-timeout-ms"

# Trailer a server sets when it refused a call before any handler code ran (overload, drain).
NOT_DISPATCHED: Final = "x-sb-not-dispatched"

# The google.rpc.Status trailer of gRPC's rich error model.
STATUS_DETAILS: Final = "grpc-status-details-bin"
ERROR_DOMAIN: Final = "servicebridge"
