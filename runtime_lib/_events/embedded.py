"""The embedded broker: one local ``nats-server`` per ``data_dir``, shared by every process using it.

``data_dir`` defaults to a per-user location (:mod:`runtime_lib._events.data_dir`), so the
processes of one user on one machine meet on one broker whatever their working directory.
The first process to need it starts it (store under ``<data_dir>/nats``, port in
``<data_dir>/nats/server.json``); the others read the file and connect. Each user registers a
file named after its pid under ``<data_dir>/nats/users/``; the last one to release it (users whose
process died do not count) stops the server. A lock file serialises all of this between processes.
Everything here is the owner's only (0700 folders, 0600 files): the store holds event payloads.

When ``server.json`` names a ``nats-server`` that is alive but does not answer on its address,
``acquire`` fails with an error naming both instead of starting a second, private broker (whose
subscribers would never see the others' events).

With a :class:`BrokerSecurity` (bridges with ``tls=``) the server is started from its config
(TLS, one user per service, their permissions; written to ``<data_dir>/nats/nats.conf``) and
provisioned before the lock is let go, so no process ever joins a broker without its streams.
A bridge joining it when the config it would start it with differs (a service added to
``services.json``, permissions changed) rewrites the file and has the running server reload it
before connecting (SIGHUP, confirmed in the server's log ``<data_dir>/nats/nats.log``).
Secured and plaintext bridges cannot share a broker: joining the other kind is a ConfigError.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from runtime_lib._errors import ConfigError
from runtime_lib._nats_server import NatsServer, reload_config
from runtime_lib._private_files import open_private, private_dir, write_private

log = logging.getLogger("runtime_lib.events")


class BrokerSecurity(Protocol):
    """What a secured embedded broker is started with (``runtime_lib._security``)."""

    def server_config(self) -> str:
        """The nats-server config text; ConfigError naming the file at fault."""
        ...

    def provision(self, url: str) -> None:
        """Create the streams and buckets on the broker just started at ``url`` (blocking)."""
        ...


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    private_dir(root)
    with open_private(root / "server.lock") as lock:
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

    def __init__(self, data_dir: Path, security: BrokerSecurity | None = None) -> None:
        self.root = data_dir / "nats"
        self._security = security
        self._server: NatsServer | None = None
        # pid.token: one process may hold several users (two runtimes in one process).
        self._user_file = self.root / "users" / f"{os.getpid()}.{uuid.uuid4().hex[:8]}"

    @property
    def state_file(self) -> Path:
        return self.root / "server.json"

    @property
    def config_file(self) -> Path:
        return self.root / "nats.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "nats.log"

    def acquire(self, timeout: float = 10.0) -> str:
        with _locked(self.root):
            url = self._running_url(timeout)
            if url is None:
                url = self._start(timeout)
            private_dir(self._user_file.parent)
            write_private(self._user_file, "")
            return url

    def _start(self, timeout: float) -> str:
        security = self._security
        config_file = None
        if security is not None:
            config_file = self.config_file
            write_private(config_file, security.server_config())
        server = NatsServer(
            store_dir=self.root / "store", config_file=config_file, log_file=self.log_file
        ).start(timeout)
        assert server.process is not None
        url = f"tls://{server.host}:{server.port}" if security is not None else server.url
        if security is not None:
            try:
                security.provision(url)
            except BaseException:
                server.stop()
                raise
        self._server = server
        state = {
            "pid": server.process.pid,
            "host": server.host,
            "port": server.port,
            "tls": security is not None,
        }
        write_private(self.state_file, json.dumps(state))
        return url

    def _running_url(self, timeout: float = 10.0) -> str | None:
        try:
            state = json.loads(self.state_file.read_text())
            pid, host, port = int(state["pid"]), str(state["host"]), int(state["port"])
            tls = bool(state.get("tls", False))
        except (OSError, ValueError, KeyError):
            return None
        if not (_alive(pid) and _is_nats_server(pid)):
            return None  # gone (or its pid reused): start a new one
        if _listening(host, port):
            self._check_joinable(pid, tls)
            if self._security is not None:
                self._update_permissions(pid, self._security.server_config(), timeout)
            return f"tls://{host}:{port}" if tls else f"nats://{host}:{port}"
        raise ConfigError(
            f"the embedded broker in {self.state_file} (nats-server pid {pid}) does not answer"
            f" on {host}:{port}, so this process cannot join the broker the others use. Stop"
            f" that nats-server (kill {pid}) to let the next process start a fresh one, or point"
            f" this one elsewhere (data_dir= / SB_DATA_DIR, or events='nats://...')"
        )

    def _check_joinable(self, pid: int, tls: bool) -> None:
        security = self._security
        if tls and security is None:
            raise ConfigError(
                f"the embedded broker in {self.state_file} (nats-server pid {pid}) requires TLS,"
                " started by a bridge with tls=; give this bridge its certificate too"
                " (tls=TlsConfig.from_dir(<certs>, <service>)), or another data_dir"
            )
        if not tls and security is not None:
            raise ConfigError(
                f"the embedded broker in {self.state_file} (nats-server pid {pid}) runs without"
                " TLS, started by a bridge without tls=; this bridge will not use it. Stop the"
                " processes using it so the next starts it with TLS, or use another data_dir"
            )

    def _update_permissions(self, pid: int, wanted: str, timeout: float) -> None:
        """Reload the running broker when the services file changed since it was configured."""
        try:
            running = self.config_file.read_text()
        except OSError:
            running = ""
        if running == wanted:
            return
        if not self.log_file.exists():  # started by an sb-gen that did not log: cannot confirm
            log.warning(
                "the embedded broker (nats-server pid %d) runs with permissions older than the"
                " services file: services added or changed since may be refused until it"
                " restarts (stop every process using %s)",
                pid,
                self.root.parent,
            )
            return
        write_private(self.config_file, wanted)
        try:
            reload_config(pid, self.log_file, timeout)
        except ConfigError:
            write_private(self.config_file, running)  # the file says what the broker runs
            raise
        log.info("the embedded broker (nats-server pid %d) reloaded its permissions", pid)

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
                state = json.loads(self.state_file.read_text())
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
        self.state_file.unlink(missing_ok=True)
