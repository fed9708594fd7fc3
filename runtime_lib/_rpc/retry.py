"""When a failed call may be sent again, and how long to wait first.

Retries never repeat work that may have run: a failure proven to be before dispatch is retried
(on another endpoint when there is one); an ambiguous failure only when the call carries an
idempotency key; TIMEOUT, HANDLER, VALIDATION, ACCESS_DENIED and the other definite answers never.
"""

from __future__ import annotations

import random

from runtime_lib._errors import ErrorCode, ServiceBridgeError
from runtime_lib._rpc.options import RetryPolicy

# The handler may or may not have run: gRPC INTERNAL/UNKNOWN/ABORTED (all INTERNAL here),
# UNAVAILABLE after the request went out (CONNECTION), RESOURCE_EXHAUSTED without the marker.
_AMBIGUOUS = frozenset({ErrorCode.INTERNAL, ErrorCode.CONNECTION, ErrorCode.OVERLOADED})


def may_retry(error: ServiceBridgeError, *, idempotent: bool) -> bool:
    if error.not_dispatched:
        return True
    return idempotent and error.code in _AMBIGUOUS


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Delay before attempt ``attempt + 1``: exponential, capped, with +/- ``jitter`` spread."""
    delay = min(policy.max_delay, policy.base_delay * policy.factor ** (attempt - 1))
    return max(0.0, delay * (1 + policy.jitter * rng.uniform(-1.0, 1.0)))
