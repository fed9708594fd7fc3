"""Generate the bench protos three ways (sb-gen, grpcio, grpclib) and import the results.

Generated code does not exist until a benchmark runs, so modules are imported by name and typed
``Any``: the benchmarks use them the way a user's code would.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bench.tools import protoc, run, tool

PROTOS = Path(__file__).parent / "protos"
SB_PACKAGE = "bench_sbgen"
"""sb-gen's output package (``<root>/bench_sbgen``)."""
RAW_DIR = "raw"
"""grpcio and grpclib stubs, flat modules with absolute imports (``<root>/raw``)."""


@dataclass(frozen=True, slots=True)
class Generated:
    root: Path

    @property
    def paths(self) -> list[Path]:
        """What goes on ``sys.path`` / ``PYTHONPATH`` to import every generated module."""
        return [self.root, self.root / RAW_DIR]

    def activate(self) -> None:
        for path in reversed(self.paths):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))

    def sb(self, stem: str) -> ModuleType:
        """sb-gen's ``<stem>_sb`` module (clients, handlers, event dataclasses)."""
        self.activate()
        return importlib.import_module(f"{SB_PACKAGE}.{stem}_sb")

    def sb_pb2(self, stem: str) -> ModuleType:
        self.activate()
        return importlib.import_module(f"{SB_PACKAGE}.{stem}_pb2")

    def raw(self, module: str) -> ModuleType:
        """A grpcio/grpclib module: ``bench_rpc_pb2``, ``bench_rpc_pb2_grpc``, ``bench_rpc_grpc``."""
        self.activate()
        return importlib.import_module(module)


_SHARED: list[tuple[tempfile.TemporaryDirectory[str], Generated]] = []


def shared() -> Generated:
    """The bench protos generated once per process (imported modules stay valid across benchmarks)."""
    if not _SHARED:
        directory = tempfile.TemporaryDirectory(prefix="bench-generated-")
        _SHARED.append((directory, generate(Path(directory.name))))
    return _SHARED[0][1]


def generate(root: Path) -> Generated:
    """Generate every bench proto under ``root``; ``root`` must exist."""
    protos = sorted(PROTOS.glob("*.proto"))
    run([tool("sb-gen"), "-I", str(PROTOS), *map(str, protos), "-o", str(root / SB_PACKAGE)])
    raw = root / RAW_DIR
    raw.mkdir()
    plugin = f"--plugin=protoc-gen-grpclib_python={tool('protoc-gen-grpclib_python')}"
    outs = [f"--python_out={raw}", f"--grpc_python_out={raw}", f"--grpclib_python_out={raw}"]
    run(protoc(["-I", str(PROTOS), plugin, *outs, "bench_rpc.proto"]))
    return Generated(root)
