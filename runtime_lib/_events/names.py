"""Event names, subscription patterns and their NATS subjects.

A name is dot-separated segments of ``[a-z0-9_-]``. A pattern is a name whose segments may also be
``*`` (exactly one segment) or ``#`` (zero or more segments). On NATS every event subject ends with
a sentinel token (``sb.ev.order.placed._``) because NATS ``>`` never matches zero tokens: with the
sentinel, ``order.#`` becomes ``sb.ev.order.>`` and still matches ``order`` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from runtime_lib._errors import InvalidEventNameError

NAME_RE = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_SEGMENT_RE = re.compile(r"^[a-z0-9_-]+$")

SUBJECT_PREFIX = "sb.ev"
SENTINEL = "_"


def validate_name(name: str) -> str:
    """``name`` unchanged, or InvalidEventNameError."""
    if not NAME_RE.match(name):
        raise InvalidEventNameError(
            f"invalid event name {name!r}: must match ^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$"
        )
    return name


def subject_for(name: str) -> str:
    return f"{SUBJECT_PREFIX}.{name}.{SENTINEL}"


@dataclass(frozen=True)
class Pattern:
    """A compiled subscription pattern."""

    text: str
    _regex: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, name: str) -> bool:
        # Every regex part starts with a dot, so '#' can match nothing at all.
        return self._regex.match("." + name) is not None

    @property
    def nats_filter(self) -> str:
        """A NATS filter subject matching a superset of this pattern's subjects.

        Exact for patterns without ``#`` and with ``#`` last; a ``#`` in the middle becomes ``>``
        and :meth:`matches` drops the extra subjects on receipt.
        """
        tokens = [SUBJECT_PREFIX]
        for segment in self.text.split("."):
            if segment == "#":
                return ".".join([*tokens, ">"])
            tokens.append(segment)
        return ".".join([*tokens, SENTINEL])


@lru_cache(maxsize=1024)
def compile_pattern(text: str) -> Pattern:
    """Parse ``text`` into a :class:`Pattern`, or InvalidEventNameError."""
    segments = text.split(".")
    parts: list[str] = []
    for segment in segments:
        if segment == "*":
            parts.append(r"\.[a-z0-9_-]+")
        elif segment == "#":
            parts.append(r"(?:\.[a-z0-9_-]+)*")
        elif _SEGMENT_RE.match(segment):
            parts.append(r"\." + re.escape(segment))
        else:
            raise InvalidEventNameError(
                f"invalid pattern {text!r}: segments are [a-z0-9_-]+, '*' or '#'"
            )
    return Pattern(text, re.compile("^" + "".join(parts) + "$"))
