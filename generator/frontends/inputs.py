"""Stage frontend: resolve the CLI's inputs (files and directories) into named sources and a
proto path."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.errors import Diagnostic, GeneratorError, display_path
from generator.frontends.protoc import googleapis_dir, well_known_types_dir
from generator.resources import bundled_protos_dir

PROTO = ".proto"
SCHEMA_JSON = ".schema.json"


@dataclass(frozen=True)
class Source:
    """One input file: where it is on disk, and its name relative to its proto root."""

    disk: Path
    name: str

    @property
    def is_schema_json(self) -> bool:
        return self.name.endswith(SCHEMA_JSON)

    @property
    def proto_name(self) -> str:
        """The descriptor's file name: ``billing/payment.schema.json`` -> ``billing/payment.proto``."""
        return self.name.removesuffix(SCHEMA_JSON) + PROTO if self.is_schema_json else self.name


@dataclass(frozen=True)
class Inputs:
    sources: tuple[Source, ...]
    include: tuple[Path, ...]


def resolve_inputs(inputs: Sequence[Path], proto_paths: Sequence[Path]) -> Inputs:
    problems: list[Diagnostic] = []
    user_paths = [p.resolve() for p in proto_paths]
    for p, given in zip(user_paths, proto_paths, strict=True):
        if not p.is_dir():
            near = _near_path(given)
            hint = f"did you mean {near}?" if near and Path(near).is_dir() else "check -I"
            problems.append(Diagnostic(str(given), "proto path is not a directory", hint=hint))
    roots: list[Path] = []
    sources: list[Source] = []
    for given in inputs:
        path = given.resolve()
        if path.is_dir():
            roots.append(path)
            found = sorted(_walk(path))
            if not found:
                problems.append(
                    Diagnostic(str(given), "directory holds no .proto or .schema.json file")
                )
            sources += [_source(f, path, user_paths) for f in found]
        elif not path.exists():
            near = _near_path(given)
            hint = f"did you mean {near}?" if near else ""
            problems.append(Diagnostic(str(given), "no such file or directory", hint=hint))
        elif not _is_input(path.name):
            problems.append(
                Diagnostic(
                    str(given), "not a .proto or .schema.json file", hint="pass one of those"
                )
            )
        elif not os.access(path, os.R_OK):
            problems.append(
                Diagnostic(str(given), "cannot read the file", hint="check permissions")
            )
        else:
            roots.append(path.parent)
            sources.append(_source(path, path.parent, user_paths))
    sources = _dedupe(sources, problems)
    if problems:
        raise GeneratorError(problems)
    include = _unique(
        [*user_paths, *roots, bundled_protos_dir(), well_known_types_dir(), googleapis_dir()]
    )
    return Inputs(tuple(sorted(sources, key=lambda s: s.name)), tuple(include))


def _near_path(given: Path) -> str | None:
    """An existing path a typo or two away from ``given`` in each missing part, spelled as the user
    spelled ``given`` (``protso/paymnet.proto`` -> ``protos/payment.proto``), or None."""
    current = Path(given.anchor)
    for part in given.parts[1:] if given.anchor else given.parts:
        candidate = current / part
        if not candidate.exists():
            try:
                names = os.listdir(current)
            except OSError:
                return None
            # Above difflib's 0.6: file names share ".proto", which alone scores ~0.5.
            match = difflib.get_close_matches(part, names, n=1, cutoff=0.8)
            if not match:
                return None
            candidate = current / match[0]
        current = candidate
    if current.is_file() and not _is_input(current.name):
        return None
    return str(current)


def _walk(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        out += [Path(dirpath, n) for n in filenames if _is_input(n)]
    return out


def _is_input(name: str) -> bool:
    return name.endswith((PROTO, SCHEMA_JSON))


def _source(path: Path, root: Path, user_paths: Sequence[Path]) -> Source:
    """Named relative to the first -I path that holds it, so imports and names agree."""
    base = next((p for p in user_paths if path.is_relative_to(p)), root)
    return Source(path, path.relative_to(base).as_posix())


def _dedupe(sources: list[Source], problems: list[Diagnostic]) -> list[Source]:
    by_name: dict[str, Source] = {}
    for s in sources:
        other = by_name.get(s.proto_name)
        if other is None:
            by_name[s.proto_name] = s
        elif other.disk != s.disk:
            problems.append(
                Diagnostic(
                    display_path(s.disk),
                    f"maps to the same output as {display_path(other.disk)} ({s.proto_name})",
                    hint="rename one file, or pass the common root with -I so their names differ",
                )
            )
    return list(by_name.values())


def _unique(paths: list[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return list(seen)
