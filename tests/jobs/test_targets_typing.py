"""Targets are typed: mypy --strict (which reports unused ``type: ignore``) checks this file, so
each ignored line below proves mypy rejects a request or event of the wrong type."""

from __future__ import annotations

from typing import Unpack

import runtime_lib as sb
from runtime_lib._jobs import call, publish
from tests.events.eventlib import OrderPlaced


class Ping:
    pass


class Other:
    pass


class Reply:
    pass


class Client:
    """The shape of a generated client's unary method."""

    async def ping(self, request: Ping, **options: Unpack[sb.CallOptions]) -> Reply:
        return Reply()


def test_targets_accept_the_right_types_only() -> None:
    client = Client()
    bridge = sb.Bridge("svc", events="memory")
    call(client.ping, Ping())
    call(client.ping, lambda ctx: Ping())
    call(client.ping, Other())  # type: ignore[arg-type]
    publish(bridge, OrderPlaced(order_id="x"))
    publish(bridge, lambda ctx: OrderPlaced(order_id=ctx.idempotency_key))
    publish(bridge, Ping())  # type: ignore[arg-type]
