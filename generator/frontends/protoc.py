"""Stage frontend: run the protoc compiler embedded in grpcio-tools, in this process (render
runs it too, for ``python_out``).

In-process keeps codegen to one process (no plugin subprocess per file). protoc reports errors
on file descriptor 2, so that descriptor is redirected to a temporary file for the duration of
the call and its text handed back to the caller.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from grpc_tools import _protoc_compiler

_LOCK = threading.Lock()


def well_known_types_dir() -> Path:
    """The directory holding google/protobuf/*.proto as shipped by grpcio-tools."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


def googleapis_dir() -> Path:
    """The directory holding google/api/*.proto (annotations, http) as shipped by
    googleapis-common-protos, so ``import "google/api/annotations.proto"`` resolves without a
    vendored copy; searched last, so a user's own copy wins."""
    return Path(str(resources.files("google.api") / "annotations.proto")).parents[2]


def from_googleapis_package(name: str, include: Sequence[Path]) -> bool:
    """True when protoc found ``name`` in googleapis-common-protos (no earlier path has it)."""
    shipped = googleapis_dir()
    for root in include:
        if (root / name).is_file():
            return root == shipped
    return False


def run_protoc(args: list[str]) -> tuple[int, str]:
    """Run protoc with ``args`` (without the program name); return (exit code, stderr text)."""
    with _LOCK, tempfile.TemporaryFile() as err:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)
        try:
            code = _protoc_compiler.run_main([b"protoc", *(a.encode() for a in args)])
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        err.seek(0)
        return int(code), err.read().decode("utf-8", "replace")
