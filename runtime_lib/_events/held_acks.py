"""Acks held between pull requests, so they reach nats-server in one write with the next one.

A handler's ack is a plain publish on the message's ack subject (no reply, nothing awaited from
the server). Sent at once, a batch's acks leave in one socket write, and the fetch loop's next
pull request, sent a loop turn later when the handlers have handed back their permits, in
another: nats-server wakes up to read twice per batch. So while its consumer has no fetch
waiting for events, an ack is held, and the next fetch of any consumer on the connection sends
every held ack just before its pull request. While the consumer's fetch waits, its acks go at
once, as that loop is not about to write anything.

Holding defers an ack, it does not drop one: an ack is held only after its handler handed back
its permit, so a fetch loop blocked on permits wakes and fetches, and a loop that is not blocked
fetches next anyway; closing a consumer sends what is held. An ack held when the process dies
is lost like one in flight: the event is redelivered after ``ack_wait`` (at-least-once;
``dedupe=True`` skips it).
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg

log = logging.getLogger("runtime_lib.events")


class HeldAcks:
    """The held acks of one NATS connection's consumers."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: list[Msg] = []

    def hold(self, msg: Msg) -> None:
        self._held.append(msg)

    async def send(self) -> None:
        """Publish every held ack (into the client's buffer, written with what follows)."""
        held, self._held = self._held, []
        for msg in held:
            try:
                await msg.ack()
            except Exception as exc:  # the connection is gone: the event will be redelivered
                log.debug("held ack not sent: %r", exc)
