"""The embedded broker: one local ``nats-server`` per ``data_dir``, shared by every process using it.

The first process to need it starts it (store under ``<data_dir>/nats``, port in
``<data_dir>/nats/server.json``); the others read the file and connect. Each user registers a
file named after its pid under ``<data_dir>/nats/users/``; the last one to release it (users whose
process died do not count) stops the server. A lock file serialises all of this between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from runtime_lib.errors import ConfigError
from runtime_lib.nats_server import NatsServer


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "server.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        # A zombie (dead, not yet reaped by its parent) still answers kill(pid, 0).
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _user_pid(path: Path) -> int:
    head = path.name.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def _is_nats_server(pid: int) -> bool:
    """Guards against a recycled pid; without /proc the state file is trusted."""
    try:
        return b"nats-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 0.5):
            return True
    except OSError:
        return False


class EmbeddedNats:
    """``acquire()`` returns the URL of the shared server; ``release()`` gives it back."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "nats"
        self._server: NatsServer | None = None
        # pid.token: one process may hold several users (two runtimes in one process).
        self._user_file = self.root / "users" / f"{os.getpid()}.{uuid.uuid4().hex[:8]}"

    @property
    def _state_file(self) -> Path:
        return self.root / "server.json"

    def acquire(self, timeout: float = 10.0) -> str:
        with _locked(self.root):
            url = self._running_url()
            if url is None:
                server = NatsServer(store_dir=self.root / "store").start(timeout)
                assert server.process is not None
                self._server = server
                state = {"pid": server.process.pid, "host": server.host, "port": server.port}
                self._state_file.write_text(json.dumps(state))
                url = server.url
            self._user_file.parent.mkdir(parents=True, exist_ok=True)
            self._user_file.write_text("")
            return url

    def _running_url(self) -> str | None:
        try:
            state = json.loads(self._state_file.read_text())
            pid, host, port = int(state["pid"]), str(state["host"]), int(state["port"])
        except (OSError, ValueError, KeyError):
            return None
        if _alive(pid) and _listening(host, port):
            return f"nats://{host}:{port}"
        return None

    def release(self, timeout: float = 10.0) -> None:
        with _locked(self.root):
            self._user_file.unlink(missing_ok=True)
            users_dir = self.root / "users"
            live = [p for p in users_dir.iterdir() if _alive(_user_pid(p))]
            for stale in set(users_dir.iterdir()) - set(live):
                stale.unlink(missing_ok=True)
            if live:
                self._server = None  # still in use: it outlives this process
                return
            self._stop_server(timeout)

    def _stop_server(self, timeout: float) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        else:
            try:
                state = json.loads(self._state_file.read_text())
                pid, host, port = int(state["pid"]), str(state["host"]), int(state["port"])
            except (OSError, ValueError, KeyError):
                return
            if _alive(pid) and _is_nats_server(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                end = time.monotonic() + timeout
                while time.monotonic() < end and _listening(host, port):
                    time.sleep(0.05)
                if _listening(host, port):
                    raise ConfigError(f"embedded nats-server (pid {pid}) did not stop")
        self._state_file.unlink(missing_ok=True)
