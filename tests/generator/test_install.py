"""``pip install .`` into a fresh venv gives a working sb-gen whose output type-checks with
nothing else installed but mypy (the stubs the output needs are runtime dependencies)."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from tests.generator.conftest import REPO

USER_CODE = """
from gen.payment_pb2 import ChargeReply, ChargeRequest
from gen.payment_sb import PaymentClient

import runtime_lib as sb


async def pay(client: PaymentClient) -> ChargeReply:
    return await client.charge(ChargeRequest(user_id="u", amount=1), timeout="1s")
"""


@pytest.mark.timeout(600)
def test_wheel_install_generates_and_type_checks(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"

    def run(*args: str | Path, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=540, check=False
        )

    install = run(python, "-m", "pip", "install", "--quiet", REPO, "mypy")
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "payment.proto").write_bytes((REPO / "protos" / "payment.proto").read_bytes())
    generated = run(env_dir / "bin" / "sb-gen", "payment.proto", "-o", "gen", cwd=work)
    assert generated.returncode == 0, generated.stderr
    assert (work / "gen" / "payment_sb.py").exists()

    (work / "user.py").write_text(USER_CODE)
    typed = run(python, "-m", "mypy", "--strict", "gen", "user.py", cwd=work)
    assert typed.returncode == 0, typed.stdout
    assert "Success" in typed.stdout

    plugin_out = work / "plugin_out"
    plugin_out.mkdir()
    plugin = run(
        python,
        "-m",
        "grpc_tools.protoc",
        "-I.",
        f"--plugin=protoc-gen-sb={env_dir / 'bin' / 'protoc-gen-sb'}",
        f"--sb_out={plugin_out}",
        "payment.proto",
        cwd=work,
    )
    assert plugin.returncode == 0, plugin.stderr
    assert (plugin_out / "payment_sb.py").read_bytes() == (
        work / "gen" / "payment_sb.py"
    ).read_bytes()
