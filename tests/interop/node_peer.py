"""@grpc/grpc-js, the Node gRPC implementation, as a peer of the interop tests: its packages
installed from tests/interop/node's lock file on first use, its interop client and server run as
``node`` subprocesses."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


def node_ready() -> str:
    """The ``node`` executable, with tests/interop/node's packages installed (``npm ci`` once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = "Node.js and npm are not installed (apt-get install nodejs npm; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {NODE_DIR} failed:\n{done.stdout}{done.stderr}")
    return node


def tls_env(ca: Path, identity: Path | None = None, name: str = "") -> dict[str, str]:
    """The environment under which client.js and server.js use mutual TLS (interop.js): the CA
    certificate ``ca``, their own certificate ``identity``.crt/.key if any, and for a client the
    name the server's certificate must hold."""
    env = dict(os.environ, SB_TLS_CA=str(ca), SB_TLS_NAME=name)
    if identity is not None:
        env.update(SB_TLS_CERT=f"{identity}.crt", SB_TLS_KEY=f"{identity}.key")
    return env


async def start_client(
    node: str,
    address: str,
    case: str,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
) -> asyncio.subprocess.Process:
    """grpc-js's client.js running ``case`` against ``address``, its output in one pipe."""
    return await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "client.js"),
        address,
        case,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )


async def run_client(
    node: str, address: str, case: str, within: float = 60.0, env: dict[str, str] | None = None
) -> str:
    """Run grpc-js's interop ``case`` against ``address``; '' if it passed, else what it said."""
    process = await start_client(node, address, case, env)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        return f"{case}: grpc-js client still running after {within} s"
    return "" if process.returncode == 0 else output.decode(errors="replace")


class NodeServer:
    """grpc-js's interop server (tests/interop/node/server.js) in a subprocess: its address, and
    the calls it reported started and ended (the cancellation cases wait on those)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.address = ""
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.ended: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._process = process

    def shut_down(self) -> None:
        """Have it shut down as grpc-js does gracefully (``tryShutdown``: GOAWAY, no new calls,
        those in flight finish), then exit."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()

    async def exited(self, within: float) -> int:
        """Its exit status, once it exited (killed after ``within`` seconds)."""
        try:
            return await asyncio.wait_for(self._process.wait(), within)
        except TimeoutError:
            self._process.kill()
            return await self._process.wait()

    async def _follow(self, lines: asyncio.StreamReader) -> None:
        while line := await lines.readline():
            what, _, method = line.decode().strip().partition(" ")
            if what == "started":
                self.started[method].set()
            elif what == "ended":
                self.ended[method].set()


@asynccontextmanager
async def node_server(node: str, env: dict[str, str] | None = None) -> AsyncIterator[NodeServer]:
    """grpc-js's interop server, listening on 127.0.0.1; shut down (stdin closed) on exit."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "server.js"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    server = NodeServer(process)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"grpc-js interop server did not start: {line!r}")
        server.address = f"127.0.0.1:{int(line.split()[1])}"
        following = asyncio.create_task(server._follow(process.stdout))
        try:
            yield server
        finally:
            following.cancel()
    finally:
        server.shut_down()
        await server.exited(10)
