"""One command: generate, start NATS and two replicas, call "greeter" by name, stop everything.

python examples/replicas/run.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from runtime_lib._nats_server import NatsServer

HERE = Path(__file__).resolve().parent


def main() -> int:
    # sb-gen, run with this interpreter so the example works without an activated venv.
    generate = [
        sys.executable,
        "-m",
        "generator",
        str(HERE / "greeter.proto"),
        "-o",
        str(HERE / "gen"),
    ]
    subprocess.run(generate, check=True)
    with tempfile.TemporaryDirectory() as store:
        nats = NatsServer(store_dir=Path(store)).start()
        replicas = [
            subprocess.Popen(
                [sys.executable, "replica.py", nats.url, name],
                cwd=HERE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in ("replica-a", "replica-b")
        ]
        try:
            for replica in replicas:
                assert replica.stdout is not None
                print(replica.stdout.readline(), end="")  # printed once it is registered
            caller = subprocess.run([sys.executable, "caller.py", nats.url], cwd=HERE, timeout=60)
        finally:
            for replica in replicas:
                replica.terminate()
            for replica in replicas:
                assert replica.stdout is not None
                print(replica.stdout.read(), end="")
                replica.wait(30)
            nats.stop()
    return caller.returncode


if __name__ == "__main__":
    sys.exit(main())
