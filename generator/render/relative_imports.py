"""Stage render: rewrite the absolute imports protoc and mypy-protobuf emit into package-relative ones.

``from common import money_pb2 as x`` inside ``shop/order_pb2.py`` becomes
``from ..common import money_pb2 as x``, so the output package works wherever it is placed (the
grpcio import bug, grpc/grpc#29390, cannot happen). Only imports of modules that are part of the
output are touched; ``google.protobuf`` imports stay absolute. ``import public "x.proto"``
makes protoc write ``from x_pb2 import *`` and mypy-protobuf ``from x_pb2 import Name as Name``;
those become ``from .x_pb2 import ...`` the same way.
"""

from __future__ import annotations

import re
from collections.abc import Set

from generator.model import naming

_FROM = re.compile(r"^from ([\w.]+) import (\w+_pb2)\b(.*)$", re.MULTILINE)
_FROM_MODULE = re.compile(r"^from ([\w.]*\w_pb2) import (.*)$", re.MULTILINE)
_PLAIN = re.compile(r"^import (\w+_pb2)\b(.*)$", re.MULTILINE)
_BODY = re.compile(r"^DESCRIPTOR\b", re.MULTILINE)
_MODULE_NAME = re.compile(
    r"^(_builder\.BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'[\w.]+'", re.MULTILINE
)


def make_relative(source: str, module: str, generated: Set[str]) -> str:
    """``module`` and ``generated`` are slash paths without suffix (``shop/order_pb2``)."""

    def relative(target: str) -> tuple[str, str] | None:
        return naming.relative_import(target, module) if target in generated else None

    def from_import(m: re.Match[str]) -> str:
        found = relative(f"{m.group(1).replace('.', '/')}/{m.group(2)}")
        return f"from {found[0]} import {found[1]}{m.group(3)}" if found else m.group(0)

    def plain_import(m: re.Match[str]) -> str:
        found = relative(m.group(1))
        return f"from {found[0]} import {found[1]}{m.group(2)}" if found else m.group(0)

    def from_module(m: re.Match[str]) -> str:
        found = relative(m.group(1).replace(".", "/"))
        if not found:
            return m.group(0)
        package, name = found
        dotted = f"{package}{name}" if package.endswith(".") else f"{package}.{name}"
        return f"from {dotted} import {m.group(2)}"

    # Both tools write every import before the module's DESCRIPTOR; only that head is rewritten
    # (the rest can be large: serialized descriptors and stub classes).
    end = _BODY.search(source)
    cut = end.start() if end else len(source)
    head = _FROM.sub(from_import, source[:cut])
    head = _PLAIN.sub(plain_import, _FROM_MODULE.sub(from_module, head))
    # Classes report the module they really live in (pickling, repr), not protoc's guess.
    return head + _MODULE_NAME.sub(r"\1__name__", source[cut:])
