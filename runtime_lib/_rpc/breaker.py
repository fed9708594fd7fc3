"""Circuit breaker per endpoint (ServiceBridge rules).

Closed: calls pass; over a sliding ``window`` it opens when at least ``min_calls`` finished and
more than ``failure_ratio`` of them failed. Open: calls are refused for ``open_for`` seconds.
Half-open: one probe passes; its success closes the breaker, its failure opens it again.
Handler errors count as successes: the endpoint worked.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    window: float = 10.0
    min_calls: int = 10
    failure_ratio: float = 0.5
    open_for: float = 30.0


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self._policy = policy
        self._clock = clock
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._failures = 0  # failures among _outcomes, kept so record() never rescans the window
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cool():
            return BreakerState.HALF_OPEN
        return self._state

    def available(self) -> bool:
        """Whether a call may be sent now (no side effect; ``acquire`` takes the probe)."""
        if self._state is BreakerState.CLOSED:
            return True
        state = self.state
        return state is BreakerState.CLOSED or (
            state is BreakerState.HALF_OPEN and not self._probing
        )

    def acquire(self) -> bool:
        """Claim the right to send one call; in half-open only the first claimant gets it."""
        if self._state is BreakerState.CLOSED:
            return True
        if not self.available():
            return False
        if self.state is BreakerState.HALF_OPEN:
            self._state = BreakerState.HALF_OPEN
            self._probing = True
        return True

    def record(self, ok: bool) -> None:
        """The outcome of a call that ``acquire`` let through."""
        now = self._clock()
        if self._state is BreakerState.CLOSED:
            outcomes = self._outcomes
            outcomes.append((now, ok))
            if not ok:
                self._failures += 1
            horizon = now - self._policy.window
            while outcomes[0][0] < horizon:
                if not outcomes.popleft()[1]:
                    self._failures -= 1
            # With no failure in the window (every call of a healthy endpoint) it cannot open.
            if self._failures:
                total = len(outcomes)
                policy = self._policy
                if total >= policy.min_calls and self._failures > policy.failure_ratio * total:
                    self._open(now)
            return
        if self._state is BreakerState.OPEN:
            return  # a call sent before the breaker opened says nothing new
        self._probing = False  # half-open: this was the probe
        self._forget()
        if ok:
            self._state = BreakerState.CLOSED
        else:
            self._open(now)

    def release(self) -> None:
        """A call ended with no verdict on the endpoint (cancelled by its caller)."""
        if self._state is BreakerState.HALF_OPEN:
            self._probing = False

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._forget()

    def _forget(self) -> None:
        self._outcomes.clear()
        self._failures = 0

    def _cool(self) -> bool:
        return self._clock() >= self._opened_at + self._policy.open_for
