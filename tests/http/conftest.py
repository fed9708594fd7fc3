"""HTTP tests: ``protos/library.proto`` is generated once per session into
``tests/_generated/http_library`` (ignored by git, ruff and mypy's file discovery), so test
modules import its typed classes as a user's code does."""

from __future__ import annotations

from pathlib import Path

from generator.pipeline import build_package
from generator.write import write_atomically

PROTO = Path(__file__).parent / "protos" / "library.proto"
GENERATED = Path(__file__).parents[1] / "_generated"

GENERATED.mkdir(exist_ok=True)
(GENERATED / "__init__.py").touch()
write_atomically(GENERATED / "http_library", build_package([PROTO], []))
