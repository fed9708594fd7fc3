"""Held acks on a real nats-server: a batch's acks reach the server in the same write as the
subscriber's next pull request, never later than a waiting fetch or close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from runtime_lib._events.bus import ConsumerSpec, Delivery
from runtime_lib._events.names import compile_pattern, subject_for
from runtime_lib._events.nats_bus import NatsBus
from runtime_lib._events.nats_config import NatsConfig
from runtime_lib._events.pull_consumer import NatsConsumer
from runtime_lib._nats_server import NatsServer
from tests.events.helpers import wait_until

SPEC = ConsumerSpec("held", compile_pattern("held.ack"), "sb_held_acks", 6, 30.0)
IDLE = ConsumerSpec("held", compile_pattern("held.idle"), "sb_held_idle", 6, 30.0)
WAIT = 30.0


class Recorder:
    """A loopback TCP proxy to nats-server that keeps each chunk the client wrote, as read."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.chunks: list[bytes] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(1 << 20):
                if keep:
                    self.chunks.append(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._port)
        for task in (
            asyncio.create_task(self._pipe(reader, server_writer, keep=True)),
            asyncio.create_task(self._pipe(server_reader, writer, keep=False)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"nats://127.0.0.1:{port}"
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()


@contextlib.asynccontextmanager
async def subscribed(url: str) -> AsyncIterator[tuple[NatsConsumer, NatsConsumer]]:
    """Two consumers on one connection: one for the events published here, one idle."""
    bus = NatsBus(NatsConfig(url=url, name="held"))
    await bus.connect()
    try:
        yield await bus.consumer(SPEC), await bus.consumer(IDLE)
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def waiting(consumer: NatsConsumer) -> AsyncIterator[None]:
    """A fetch of ``consumer`` waiting for an event throughout."""
    fetch = asyncio.create_task(consumer.fetch(1, WAIT))
    await wait_until(lambda: consumer._wakeup is not None, what="the fetch to wait")
    try:
        yield
        assert not fetch.done()
    finally:
        fetch.cancel()
        await asyncio.gather(fetch, return_exceptions=True)


async def publish(publisher: Client, count: int, first: int = 0) -> None:
    js = publisher.jetstream()
    for n in range(first, first + count):
        await js.publish(subject_for("held.ack", "pub"), b"", headers={"Nats-Msg-Id": f"e-{n}"})


async def ack_pending(publisher: Client) -> int:
    info = await publisher.jetstream().consumer_info("SB_EVENTS", SPEC.durable)
    return int(info.num_ack_pending)


async def acked_but(publisher: Client, pending: int) -> None:
    """Until the server has applied the acks: ``pending`` deliveries left unacked."""

    async def applied() -> bool:
        return await ack_pending(publisher) == pending

    await wait_until(applied, what=f"{pending} deliveries pending")


async def ack_as_handlers_do(deliveries: list[Delivery]) -> None:
    """Each ack from its own task, as the subscriber's handlers send them."""
    await asyncio.gather(*(delivery.ack() for delivery in deliveries))


def ack_lines(chunk: bytes) -> list[bytes]:
    return [line for line in chunk.split(b"\r\n") if line.startswith(b"PUB $JS.ACK.")]


@pytest.fixture
async def publisher(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A plain nats-py connection that publishes the events the tests fetch."""
    nc = await nats.connect(nats_server.url)
    try:
        yield nc
    finally:
        await nc.close()


async def test_a_batch_s_acks_go_in_the_write_of_the_next_pull_request(
    nats_server: NatsServer,
    publisher: Client,
) -> None:
    recorder = Recorder(nats_server.port)
    async with (
        recorder.serve() as url,
        subscribed(url) as (consumer, idle),
        waiting(idle),  # another subscription's waiting fetch does not send them
    ):
        await publish(publisher, 3)
        batch = await consumer.fetch(3, WAIT)
        assert len(batch) == 3
        await ack_as_handlers_do(batch)
        # A broker round trip elsewhere: time for the client to write an ack sent at once.
        await publish(publisher, 1, first=3)
        assert await ack_pending(publisher) == 3  # held: the server has not seen them
        assert len(await consumer.fetch(1, WAIT)) == 1
        pull = f"CONSUMER.MSG.NEXT.SB_EVENTS.{SPEC.durable} ".encode()
        pulls = [chunk for chunk in recorder.chunks if pull in chunk]
        assert len(pulls) == 2
        acks = ack_lines(pulls[1])
        assert len(acks) == 3
        assert pulls[1].index(acks[-1]) < pulls[1].index(pull)
        # Plain publishes: no reply subject (PUB <subject> <size>), nothing to answer.
        assert all(len(line.split()) == 3 for line in acks)
        await acked_but(publisher, 1)


async def test_an_ack_goes_at_once_while_its_consumer_s_fetch_waits(
    nats_server: NatsServer,
    publisher: Client,
) -> None:
    async with subscribed(nats_server.url) as (consumer, _):
        await publish(publisher, 1)
        (delivery,) = await consumer.fetch(1, WAIT)
        async with waiting(consumer):
            await delivery.ack()
            await acked_but(publisher, 0)


async def test_another_consumer_s_fetch_sends_the_held_acks(
    nats_server: NatsServer, publisher: Client
) -> None:
    async with subscribed(nats_server.url) as (consumer, idle):
        await publish(publisher, 2)
        await ack_as_handlers_do(await consumer.fetch(2, WAIT))
        async with waiting(idle):
            await acked_but(publisher, 0)


async def test_close_sends_the_held_acks(nats_server: NatsServer, publisher: Client) -> None:
    async with subscribed(nats_server.url) as (consumer, _):
        await publish(publisher, 2)
        await ack_as_handlers_do(await consumer.fetch(2, WAIT))
        await consumer.close()
        await acked_but(publisher, 0)
