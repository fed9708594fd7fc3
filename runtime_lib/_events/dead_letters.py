"""The dead-letter stream: events a subscription gave up on, with why, for an operator.

Dead letters go to ``SB_DLQ`` (subjects ``sb.dlq.<group>.<name>``) with the event's headers plus
``sb-dlq-reason``, ``sb-dlq-attempts``, ``sb-dlq-group`` and ``sb-dlq-pattern``, and always
``sb-id`` and ``sb-name``; the message id ``<group>:<event id>`` makes a repeated write of one
dead letter a duplicate.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext

from runtime_lib._events.bus import DeadLetter
from runtime_lib._events.envelope import H_ID, H_NAME, H_NATS_MSG_ID, EventEnvelope

H_DLQ_REASON = "sb-dlq-reason"
H_DLQ_ATTEMPTS = "sb-dlq-attempts"
H_DLQ_GROUP = "sb-dlq-group"
H_DLQ_PATTERN = "sb-dlq-pattern"


def _header_value(text: str, limit: int = 1024) -> str:
    # A header value cannot span lines.
    return " ".join(text.split())[:limit]


async def write_dead_letter(js: JetStreamContext, letter: DeadLetter, timeout_s: float) -> None:
    envelope = letter.envelope
    headers = dict(letter.headers) or envelope.to_headers()
    headers[H_DLQ_REASON] = _header_value(letter.reason) or "unknown"
    headers[H_DLQ_ATTEMPTS] = str(letter.attempts)
    headers[H_DLQ_GROUP] = letter.group
    headers[H_DLQ_PATTERN] = letter.pattern
    # Self-describing: the message id below is the dead letter's, and the subject is the DLQ's.
    headers[H_ID] = envelope.id
    headers[H_NAME] = envelope.name
    headers[H_NATS_MSG_ID] = f"{letter.group}:{envelope.id}"
    subject = f"sb.dlq.{letter.group}.{envelope.name}"
    await js.publish(subject, envelope.payload, timeout=timeout_s, headers=headers)


async def read_dead_letters(js: JetStreamContext, stream: str, limit: int) -> list[DeadLetter]:
    """The oldest ``limit`` dead letters in ``stream``."""
    info = await js.stream_info(stream)
    out: list[DeadLetter] = []
    if not info.state.messages:
        return out
    seq = max(info.state.first_seq, 1)
    while seq <= info.state.last_seq and len(out) < limit:
        try:
            raw = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            seq += 1
            continue
        headers: dict[str, str] = dict(raw.headers or {})
        out.append(
            DeadLetter(
                envelope=EventEnvelope.from_headers(headers, raw.data or b""),
                group=headers.get(H_DLQ_GROUP, ""),
                pattern=headers.get(H_DLQ_PATTERN, ""),
                reason=headers.get(H_DLQ_REASON, ""),
                attempts=int(headers.get(H_DLQ_ATTEMPTS, "0")),
                headers=headers,
            )
        )
        seq += 1
    return out
