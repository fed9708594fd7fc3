"""PubAck batching: the drainer's batches written to JetStream with one future per batch.

Rows go out with core-NATS publishes carrying a reply subject on one wildcard inbox of ours (a
counter token per message); the PubAcks come back there and settle their row's slot in the
batch. ``js.publish`` instead pays a task, a future, a timer and a reply inbox per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from runtime_lib._events.bus import PublishRejected
from runtime_lib._events.envelope import H_ID, H_IDEMPOTENCY_KEY, H_NATS_MSG_ID
from runtime_lib._events.names import subject_for

if TYPE_CHECKING:
    from runtime_lib._events.outbox import OutboxRow


class _AckBatch:
    """The PubAcks of one drained batch: one future and one timer for the whole batch."""

    __slots__ = ("done", "missing", "results")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self.results: list[BaseException | None] = [_NO_ACK] * size
        self.missing = size
        self.done = done

    def settle(self, index: int, result: BaseException | None) -> None:
        if self.results[index] is _NO_ACK:
            self.results[index] = result
            self.missing -= 1
            if not self.missing and not self.done.done():
                self.done.set_result(None)


_NO_ACK: BaseException = TimeoutError("no PubAck within the publish timeout")


def pub_ack_result(msg: Msg) -> BaseException | None:
    """None for a PubAck (a duplicate counts as stored), else the error it carries."""
    headers = msg.headers
    if headers and headers.get("Status") == "503":
        return nats.js.errors.NoStreamResponseError()
    data = msg.data
    if data.startswith(b'{"stream":') and b'"error"' not in data:
        return None  # a PubAck: no need to parse it
    try:
        response = json.loads(msg.data)
    except ValueError as exc:
        return exc
    error = response.get("error") if isinstance(response, dict) else None
    if error is None:
        return None
    try:
        nats.js.errors.APIError.from_error(error)
    except nats.js.errors.BadRequestError as exc:
        return PublishRejected(str(exc))
    except Exception as exc:
        return exc
    return nats.js.errors.APIError(description=str(error))


class PubAckBatcher:
    """Sends drained batches on one connection; ``send_batch`` is :class:`BatchBus`'s method."""

    def __init__(self, nc: Client, publisher: str) -> None:
        self._nc = nc
        self._publisher = publisher
        self._ack_prefix = ""
        self._ack_tokens = itertools.count()
        self._acks: dict[str, tuple[_AckBatch, int]] = {}
        self._subjects: dict[str, str] = {}

    async def send_batch(
        self, rows: Sequence[OutboxRow], timeout_s: float
    ) -> Awaitable[list[BaseException | None]]:
        """Write every row to the stream (in order) now; the awaitable gives one result per row.

        The drainer's fast path: the rows' stored headers go out as they are, the PubAcks come
        back on one wildcard inbox, and the whole batch has one future and one timeout, where
        ``js.publish`` pays a task, a future, a timer and a reply inbox per message.
        """
        nc = self._nc
        if not self._ack_prefix:
            prefix = nc.new_inbox()
            await nc.subscribe(f"{prefix}.*", cb=self._on_ack)
            self._ack_prefix = f"{prefix}."
        loop = asyncio.get_running_loop()
        batch = _AckBatch(len(rows), loop.create_future())
        acks, subjects, prefix = self._acks, self._subjects, self._ack_prefix
        tokens: list[str] = []
        for index, row in enumerate(rows):
            headers = row.headers
            if H_NATS_MSG_ID not in headers:  # a row stored before the header form carried it
                headers[H_NATS_MSG_ID] = headers.get(H_IDEMPOTENCY_KEY) or headers[H_ID]
            subject = subjects.get(row.name)
            if subject is None:
                subject = subjects[row.name] = subject_for(row.name, self._publisher)
            token = str(next(self._ack_tokens))
            acks[token] = (batch, index)
            tokens.append(token)
            try:
                await nc.publish(subject, row.payload, reply=prefix + token, headers=headers)
            except nats.errors.MaxPayloadError as exc:
                batch.settle(index, PublishRejected(str(exc) or type(exc).__name__))
            except Exception as exc:
                batch.settle(index, exc)
        return self._await_acks(batch, tokens, timeout_s)

    async def _await_acks(
        self, batch: _AckBatch, tokens: list[str], timeout_s: float
    ) -> list[BaseException | None]:
        try:
            if batch.missing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(batch.done), timeout_s)
        finally:
            acks = self._acks
            for token in tokens:
                acks.pop(token, None)
        return batch.results

    async def _on_ack(self, msg: Msg) -> None:
        waiting = self._acks.pop(msg.subject[len(self._ack_prefix) :], None)
        if waiting is not None:
            batch, index = waiting
            batch.settle(index, pub_ack_result(msg))
