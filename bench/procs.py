"""Bench servers in other processes: started, announced, and always stopped."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.generated import Generated
from bench.tools import PYTHON, python_path

REPO = Path(__file__).resolve().parent.parent


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate, wait, and kill if it will not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _read_port(process: subprocess.Popen[str], timeout: float) -> int:
    assert process.stdout is not None
    end = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < end:
            if selector.select(min(0.2, max(0.0, end - time.monotonic()))):
                line = process.stdout.readline()
                if line.startswith("PORT "):
                    return int(line.split()[1])
                if not line:
                    break
            if process.poll() is not None:
                break
    raise RuntimeError(f"bench server did not announce a port within {timeout}s")


@dataclass(frozen=True, slots=True)
class Server:
    address: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        return cpu_seconds(self.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_syscalls(pid: int) -> int:
    """How many read syscalls process ``pid`` has made so far (``/proc/<pid>/io`` ``syscr``):
    for a server, about how often it woke up to read its clients."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == "syscr":
            return int(value)
    raise RuntimeError(f"/proc/{pid}/io has no syscr")


def rpc_server(
    kind: str, gen: Generated, *extra: str, wrapper: Sequence[str] = ()
) -> contextlib.AbstractContextManager[Server]:
    """A ``bench.rpc_server`` of this kind on ``127.0.0.1``, stopped on exit; ``extra``: its
    further arguments (a certificate directory for the TLS kinds); ``wrapper``: a command that
    runs it (``valgrind ...``)."""
    return bench_server("bench.rpc_server", kind, gen, *extra, wrapper=wrapper)


def http_server(kind: str, gen: Generated) -> contextlib.AbstractContextManager[Server]:
    """A ``bench.http_server`` of this kind on ``127.0.0.1``, stopped on exit."""
    return bench_server("bench.http_server", kind, gen)


@contextlib.contextmanager
def bench_server(
    module: str, kind: str, gen: Generated, *extra: str, wrapper: Sequence[str] = ()
) -> Iterator[Server]:
    """``[WRAPPER...] python -m module kind GEN_ROOT [EXTRA...]``, once it printed its port;
    stopped on exit."""
    process = subprocess.Popen(
        [*wrapper, PYTHON, "-m", module, kind, str(gen.root), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=python_path(REPO, *gen.paths),
    )
    try:
        # A wrapper such as valgrind slows start-up tenfold or more.
        port = _read_port(process, 300.0 if wrapper else 30.0)
        yield Server(f"127.0.0.1:{port}", process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        stop(process)
        if process.stdout is not None:
            process.stdout.close()
