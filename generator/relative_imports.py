"""Rewrite the absolute imports protoc and mypy-protobuf emit into package-relative ones.

``from common import money_pb2 as x`` inside ``shop/order_pb2.py`` becomes
``from ..common import money_pb2 as x``, so the output package works wherever it is placed (the
grpcio import bug, grpc/grpc#29390, cannot happen). Only imports of modules that are part of the
output are touched; ``google.protobuf`` imports stay absolute.
"""

from __future__ import annotations

import re
from collections.abc import Set

from generator import naming

_FROM = re.compile(r"^from ([\w.]+) import (\w+_pb2)\b(.*)$", re.MULTILINE)
_PLAIN = re.compile(r"^import (\w+_pb2)\b(.*)$", re.MULTILINE)
_BODY = re.compile(r"^DESCRIPTOR\b", re.MULTILINE)
_MODULE_NAME = re.compile(
    r"^(_builder\.BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'[\w.]+'", re.MULTILINE
)


def make_relative(source: str, module: str, generated: Set[str]) -> str:
    """``module`` and ``generated`` are slash paths without suffix (``shop/order_pb2``)."""

    def local(target: str, rest: str) -> str | None:
        if target not in generated:
            return None
        package, name = naming.relative_import(target, module)
        return f"from {package} import {name}{rest}"

    def from_import(m: re.Match[str]) -> str:
        target = f"{m.group(1).replace('.', '/')}/{m.group(2)}"
        return local(target, m.group(3)) or m.group(0)

    def plain_import(m: re.Match[str]) -> str:
        return local(m.group(1), m.group(2)) or m.group(0)

    # Both tools write every import before the module's DESCRIPTOR; only that head is rewritten
    # (the rest can be large: serialized descriptors and stub classes).
    end = _BODY.search(source)
    cut = end.start() if end else len(source)
    head = _PLAIN.sub(plain_import, _FROM.sub(from_import, source[:cut]))
    # Classes report the module they really live in (pickling, repr), not protoc's guess.
    return head + _MODULE_NAME.sub(r"\1__name__", source[cut:])
