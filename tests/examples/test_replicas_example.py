"""The replicas example: two processes behind one name, found through the NATS KV registry."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.generator.tools import REPO


def test_replicas_example_spreads_calls_over_both_replicas() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "replicas" / "run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "replica-a: serving greeter on 127.0.0.1:" in out
    assert "replica-b: serving greeter on 127.0.0.1:" in out
    line = next(line for line in out.splitlines() if line.startswith("caller: 20 calls"))
    # Both replicas answered, and together they answered every call.
    counts = ast.literal_eval(line.split("answered by ", 1)[1])
    assert set(counts) == {"replica-a", "replica-b"} and sum(counts.values()) == 20
    assert "replica-a: stopped" in out and "replica-b: stopped" in out
