"""Run a bridge until SIGTERM/SIGINT, saying when it is ready (run.py waits for that line)."""

from __future__ import annotations

import asyncio
import signal

import runtime_lib as sb


async def serve_until_stopped(bridge: sb.Bridge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with bridge:
        print(f"{bridge.service}: ready", flush=True)
        await stop.wait()
    print(f"{bridge.service}: stopped", flush=True)
