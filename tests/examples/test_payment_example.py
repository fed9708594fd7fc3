"""The README's payment example runs as two processes and its code type-checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.generator.tools import REPO, run_mypy

EXAMPLE = REPO / "examples" / "payment"


def test_payment_example_runs_end_to_end() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "checkout: charged, transaction" in out
    assert out.count("checkout: history") == 2
    assert "checkout: refused as expected: INVALID_AMOUNT: amount must be positive, got -5" in out
    assert "payment: charged 4200 EUR for u-1 (caller=checkout, key=order-1001)" in out
    assert "payment: drained and stopped" in out
    assert "billing: charged, transaction" in out
    assert out.count("billing: history") == 1
    assert "billing: refused as expected: INVALID_AMOUNT: amount must be positive, got 0" in out
    assert "payment: charged 1500 EUR for u-2 (caller=billing-script, key=invoice-77)" in out

    files = ("server.py", "caller.py", "sync_caller.py")
    typed = run_mypy(*(EXAMPLE / name for name in files), cwd=EXAMPLE)
    assert typed.returncode == 0, typed.stdout
