"""Acks held between pull requests, so they reach nats-server in one write with the next one.

A handler's ack is a plain publish on the message's ack subject (no reply, nothing awaited from
the server). Sent at once, a batch's acks leave in one socket write, and the fetch loop's next
pull request, sent a loop turn later when the handlers have handed back their permits, in
another: nats-server wakes up to read twice per batch. So while no fetch on the connection is
waiting for events, an ack is held, and the next fetch sends what is held just before its pull
request. While a fetch waits, nothing else is about to be written, and an ack goes at once.

Holding defers an ack, it does not drop one: an ack is held only after its handler handed back
its permit, and a fetch loop then takes that permit and fetches; ``close`` sends what is still
held. An ack held when the process dies is lost like one in flight: the event is redelivered
after ``ack_wait`` (at-least-once; ``dedupe=True`` skips it).
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg

log = logging.getLogger("runtime_lib.events")


class HeldAcks:
    """The acks of one NATS connection's consumers; ``waiting``: their fetches waiting now."""

    __slots__ = ("_held", "waiting")

    def __init__(self) -> None:
        self._held: list[Msg] = []
        self.waiting = 0

    async def ack(self, msg: Msg) -> None:
        if self.waiting:
            await msg.ack()
        else:
            self._held.append(msg)

    async def send(self) -> None:
        """Publish every held ack (into the client's buffer, written with what follows)."""
        held, self._held = self._held, []
        for msg in held:
            try:
                await msg.ack()
            except Exception as exc:  # the connection is gone: the event will be redelivered
                log.debug("held ack not sent: %r", exc)
