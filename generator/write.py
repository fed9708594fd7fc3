"""Stage write: write the generated package atomically, or compare it with what is on disk (``--check``).

The new tree is written next to OUT and swapped in with renames, so a failed run leaves the
previous OUT untouched and a reader never sees half a package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from generator.errors import Diagnostic, GeneratorError
from generator.pipeline import INIT_MARKER


def check_out_dir(out: Path, marker: tuple[str, str] = ("__init__.py", INIT_MARKER)) -> None:
    """OUT must be absent, empty, or sb-gen's earlier output (its file ``marker[0]`` starts with
    ``marker[1]``): never clobber user files."""
    if out.exists() and not out.is_dir():
        raise GeneratorError(
            Diagnostic(str(out), "output is a file, not a directory", hint="pass a directory to -o")
        )
    if out.is_dir() and any(out.iterdir()):
        mark = out / marker[0]
        if not mark.is_file() or not mark.read_text("utf-8", "replace").startswith(marker[1]):
            raise GeneratorError(
                Diagnostic(
                    str(out),
                    "directory is not empty and was not written by sb-gen",
                    hint="pass an empty or new directory to -o; sb-gen replaces its whole output",
                )
            )


def changed_files(out: Path, files: Mapping[str, bytes]) -> list[str]:
    """Paths (relative to OUT) that a write would add, change or remove."""
    on_disk = (
        {
            p.relative_to(out).as_posix()
            for p in out.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        if out.is_dir()
        else set()
    )
    changed = [p for p, data in files.items() if p not in on_disk or (out / p).read_bytes() != data]
    return sorted(changed + [p for p in on_disk if p not in files])


def write_atomically(out: Path, files: Mapping[str, bytes]) -> None:
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for rel, data in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, retired / "tree")
            os.replace(staging, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
