"""The events wire (docs/wire.md, "Events"; decision 0013): the headers a publish sends, on a
real nats-server, and that events and outbox rows from older publishers are still read."""

from __future__ import annotations

import re
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from runtime_lib._errors import ValidationError
from runtime_lib._events.bus import ConsumerSpec
from runtime_lib._events.context import EventContext
from runtime_lib._events.envelope import EventEnvelope, header_form
from runtime_lib._events.names import compile_pattern
from runtime_lib._events.nats_bus import NatsBus
from runtime_lib._events.nats_config import NatsConfig
from runtime_lib._events.outbox import OutboxRow, RowState
from runtime_lib._nats_server import NatsServer
from tests.events.conftest import runtime_factory
from tests.events.eventlib import OrderPlaced
from tests.events.helpers import wait_until

EVENT_ID = "0192f0a0-aaaa-7bbb-8ccc-1234567890ab"
CONTRACT = "v2:" + "ab" * 32


def test_a_plain_event_is_three_headers_its_id_the_message_id() -> None:
    form, _ = header_form(EVENT_ID, 17, contract_hash=CONTRACT)
    assert form == {"Nats-Msg-Id": EVENT_ID, "sb-occurred-at": "17", "sb-contract": CONTRACT}


def test_with_an_idempotency_key_the_key_is_the_message_id_and_sb_id_the_event_id() -> None:
    form, _ = header_form(EVENT_ID, 17, idempotency_key="k-1")
    assert form == {
        "Nats-Msg-Id": "k-1",
        "sb-id": EVENT_ID,
        "sb-occurred-at": "17",
        "sb-idempotency-key": "k-1",
    }
    back = EventEnvelope.from_headers(form, b"", name="order.placed")
    assert (back.id, back.idempotency_key, back.msg_id) == (EVENT_ID, "k-1", "k-1")
    # A key equal to the event id needs no sb-id: both are the message id.
    same, _ = header_form(EVENT_ID, 17, idempotency_key=EVENT_ID)
    assert "sb-id" not in same
    assert EventEnvelope.from_headers(same, b"", name="order.placed").id == EVENT_ID


def test_the_headers_older_publishers_sent_read_as_the_same_envelope() -> None:
    old = {
        "sb-id": EVENT_ID,
        "sb-name": "order.placed",
        "sb-occurred-at": "17",
        "sb-contract": CONTRACT,
        "Nats-Msg-Id": EVENT_ID,
        "tenant": "acme",
    }
    new, _ = header_form(EVENT_ID, 17, contract_hash=CONTRACT, headers={"tenant": "acme"})
    from_old = EventEnvelope.from_headers(old, b"x", "orders", "order.placed")
    assert from_old == EventEnvelope.from_headers(new, b"x", "orders", "order.placed")
    assert (from_old.id, from_old.name, from_old.headers) == (
        EVENT_ID,
        "order.placed",
        {"tenant": "acme"},
    )
    # Without a name from elsewhere (a dead letter read from its stream) sb-name is the name.
    assert EventEnvelope.from_headers(old, b"").name == "order.placed"


def test_envelopes_without_an_id_or_name_or_with_a_contradicting_name_are_refused() -> None:
    with pytest.raises(ValidationError, match="no sb-id or Nats-Msg-Id"):
        EventEnvelope.from_headers({"sb-occurred-at": "1"}, b"", name="order.placed")
    with pytest.raises(ValidationError, match="no event name"):
        EventEnvelope.from_headers({"Nats-Msg-Id": EVENT_ID}, b"")
    forged = {"Nats-Msg-Id": EVENT_ID, "sb-name": "order.paid"}
    with pytest.raises(
        ValidationError, match=re.escape("names event 'order.paid', not 'order.placed'")
    ):
        EventEnvelope.from_headers(forged, b"", name="order.placed")


async def test_what_a_publish_sends_and_a_subscriber_reads(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    watcher = await nats.connect(nats_server.url)
    sent: list[Msg] = []

    async def watch(msg: Msg) -> None:
        sent.append(msg)

    await watcher.subscribe("sb.ev.>", cb=watch)
    await watcher.flush()
    got: list[tuple[str, str, str, int]] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append((event.order_id, ctx.event_id, ctx.publisher, ctx.envelope.occurred_at_ms))

    try:
        async with runtime_factory(tmp_path, nats_server.url) as make:
            billing = make("billing")
            billing.subscribe(OrderPlaced, handler)
            await billing.start()
            orders = make("orders")
            await orders.start()
            event_id = await orders.publish(OrderPlaced(order_id="o-1"))
            await wait_until(lambda: len(got) == 1 and len(sent) == 1, what="the delivery")
    finally:
        await watcher.close()
    [msg] = sent
    assert msg.subject == "sb.ev.order.placed.orders"
    assert msg.headers is not None
    occurred = msg.headers["sb-occurred-at"]
    assert msg.headers == {
        "Nats-Msg-Id": event_id,
        "sb-occurred-at": occurred,
        "sb-contract": OrderPlaced.CONTRACT_HASH,
    }
    assert got == [("o-1", event_id, "orders", int(occurred))]


async def test_an_event_an_older_publisher_sent_is_delivered_and_deduped_by_its_id(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    got: list[tuple[str, str, int]] = []

    async def handler(event: OrderPlaced, ctx: EventContext) -> None:
        got.append((event.order_id, ctx.event_id, ctx.envelope.occurred_at_ms))

    async with runtime_factory(tmp_path, nats_server.url) as make:
        billing = make("billing")
        billing.subscribe(OrderPlaced, handler, dedupe=True)
        await billing.start()
        client = await nats.connect(nats_server.url)
        try:
            js = client.jetstream()
            payload = OrderPlaced(order_id="old").to_proto().SerializeToString()
            old = {
                "sb-id": "e-old",
                "sb-name": "order.placed",
                "sb-occurred-at": "17",
                "sb-contract": OrderPlaced.CONTRACT_HASH,
                "Nats-Msg-Id": "e-old",
            }
            await js.publish("sb.ev.order.placed.orders", payload, headers=old)
            await wait_until(lambda: len(got) == 1, what="the old event")
            # The same event again past the broker's window (another message id): the
            # subscriber's dedupe knows it by its sb-id.
            await js.publish(
                "sb.ev.order.placed.orders", payload, headers={**old, "Nats-Msg-Id": "e-old-2"}
            )
            new = {"Nats-Msg-Id": "e-new", "sb-occurred-at": "18"}
            await js.publish("sb.ev.order.placed.orders", payload, headers=new)
            await wait_until(lambda: len(got) == 2, what="the new event")
        finally:
            await client.close()
    # The resent old event was acked without running the handler, before or after the new one.
    assert sorted(got) == [("old", "e-new", 18), ("old", "e-old", 17)]


async def test_an_outbox_row_stored_before_the_message_id_header_is_sent_with_it(
    nats_server: NatsServer,
) -> None:
    bus = NatsBus(NatsConfig(url=nats_server.url, name="orders"))
    await bus.connect()
    try:
        spec = ConsumerSpec(
            group="billing",
            pattern=compile_pattern("order.placed"),
            durable="billing-placed",
            max_deliver=2,
            ack_wait=30.0,
        )
        consumer = await bus.consumer(spec)

        def old_row() -> OutboxRow:
            headers = {"sb-id": "e-row", "sb-name": "order.placed", "sb-occurred-at": "5"}
            return OutboxRow(1, "order.placed", headers, b"", RowState.IN_FLIGHT, 0, "", 0.0)

        try:
            for _ in range(2):  # a resend after a lost ack: the broker drops the copy
                assert await (await bus.send_batch([old_row()], 5.0)) == [None]
            [delivery] = await consumer.fetch(2, 5.0)
            assert (delivery.envelope.id, delivery.envelope.name) == ("e-row", "order.placed")
            info = await bus.js.stream_info("SB_EVENTS")
            assert info.state.messages == 1
            await delivery.ack()
        finally:
            await consumer.close()
    finally:
        await bus.close()
