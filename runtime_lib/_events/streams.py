"""The two JetStream streams the bus needs, created when missing.

- ``SB_EVENTS`` (subjects ``sb.ev.>``, interest retention) holds events until every consumer
  group has acknowledged them. Its ``duplicate_window`` outlasts the drainer's longest gap between
  two sends of one row, so a resend after a lost ack or a crash is dropped by the broker.
- ``SB_DLQ`` (subjects ``sb.dlq.>``, limits retention) keeps dead letters for ``dlq_max_age``.
"""

from __future__ import annotations

import logging

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from runtime_lib._events.nats_config import NatsConfig

log = logging.getLogger("runtime_lib.events")


async def ensure_streams(js: JetStreamContext, config: NatsConfig) -> None:
    await ensure_stream(
        js,
        StreamConfig(
            name=config.stream,
            subjects=["sb.ev.>"],
            retention=RetentionPolicy.INTEREST,
            storage=StorageType.FILE,
            duplicate_window=config.duplicate_window,
            max_age=config.max_age,
        ),
    )
    await ensure_stream(
        js,
        StreamConfig(
            name=config.dlq_stream,
            subjects=["sb.dlq.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=config.duplicate_window,
            max_age=config.dlq_max_age,
        ),
    )


async def ensure_stream(js: JetStreamContext, stream: StreamConfig) -> None:
    assert stream.name is not None
    try:
        await js.stream_info(stream.name)
        return
    except nats.js.errors.NotFoundError:
        pass
    try:
        await js.add_stream(stream)
    except nats.js.errors.BadRequestError as exc:
        # Another process created it first, perhaps with other limits: use theirs.
        log.debug("stream %s exists: %s", stream.name, exc)
