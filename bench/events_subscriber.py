"""The subscribing side of ``bench events``, in its own process as a deployment would run it.

``python -m bench.events_subscriber KIND URL DATA_DIR TAG GEN_ROOT``: KIND ``sb`` subscribes a
Bridge to the generated ``OrderPlaced``; KIND ``raw`` reads a durable nats-py pull consumer and
acks each message; KIND ``raw-wire`` does the same on a stream with the runtime's interest
retention and takes the key from the protobuf payload (its publisher sends the runtime's headers). Prints ``READY`` once subscribed. Then, on stdout, ``K <key> <t>`` for every
arrival (``t``: ``time.monotonic()``, one clock for every process on the machine), until stdin
says ``EXPECT <n>``: from then on only ``ALL <t>`` once ``n`` more events have arrived. Exits when
stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy

import runtime_lib as sb
from bench.generated import Generated

PULL_BATCH = 64


class Reporter:
    """Arrivals to stdout: each one while measuring latency, only the last one of a burst."""

    def __init__(self) -> None:
        self.expect = 0
        self.count = 0

    def arrived(self, key: str) -> None:
        now = time.monotonic()
        if not self.expect:
            sys.stdout.write(f"K {key} {now}\n")
            sys.stdout.flush()
            return
        self.count += 1
        if self.count == self.expect:
            sys.stdout.write(f"ALL {now}\n")
            sys.stdout.flush()


@contextlib.asynccontextmanager
async def sb_subscriber(
    url: str, data_dir: Path, tag: str, gen: Generated, arrived: Callable[[str], None]
) -> AsyncIterator[None]:
    module = gen.sb("bench_event")

    async def handler(event: Any, ctx: sb.EventContext) -> None:
        arrived(event.order_id)

    # A subscription fetches max_in_flight events per pull request: the peer's batch.
    events = sb.EventsConfig(broker=url, max_in_flight=PULL_BATCH)
    bridge = sb.Bridge(f"bench-sub-{tag}", data_dir=data_dir, events=events)
    bridge.subscribe(module.OrderPlaced, handler)
    async with bridge:
        yield


@contextlib.asynccontextmanager
async def raw_subscriber(
    url: str,
    data_dir: Path,
    tag: str,
    gen: Generated,
    arrived: Callable[[str], None],
    *,
    wire: bool = False,
) -> AsyncIterator[None]:
    client = await nats.connect(url)
    js = client.jetstream()
    stream, subject = raw_names(tag)
    retention = RetentionPolicy.INTEREST if wire else RetentionPolicy.LIMITS
    await js.add_stream(name=stream, subjects=[f"benchev{tag}.>"], retention=retention)
    decode = gen.sb_pb2("bench_event").OrderPlaced.FromString
    config = ConsumerConfig(
        durable_name="bench", deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT
    )
    sub = await js.pull_subscribe(subject, durable="bench", stream=stream, config=config)

    async def fetch_loop() -> None:
        while True:
            try:
                messages = await sub.fetch(PULL_BATCH, timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                if wire:
                    arrived(decode(message.data).order_id)
                else:
                    arrived((message.headers or {})["bench-key"])
                await message.ack()

    task = asyncio.create_task(fetch_loop())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await client.close()


Side = Callable[
    [str, Path, str, Generated, Callable[[str], None]], contextlib.AbstractAsyncContextManager[None]
]


def raw_names(tag: str) -> tuple[str, str]:
    """The raw side's stream and subject for a run tagged ``tag``."""
    return f"BENCHEV{tag}", f"benchev{tag}.bench.event"


async def main(kind: str, url: str, data_dir: str, tag: str, gen_root: str) -> None:
    reporter = Reporter()
    sides: dict[str, Side] = {
        "sb": sb_subscriber,
        "raw": raw_subscriber,
        "raw-wire": functools.partial(raw_subscriber, wire=True),
    }
    side = sides[kind]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with side(url, Path(data_dir), tag, Generated(Path(gen_root)), reporter.arrived):
        print("READY", flush=True)
        while line := await reader.readline():
            command, _, value = line.decode().partition(" ")
            if command == "EXPECT":
                reporter.count, reporter.expect = 0, int(value)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
