"""Stage descriptors: look-ups over a set of FileDescriptorProtos: where each type is declared, and its comments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2 as d

from generator.descriptors.contract import Contracts

_MESSAGE_TYPE = d.FileDescriptorProto.MESSAGE_TYPE_FIELD_NUMBER
_ENUM_TYPE = d.FileDescriptorProto.ENUM_TYPE_FIELD_NUMBER
_NESTED_TYPE = d.DescriptorProto.NESTED_TYPE_FIELD_NUMBER
_NESTED_ENUM = d.DescriptorProto.ENUM_TYPE_FIELD_NUMBER


@dataclass(frozen=True)
class Declared:
    """A message or enum: its file, its name inside the file (``Outer.Inner``), its source path."""

    file: str
    qualname: str
    path: tuple[int, ...]
    message: d.DescriptorProto | None = None
    enum: d.EnumDescriptorProto | None = None


class TypeIndex:
    """Every message and enum by full name (``.pkg.Outer.Inner``)."""

    def __init__(self, files: Iterable[d.FileDescriptorProto]) -> None:
        self.files = {f.name: f for f in files}
        self.contracts = Contracts(list(self.files.values()))
        self._types: dict[str, Declared] = {}
        self._by_file: dict[str, list[tuple[str, Declared]]] | None = None
        self._comments: dict[str, dict[tuple[int, ...], str]] = {}
        for f in self.files.values():
            prefix = f".{f.package}." if f.package else "."
            self._add(f.name, prefix, "", (_MESSAGE_TYPE,), f.message_type)
            for i, e in enumerate(f.enum_type):
                self._types[prefix + e.name] = Declared(f.name, e.name, (_ENUM_TYPE, i), enum=e)

    def _add(
        self,
        file: str,
        prefix: str,
        outer: str,
        path: tuple[int, ...],
        messages: Iterable[d.DescriptorProto],
    ) -> None:
        for i, m in enumerate(messages):
            qual, here = f"{outer}{m.name}", (*path, i)
            self._types[prefix + m.name] = Declared(file, qual, here, message=m)
            inner = f"{prefix}{m.name}."
            self._add(file, inner, f"{qual}.", (*here, _NESTED_TYPE), m.nested_type)
            for j, e in enumerate(m.enum_type):
                self._types[inner + e.name] = Declared(
                    file, f"{qual}.{e.name}", (*here, _NESTED_ENUM, j), enum=e
                )

    def locate(self, full_name: str) -> tuple[str, str]:
        found = self._types[full_name]
        return found.file, found.qualname

    def get(self, full_name: str) -> Declared:
        return self._types[full_name]

    def messages_in(self, file: str) -> list[tuple[str, Declared]]:
        """(full name, declaration) of every message declared in ``file``, in source order."""
        if self._by_file is None:
            self._by_file = {}
            for n, t in self._types.items():
                if t.message is not None:
                    self._by_file.setdefault(t.file, []).append((n, t))
        return self._by_file.get(file, [])

    def comments(self, file: str) -> dict[tuple[int, ...], str]:
        """Leading (or else trailing) comments of ``file`` by source path."""
        found = self._comments.get(file)
        if found is None:
            found = self._comments[file] = {}
            for loc in self.files[file].source_code_info.location:
                text = loc.leading_comments or loc.trailing_comments
                if text.strip():
                    found[tuple(loc.path)] = text
        return found


def position(fd: d.FileDescriptorProto, path: tuple[int, ...]) -> str:
    """``line:col`` (1-based) of the declaration at ``path``, or "" without source info."""
    for loc in fd.source_code_info.location:
        if tuple(loc.path) == path and loc.span:
            return f"{loc.span[0] + 1}:{loc.span[1] + 1}"
    return ""
