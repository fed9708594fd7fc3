"""Run a bridge until SIGTERM/SIGINT, saying when it is ready (run.py waits for that line)."""

from __future__ import annotations

import runtime_lib as sb


async def serve_until_stopped(bridge: sb.Bridge) -> None:
    async with bridge:
        print(f"{bridge.service}: ready", flush=True)
        await bridge.run_forever()
    print(f"{bridge.service}: stopped", flush=True)
