"""The README's "Two commands", pasted in order into a fresh clone: generate, then lint and type
check the way ``bash .ci/check`` does (its ``.ci/lint`` half; the suite itself is what runs this).

The first command's venv line is the environment this test already runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generator.tools import REPO


def readme_blocks(section: str) -> list[str]:
    """The fenced code blocks of one ``## section`` of the README."""
    text = (REPO / "README.md").read_text()
    body = text[text.index(f"## {section}\n") :].split("\n## ", 1)[0]
    return [block.split("\n", 1)[1] for block in body.split("```")[1::2]]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, env=env, check=False
    )


@pytest.mark.timeout(900)
def test_generate_then_check_in_a_fresh_clone(tmp_path: Path) -> None:
    setup, check = readme_blocks("Two commands")
    generate = [line for line in setup.splitlines() if line.startswith("sb-gen ")]
    assert len(generate) == 1, setup
    assert check.strip() == "bash .ci/check"

    head = run(["git", "rev-parse", "HEAD"], REPO)
    assert head.returncode == 0, head.stderr
    clone = tmp_path / "clone"
    cloned = run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    checkout = run(["git", "checkout", "--quiet", head.stdout.strip()], clone)
    assert checkout.returncode == 0, checkout.stderr

    generated = run(["bash", "-c", f"set -e\n{generate[0]}"], clone)
    assert generated.returncode == 0, generated.stderr
    assert (clone / "gen" / "payment_sb.py").exists()

    linted = run(["bash", ".ci/lint"], clone)
    assert linted.returncode == 0, linted.stdout + linted.stderr
