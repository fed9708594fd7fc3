"""A service with jobs: a nightly cron job in Berlin time, a heartbeat every second, and a
reminder one-shot scheduled at run time. Run two of these and each tick still fires once.

python service.py nats://127.0.0.1:4222 DATA_DIR [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

import runtime_lib as sb


def build(url: str, data_dir: str) -> sb.Bridge:
    bridge = sb.Bridge("reports", events=url, data_dir=data_dir)
    me = os.getpid()

    @bridge.job("nightly-rollup", cron="0 3 * * *", tz="Europe/Berlin", catchup="fire_once")
    async def nightly_rollup(ctx: sb.JobContext) -> None:
        print(f"reports[{me}]: rollup for {ctx.local_scheduled_at:%Y-%m-%d %H:%M %Z}", flush=True)

    @bridge.job("heartbeat", interval="1s", overlap="skip", lease_ttl="5s")
    async def heartbeat(ctx: sb.JobContext) -> None:
        print(f"reports[{me}]: heartbeat {ctx.idempotency_key}", flush=True)

    @bridge.job("send-reminder", max_attempts=5, retry=sb.JobRetry(initial="200ms", max="5s"))
    async def send_reminder(ctx: sb.JobContext) -> None:
        print(
            f"reports[{me}]: reminder for {ctx.payload['user']} (attempt {ctx.attempt})", flush=True
        )

    return bridge


async def main(url: str, data_dir: str, seconds: float) -> None:
    async with build(url, data_dir) as bridge:
        if os.environ.get("SCHEDULE_REMINDER"):
            await bridge.jobs.schedule(
                "send-reminder", at=timedelta(seconds=2), payload={"user": "u-1"}
            )
        await asyncio.sleep(seconds)
        for job in await bridge.jobs.list():
            print(
                f"reports[{os.getpid()}]: {job.name}: {job.trigger}, next {job.next_fire}",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 5))
