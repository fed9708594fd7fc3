"""A synthetic corpus of .proto files: services with many methods, messages, nesting, enums, imports."""

from __future__ import annotations

from pathlib import Path

_SCALARS = ("string", "int64", "int32", "double", "bool", "bytes", "uint32", "float")


def _file_name(i: int) -> str:
    return f"area{i % 5}/file{i:03d}.proto"


def _imports(i: int) -> list[int]:
    """Earlier files this one imports (a chain plus a longer jump), so imports form a DAG."""
    return sorted({j for j in (i - 1, i - 7) if j >= 0})


def proto_text(i: int, messages: int = 10, methods: int = 10) -> str:
    lines = [
        'syntax = "proto3";',
        "",
        f"package corpus.f{i:03d};",
        "",
        'import "google/protobuf/timestamp.proto";',
    ]
    lines += [f'import "{_file_name(j)}";' for j in _imports(i)]
    lines += [
        "",
        f"// Kinds of thing number {i}.",
        f"enum Kind{i} {{",
        *(f"  KIND{i}_V{v} = {v};" for v in range(6)),
        "}",
        "",
        "// The type other files import.",
        "message Shared {",
        "  string id = 1;",
        "  int64 version = 2;",
        "  google.protobuf.Timestamp at = 3;",
        "}",
    ]
    for m in range(messages):
        lines += ["", f"// Message {m} of file {i}.", f"message M{m} {{"]
        lines += [
            "  message Inner {",
            "    string key = 1;",
            "    repeated int64 values = 2;",
            "    enum Mode { MODE_UNSPECIFIED = 0; MODE_A = 1; MODE_B = 2; }",
            "    Mode mode = 3;",
            "  }",
        ]
        number = 1
        for s, scalar in enumerate(_SCALARS):
            lines.append(f"  {scalar} field_{s} = {number};")
            number += 1
        lines += [
            f"  repeated string tags = {number};",
            f"  map<string, int64> counts = {number + 1};",
            f"  Inner inner = {number + 2};",
            f"  repeated Inner inners = {number + 3};",
            f"  Kind{i} kind = {number + 4};",
            f"  google.protobuf.Timestamp created_at = {number + 5};",
            f"  optional string note = {number + 6};",
        ]
        number += 7
        for j in _imports(i):
            lines.append(f"  corpus.f{j:03d}.Shared shared_{j} = {number};")
            number += 1
        if m:
            lines.append(f"  M{m - 1} previous = {number};")
        lines.append("}")
    lines += ["", f"// Service of file {i}.", f"service Svc{i} {{"]
    for k in range(methods):
        request, reply = f"M{k % messages}", f"M{(k + 1) % messages}"
        stream = "stream " if k % 4 == 3 else ""
        lines += [f"  // Method {k}.", f"  rpc Method{k}({request}) returns ({stream}{reply});"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_corpus(root: Path, files: int = 120) -> list[str]:
    """Write ``files`` .proto files under ``root``; return their names relative to ``root``."""
    names = []
    for i in range(files):
        name = _file_name(i)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(proto_text(i), encoding="utf-8")
        names.append(name)
    return names
