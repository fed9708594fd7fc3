"""The benchmarks run and print their tables (speed is never asserted here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_bench(name: str, results: Path) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["BENCH_RESULTS_DIR"] = str(results)
    done = subprocess.run(
        [sys.executable, "-m", "bench", name, "--quick", "--runs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("name", "subjects"),
    [
        ("codegen", ["sb-gen (pb2 + pyi + _sb.py)", "protoc --python_out + mypy-protobuf"]),
        ("dataclass", ["event dataclass", "raw protobuf message"]),
        ("sync", ["sb-gen sync client + handler", "grpcio sync stub + servicer"]),
        (
            "workflows",
            ["workflow: start + await_result", "direct: the same calls and publish, in order"],
        ),
    ],
)
def test_bench_prints_its_table(name: str, subjects: list[str], tmp_path: Path) -> None:
    out = _run_bench(name, tmp_path)
    assert "| case | subject | median | min-max | runs | ratio | target |" in out
    assert "Machine: " in out
    for subject in subjects:
        assert f"| {subject} |" in out
    written = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
    assert "| case | subject |" in written


def test_help_lists_every_benchmark() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = (
        "codegen",
        "rpc",
        "mtls",
        "sync",
        "streaming",
        "dataclass",
        "outbox",
        "events",
        "workflows",
        "http",
        "instructions",
        "profile",
    )
    for name in (*names, "all"):
        assert name in done.stdout
