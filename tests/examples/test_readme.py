"""The README's quick start works when pasted, as it promises."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


def _documented(heading: str) -> list[str]:
    """The first column of the README table that follows ``heading``."""
    text = (REPO / "README.md").read_text()
    table = text[text.index(heading) :].split("\n\n")[1]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)


def test_every_bridge_keyword_is_documented() -> None:
    keywords = [
        p.name
        for p in inspect.signature(sb.Bridge).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert _documented("`Bridge(service, **keywords)`") == keywords


@pytest.mark.parametrize("config", [sb.RpcConfig, sb.EventsConfig], ids=lambda c: c.__name__)
def test_every_config_field_is_documented(config: type[Any]) -> None:
    fields = [f.name for f in dataclasses.fields(config)]
    assert _documented(f"`sb.{config.__name__}(**fields)`") == fields
