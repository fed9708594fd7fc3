"""Starts a nats-server and two instances of the ``reports`` service for five seconds: each
heartbeat tick prints once (from either instance) and the reminder scheduled by the first
instance fires once.

python examples/jobs/run.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from runtime_lib._nats_server import NatsServer

HERE = Path(__file__).resolve().parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="jobs-example-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            instances = [
                subprocess.Popen(
                    [sys.executable, str(HERE / "service.py"), server.url, f"{tmp}/i{i}", "5"],
                    env={**os.environ, **({"SCHEDULE_REMINDER": "1"} if i == 0 else {})},
                )
                for i in range(2)
            ]
            codes = [instance.wait(60) for instance in instances]
        finally:
            server.stop()
    if any(codes):
        raise SystemExit(f"an instance failed: exit codes {codes}")


if __name__ == "__main__":
    main()
