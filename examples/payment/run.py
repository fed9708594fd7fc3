"""One command for the whole example: generate, start the service, run the callers, stop.

python examples/payment/run.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE.parents[1] / "protos" / "payment.proto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    subprocess.run(["sb-gen", str(PROTO), "-o", str(HERE / "gen")], check=True)
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [sys.executable, "server.py", address], cwd=HERE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        print(server.stdout.readline(), end="")  # "serving on ..." once it listens
        caller = subprocess.run([sys.executable, "caller.py", address], cwd=HERE, timeout=60)
        if caller.returncode == 0:
            caller = subprocess.run(
                [sys.executable, "sync_caller.py", address], cwd=HERE, timeout=60
            )
    finally:
        server.terminate()
        assert server.stdout is not None
        print(server.stdout.read(), end="")
        server.wait(30)
    return caller.returncode


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"example finished in {time.monotonic() - started:.1f}s with exit code {code}")
    sys.exit(code)
