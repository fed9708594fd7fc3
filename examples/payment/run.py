"""One command for the whole example: generate, make certificates (sb-certs), start the service,
run the async and the sync caller over mutual TLS, stop.

python examples/payment/run.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = HERE.parents[1] / "protos" / "payment.proto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def certificates(directory: str) -> None:
    """A CA and a certificate for payment and its caller, with the sb-certs command."""
    init = ["sb-certs", "init", "--trust-domain", "payment.example", "--dir", directory]
    subprocess.run(init, check=True, stdout=subprocess.DEVNULL)
    for service in ("payment", "checkout", "billing-script"):
        issue = ["sb-certs", "issue", service, "--dir", directory]
        subprocess.run(issue, check=True, stdout=subprocess.DEVNULL)


def main(certs: str) -> int:
    subprocess.run(["sb-gen", str(PROTO), "-o", str(HERE / "gen")], check=True)
    certificates(certs)
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [sys.executable, "server.py", address, certs], cwd=HERE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        print(server.stdout.readline(), end="")  # "serving on ..." once it listens
        caller = subprocess.run([sys.executable, "caller.py", address, certs], cwd=HERE, timeout=60)
        if caller.returncode == 0:
            caller = subprocess.run(
                [sys.executable, "sync_caller.py", address, certs], cwd=HERE, timeout=60
            )
    finally:
        server.terminate()
        assert server.stdout is not None
        print(server.stdout.read(), end="")
        server.wait(30)
    return caller.returncode


if __name__ == "__main__":
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="payment-certs-") as certs:
        code = main(certs)
    print(f"example finished in {time.monotonic() - started:.1f}s with exit code {code}")
    sys.exit(code)
