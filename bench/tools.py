"""Paths of the tools the benchmarks run, and running them as a user would (one subprocess)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
PYTHON = sys.executable


def tool(name: str) -> str:
    """A console script installed next to this interpreter (sb-gen, protoc-gen-mypy ...)."""
    path = BIN / name
    if not path.exists():
        raise SystemExit(f"{name} not found next to {PYTHON}: pip install -e '.[bench]'")
    return str(path)


def protoc(args: Sequence[str]) -> list[str]:
    """The command line of grpc_tools' bundled protoc."""
    return [PYTHON, "-m", "grpc_tools.protoc", *args]


def run(command: Sequence[str], cwd: Path | None = None) -> None:
    """Run ``command``; on failure exit with its output."""
    done = subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-4000:]}")


def timed(command: Sequence[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, all its processes) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run(command, cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def python_path(*directories: Path) -> dict[str, str]:
    """This process's environment with ``directories`` first on PYTHONPATH."""
    env = dict(os.environ)
    parts = [str(d) for d in directories]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env
