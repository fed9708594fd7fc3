"""Event names, subscription patterns and their NATS subjects.

A name is dot-separated segments of ``[a-z0-9_-]``. A pattern is a name whose segments may also be
``*`` (exactly one segment) or ``#`` (zero or more segments).

On NATS an event's subject is ``sb.ev.<name>.<publisher>``: the last token is the publishing
service (:func:`service_token`). A broker that permits each service only its own token
(docs/security.md) vouches for it, so subscribers can trust it. It also keeps ``#`` working: NATS
``>`` never matches zero tokens, but with a token after the name ``order.#`` becomes
``sb.ev.order.>`` and still matches ``order`` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from runtime_lib._errors import InvalidEventNameError

NAME_RE = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_SEGMENT_RE = re.compile(r"^[a-z0-9_-]+$")

SUBJECT_PREFIX = "sb.ev"
_PREFIX_DOT = SUBJECT_PREFIX + "."
# What subjects ended with before they named the publisher: such events have no known publisher.
_UNNAMED = "_"


def validate_name(name: str) -> str:
    """``name`` unchanged, or InvalidEventNameError."""
    if not NAME_RE.match(name):
        raise InvalidEventNameError(
            f"invalid event name {name!r}: must match ^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$"
        )
    return name


def service_token(service: str) -> str:
    """The service name as one NATS token: the publisher in subjects, consumer names, DLQ
    subjects. Under TLS service names are DNS labels, so the token is the name itself."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", service)[:64] or "service"


def subject_for(name: str, publisher: str) -> str:
    """``sb.ev.<name>.<publisher>``; ``publisher`` is a :func:`service_token`."""
    return f"{_PREFIX_DOT}{name}.{publisher}"


def parse_subject(subject: str) -> tuple[str, str]:
    """(event name, publisher) of an event subject; ``""`` for the publisher of an event
    published before subjects named it. ValueError when ``subject`` is no event subject."""
    name, dot, publisher = subject.rpartition(".")
    if not (dot and name.startswith(_PREFIX_DOT) and len(name) > len(_PREFIX_DOT)):
        raise ValueError(f"{subject!r} is not an event subject (sb.ev.<name>.<publisher>)")
    return name[len(_PREFIX_DOT) :], "" if publisher == _UNNAMED else publisher


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
        return ".".join([*tokens, "*"])  # from any publisher


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
