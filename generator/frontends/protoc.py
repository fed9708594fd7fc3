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
from importlib import resources
from pathlib import Path

from grpc_tools import _protoc_compiler

_LOCK = threading.Lock()


def well_known_types_dir() -> Path:
    """The directory holding google/protobuf/*.proto as shipped by grpcio-tools."""
    return Path(str(resources.files("grpc_tools") / "_proto"))


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
