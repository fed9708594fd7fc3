"""One instance of service ``ticker`` for the process tests; appends a JSON line per job step.

Jobs: ``tick`` (every second, with ``--tick``) and ``remind`` (one-shots only). ``--hang-first``
makes this instance's first ``tick`` run never finish, so the test can kill -9 it while it holds
the lease. ``--schedule-in S`` schedules one ``remind`` S seconds ahead and prints
``scheduled <id> <unix ms>``. Prints ``ready`` once started; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from datetime import timedelta

import runtime_lib as sb
from runtime_lib._jobs import JobContext


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tick", action="store_true")
    parser.add_argument("--lease-ttl", type=float, default=5.0)
    parser.add_argument("--hang-first", action="store_true")
    parser.add_argument("--schedule-in", type=float, default=0.0)
    args = parser.parse_args()

    def log(ctx: JobContext, state: str) -> None:
        line = {
            "pid": os.getpid(),
            "job": ctx.job,
            "key": ctx.idempotency_key,
            "scheduled_ms": round(ctx.scheduled_at.timestamp() * 1000),
            "attempt": ctx.attempt,
            "state": state,
            "at_ms": round(time.time() * 1000),
            "payload": ctx.payload,
        }
        with open(args.out, "a") as out:  # one short O_APPEND write per line
            out.write(json.dumps(line) + "\n")

    bridge = sb.Bridge("ticker", events=args.url, data_dir=args.data_dir)
    hang = args.hang_first

    if args.tick:

        @bridge.job("tick", interval="1s", lease_ttl=f"{args.lease_ttl}s")
        async def tick(ctx: JobContext) -> None:
            nonlocal hang
            log(ctx, "started")
            if hang:
                hang = False
                log(ctx, "hang")
                await asyncio.Event().wait()
            log(ctx, "done")

    @bridge.job("remind", lease_ttl=f"{args.lease_ttl}s")
    async def remind(ctx: JobContext) -> None:
        log(ctx, "done")

    await bridge.start()
    if args.schedule_in:
        at = timedelta(seconds=args.schedule_in)
        due_ms = round(time.time() * 1000 + at.total_seconds() * 1000)
        once_id = await bridge.jobs.schedule("remind", at=at, payload={"user": "u-1"})
        print(f"scheduled {once_id} {due_ms}", flush=True)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await bridge.stop()


if __name__ == "__main__":
    asyncio.run(main())
