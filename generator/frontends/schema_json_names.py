"""Stage frontend, .schema.json names: identifier checks, protoc's case rules, JSON paths, hints."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_EVENT_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

JsonPath = tuple[str, ...]


def is_identifier(name: str) -> bool:
    """A protobuf identifier (ASCII letters, digits, ``_``, not starting with a digit)."""
    return _IDENTIFIER.fullmatch(name) is not None


def is_package(name: str) -> bool:
    return _PACKAGE.fullmatch(name) is not None


def is_event_name(name: str) -> bool:
    """ServiceBridge's event name rule: ^[a-z0-9_-]+(\\.[a-z0-9_-]+)*$."""
    return _EVENT_NAME.fullmatch(name) is not None


def camel(name: str, *, upper_first: bool) -> str:
    """protoc's ToCamelCase: drop each ``_`` and upper-case the letter after it.

    With ``upper_first`` this is the rule protoc requires for a map entry (``<Field>Entry``), and
    the rule nested message and enum names follow (``line_items`` -> ``LineItems``); without it,
    it is the default JSON name whose uniqueness protoc enforces in proto3.
    """
    out: list[str] = []
    capitalize = upper_first
    for char in name:
        if char == "_":
            capitalize = True
        elif capitalize:
            out.append(char.upper())
            capitalize = False
        else:
            out.append(char)
    return "".join(out)


def upper_snake(name: str) -> str:
    """``PaymentKind`` -> ``PAYMENT_KIND``, the prefix of an added ``_UNSPECIFIED`` enum value."""
    return _WORD_BOUNDARY.sub("_", name).upper()


def package_from_stem(stem: str) -> str:
    """The default package: the file stem in snake_case (``payment-nested`` -> ``payment_nested``).

    ServiceBridge files carry no package; without one, two files declaring ``OrderRequest`` could
    not be loaded in one process (protobuf has one global namespace).
    """
    name = re.sub(r"\W+", "_", stem).strip("_").lower() or "schema"
    return f"_{name}" if name[0].isdigit() else name


def service_name_from_stem(stem: str) -> str:
    """The default service name: the file stem in PascalCase (``payment-nested`` -> ``PaymentNested``)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", stem))


def format_path(path: JsonPath) -> str:
    """``$.input.ChargeRequest.amount``; keys that are not identifiers go in brackets."""
    parts = ["$"]
    for key in path:
        parts.append(
            f".{key}" if is_identifier(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
        )
    return "".join(parts)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint for a misspelt key or type: the closest choice, else the list of choices."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1)
    if close:
        return f"did you mean {json.dumps(close[0])}?"
    return "expected one of: " + ", ".join(options)
