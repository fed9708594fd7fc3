"""One command: generate, make certificates, start a secured NATS and two replicas, call
"greeter" by name over mutual TLS, stop everything.

Every identity comes from ``sb-certs``: the replicas and the caller (gRPC and their NATS
registry connections), the broker (``nats``) and the provisioning identity (``sb-admin``), which
creates the registry bucket that the services may then only use.

python examples/replicas/run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from runtime_lib._nats_server import NatsServer

HERE = Path(__file__).resolve().parent
SB_CERTS = [sys.executable, "-m", "runtime_lib._security.cli"]


def sb_certs(*args: str) -> None:
    subprocess.run([*SB_CERTS, *args], check=True, stdout=subprocess.DEVNULL)


def secure_broker(work: Path) -> tuple[NatsServer, str, str]:
    """Certificates, a nats-server allowing each service only its own registry entries, and its
    provisioned registry bucket: (server, tls:// URL, certificate directory)."""
    certs = str(work / "certs")
    sb_certs("init", "--trust-domain", "replicas.example", "--dir", certs)
    for identity in ("greeter", "caller", "nats", "sb-admin"):
        sb_certs("issue", identity, "--dir", certs)
    services = work / "services.json"
    services.write_text(json.dumps({"greeter": {}, "caller": {}}))
    config = work / "nats.conf"
    sb_certs("nats-config", str(services), "--dir", certs, "-o", str(config))
    nats = NatsServer(store_dir=work / "store", config_file=config).start()
    url = f"tls://{nats.host}:{nats.port}"
    sb_certs("provision", url, "--dir", certs)
    return nats, url, certs


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
    with tempfile.TemporaryDirectory() as work:
        nats, url, certs = secure_broker(Path(work))
        replicas = [
            subprocess.Popen(
                [sys.executable, "replica.py", url, name, certs],
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
            caller = subprocess.run([sys.executable, "caller.py", url, certs], cwd=HERE, timeout=60)
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
