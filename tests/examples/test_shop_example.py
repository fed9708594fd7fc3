"""The README's events example: orders -> payment -> order.placed -> notifications, as processes."""

from __future__ import annotations

import subprocess
import sys

from tests.generator.tools import REPO, run_mypy

EXAMPLE = REPO / "examples" / "shop"


def test_shop_example_runs_across_processes() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for i in (1, 2, 3):
        assert f"storefront: order o-{i} paid (tx-order-o-{i})" in out
        assert f"notifications: ada, order o-{i} ({i * 10}.00) is confirmed" in out
    assert out.count("from orders, attempt") == 3  # the publisher, verified by the broker
    assert out.count("notifications: ada") == 3  # each event handled once
    for service in ("orders", "payment", "notifications"):
        assert f"{service}: stopped" in out

    scripts = [
        EXAMPLE / f"{n}.py"
        for n in ("orders", "payment", "notifications", "storefront", "lifecycle", "run")
    ]
    typed = run_mypy(*scripts, cwd=EXAMPLE)
    assert typed.returncode == 0, typed.stdout
