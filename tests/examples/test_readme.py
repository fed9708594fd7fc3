"""The README's quick start works when pasted, as it promises."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import runtime_lib as sb
from tests.generator.tools import REPO


def quick_start_script() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Quick start") :]
    start = section.index("```\n") + 4
    return section[start : section.index("\n```\n", start)]


def test_quick_start_runs_as_pasted(tmp_path: Path) -> None:
    script = quick_start_script().replace("/tmp/quickstart", str(tmp_path / "quickstart"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "charged: tx-u-1" in result.stdout
    assert "refused: HANDLER INVALID_AMOUNT amount must be positive" in result.stdout


def test_every_bridge_keyword_is_documented() -> None:
    text = (REPO / "README.md").read_text()
    table = text[text.index("`Bridge(service, **keywords)`") :].split("\n\n")[1]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    keywords = [
        p.name
        for p in inspect.signature(sb.Bridge).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert documented == keywords
