"""Stage frontend, .proto: protoc (embedded in grpcio-tools) parses and links; we keep its descriptors."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import descriptor_pb2 as d

from generator.errors import Diagnostic, GeneratorError, display_path
from generator.frontends.protoc import run_protoc

_POSITIONED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$")
_UNPOSITIONED = re.compile(r"^(?P<file>[^:]+): (?P<msg>.*)$")

# protoc's wording -> what the user should do about it.
_HINTS = (
    ("is not defined", "check the spelling, or import the file that declares it"),
    ("File not found", "add the directory that holds it with -I/--proto-path"),
    ("was not found or had errors", "fix the imported file, or add its directory with -I"),
    ("Expected", "fix the syntax at this place"),
    ("already defined", "rename one of the two declarations"),
    ("Permission denied", "make the file readable"),
)


def compile_protos(names: Sequence[str], include: Sequence[Path]) -> list[d.FileDescriptorProto]:
    """Descriptors (with comments) for ``names`` and everything they import, dependencies first."""
    with tempfile.TemporaryDirectory(prefix="sb-gen-") as tmp:
        out = Path(tmp, "set.pb")
        code, err = run_protoc(
            [
                *(f"-I{p}" for p in include),
                f"--descriptor_set_out={out}",
                "--include_imports",
                "--include_source_info",
                *names,
            ]
        )
        if code != 0:
            raise GeneratorError(parse_protoc_errors(err))
        return list(d.FileDescriptorSet.FromString(out.read_bytes()).file)


def parse_protoc_errors(text: str) -> list[Diagnostic]:
    diagnostics = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("warning:") or ": warning:" in line:
            continue
        if m := _POSITIONED.match(line):
            diagnostics.append(
                Diagnostic(
                    display_path(m["file"]), m["msg"], f"{m['line']}:{m['col']}", _hint(m["msg"])
                )
            )
        elif m := _UNPOSITIONED.match(line):
            diagnostics.append(Diagnostic(display_path(m["file"]), m["msg"], hint=_hint(m["msg"])))
        else:
            diagnostics.append(Diagnostic("protoc", line))
    return diagnostics or [Diagnostic("protoc", "failed without a message")]


def _hint(message: str) -> str:
    return next((hint for needle, hint in _HINTS if needle in message), "")
