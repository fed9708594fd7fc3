"""The JetStream pull consumer a subscription reads from, and its deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from runtime_lib._events.bus import Delivery
from runtime_lib._events.envelope import EventEnvelope
from runtime_lib._events.held_acks import HeldAcks
from runtime_lib._events.names import parse_subject
from runtime_lib._events.waits import within

log = logging.getLogger("runtime_lib.events")


def _num_delivered(msg: Msg) -> int:
    """The delivery count from the ack subject (``$JS.ACK.<stream>.<consumer>.<delivered>...``,
    or with domain and account first): ``msg.metadata`` also builds a datetime and two objects,
    a tenth of a delivery's CPU, for the one number the subscriber reads."""
    tokens = msg.reply.split(".", 7)
    if tokens[:2] == ["$JS", "ACK"] and len(tokens) == 8:
        try:
            # The 9-token form ends after the pending count; the other has 11 or more tokens.
            return int(tokens[4] if tokens[7].count(".") == 1 else tokens[6])
        except ValueError:
            pass
    return int(msg.metadata.num_delivered)


class NatsDelivery:
    """``consumer``: the one that fetched it, which holds its ack while it has no fetch waiting
    (:mod:`held_acks`); without, the ack is published at once."""

    def __init__(
        self, msg: Msg, envelope: EventEnvelope, consumer: NatsConsumer | None = None
    ) -> None:
        self.msg = msg
        self.envelope = envelope
        self.attempt = _num_delivered(msg)
        self._consumer = consumer

    async def ack(self) -> None:
        consumer = self._consumer
        if consumer is None or not consumer.hold_ack(self.msg):
            await self.msg.ack()

    async def nak(self, delay: float) -> None:
        await self.msg.nak(delay=delay)

    async def term(self) -> None:
        await self.msg.term()

    async def in_progress(self) -> None:
        await self.msg.in_progress()


_PULL_ENDED = frozenset({"404", "408", "409"})  # no messages, request expired, conflict
_HEARTBEAT = "100"


class NatsConsumer:
    """A durable pull consumer, read through an inbox of our own.

    One pull request per fetch: ``{"batch": n, "no_wait": true, "expires": ...}`` waits up to
    ``expires`` for the first message, then the server sends what it has (at most ``n``) and
    ends the request with a 404 status, so one round trip brings a whole batch. Each request
    has its own reply subject, so a status that ends an earlier request (say, one that expired
    after its fetch gave up) is told apart; an event such a request still brings waits here for
    the next fetch. ``PullSubscription.fetch`` instead pays a task, a timer and a uuid per
    message. With ``acks`` (the connection's :class:`HeldAcks`), its deliveries' acks are held
    while it has no fetch waiting, and any consumer's next fetch sends them in the write of its
    pull request.
    """

    def __init__(self, nc: Client, stream: str, durable: str, acks: HeldAcks | None = None) -> None:
        self._nc = nc
        self._acks = acks
        self._waiting = False  # a fetch of ours waits for events: acks go at once
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._prefix = ""
        self._tokens = itertools.count()
        self._sub: Subscription | None = None
        # Messages in arrival order; data messages left from an earlier request stay for the next.
        self._queue: deque[Msg] = deque()
        self._wakeup: asyncio.Future[None] | None = None

    async def open(self) -> None:
        inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(f"{inbox}.*", cb=self._arrived)
        self._prefix = f"{inbox}."

    def hold_ack(self, msg: Msg) -> bool:
        """Hold ``msg``'s ack for the next fetch's write; False: send it now."""
        if self._acks is None or self._waiting:
            return False
        self._acks.hold(msg)
        return True

    async def _arrived(self, msg: Msg) -> None:
        self._queue.append(msg)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def fetch(self, batch: int, timeout_s: float) -> list[Delivery]:
        acks = self._acks
        if acks is not None:
            await acks.send()  # into the client's buffer: one write with the request below
        msgs: list[Msg] = []
        reply = ""
        if self._take(msgs, batch, reply) or len(msgs) >= batch:
            return await self._deliveries(msgs)
        reply = f"{self._prefix}{next(self._tokens)}"
        request: dict[str, int | bool] = {"batch": batch - len(msgs), "no_wait": True}
        if not msgs:
            # Without expires a no_wait request ends at once; with it, it waits for a first one.
            request["expires"] = max(int(timeout_s * 1e9) - 100_000, 1_000_000)
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=reply)
        self._waiting = True
        try:
            await self._wait(msgs, batch, reply, timeout_s)
        finally:
            self._waiting = False
        return await self._deliveries(msgs)

    async def _wait(self, msgs: list[Msg], batch: int, reply: str, timeout_s: float) -> None:
        """Until the request answered on ``reply`` has ended, ``batch`` messages are in, or
        ``timeout_s`` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._take(msgs, batch, reply) and len(msgs) < batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup = wakeup = loop.create_future()
            try:
                if not await within(wakeup, remaining):
                    break
            finally:
                self._wakeup = None

    def _take(self, msgs: list[Msg], batch: int, reply: str) -> bool:
        """Move queued data messages into ``msgs`` (up to ``batch``); True once the pull request
        answered on ``reply`` has ended."""
        queue = self._queue
        while queue and len(msgs) < batch:
            msg = queue.popleft()
            headers = msg.headers
            status = headers.get("Status") if headers else None
            if not status:
                msgs.append(msg)
            elif msg.subject != reply or status == _HEARTBEAT:
                continue  # the end of an earlier request, or a heartbeat
            elif status in _PULL_ENDED or msgs:
                return True  # ended; another status with messages in hand: return those first
            else:
                raise nats.js.errors.APIError.from_msg(msg)
        return False

    async def _deliveries(self, msgs: list[Msg]) -> list[Delivery]:
        out: list[Delivery] = []
        for msg in msgs:
            try:
                name, publisher = parse_subject(msg.subject)
                envelope = EventEnvelope.from_headers(msg.headers or {}, msg.data, publisher, name)
            except Exception as exc:
                log.warning("dropping a message that is not an event on %s: %s", msg.subject, exc)
                await msg.term()
                continue
            out.append(NatsDelivery(msg, envelope, self))
        return out

    async def close(self) -> None:
        acks, self._acks = self._acks, None  # an ack after this goes at once
        if acks is not None:
            await acks.send()
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
