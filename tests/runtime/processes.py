"""Start callee processes (tests/conformance/rpc_callee.py) and stop or kill them."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CALLEE = Path(__file__).resolve().parent.parent / "conformance" / "rpc_callee.py"
REPO = Path(__file__).resolve().parent.parent.parent


@dataclass
class Callee:
    process: subprocess.Popen[str]
    address: str

    def terminate(self) -> int:
        """SIGTERM: the callee drains and exits; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def start_callee(
    echo_root: Path,
    service: str,
    *,
    name: str | None = None,
    nats: str | None = None,
    behaviours: dict[str, Any] | None = None,
    tls: Path | None = None,
    access: Mapping[str, Any] | None = None,
    timeout: float = 20.0,
    transport: str = "grpcio",
) -> Callee:
    args = [sys.executable, str(CALLEE), str(echo_root), service]
    if name:
        args += ["--name", name]
    if nats:
        args += ["--nats", nats]
    if behaviours:
        args += ["--behaviours", json.dumps(behaviours)]
    if tls:
        args += ["--tls", str(tls)]
    if access:
        args += ["--access", json.dumps(access)]
    if transport != "grpcio":
        args += ["--transport", transport]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    assert process.stdout is not None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith("LISTENING "):
                return Callee(process, line.split()[1])
            if not line:
                break
        if process.poll() is not None:
            break
    process.kill()
    process.wait(5)
    raise RuntimeError(f"callee {service} did not start (exit {process.poll()})")
