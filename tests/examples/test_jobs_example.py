"""The jobs example: two instances, each heartbeat tick printed once, the reminder fired once."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

from tests.generator.tools import REPO, run_mypy

EXAMPLE = REPO / "examples" / "jobs"


def test_jobs_example_fires_each_tick_once_across_two_instances() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    ticks = Counter(re.findall(r"heartbeat (heartbeat:\d+)", out))
    assert ticks, out
    assert set(ticks.values()) == {1}, ticks
    assert out.count("reminder for u-1 (attempt 1)") == 1, out
    assert out.count("nightly-rollup: cron '0 3 * * *' Europe/Berlin") == 2

    typed = run_mypy(EXAMPLE / "service.py", EXAMPLE / "run.py", cwd=EXAMPLE)
    assert typed.returncode == 0, typed.stdout
