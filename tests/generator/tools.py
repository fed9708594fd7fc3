"""Run mypy and ruff on generated code the way a user would, and return what they print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The strict rule set sb-gen's own code is held to; generated code must pass it too.
RUFF_RULES = "E,F,W,I,UP,B,SIM,RUF,ASYNC"


def run_mypy(*targets: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": str(REPO)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            # Errors inside imported packages (runtime_lib) are not the generated code's:
            # silence them as mypy does for any installed package.
            "--follow-imports=silent",
            "--config-file",
            str(REPO / "pyproject.toml"),
            *map(str, targets),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sb_gen(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """sb-gen as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
