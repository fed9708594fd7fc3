"""Hand-written event classes in the shape sb-gen generates, over a protobuf built in code.

Importable by the test modules and by the subprocess scripts next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto


def _order_event_class() -> type[Message]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="sbtest/orders.proto", package="sbtest", syntax="proto3"
    )
    message = proto.message_type.add(name="OrderEvent")
    for number, (name, json_name, kind) in enumerate(
        [
            ("order_id", "orderId", _F.TYPE_STRING),
            ("amount", "amount", _F.TYPE_DOUBLE),
            ("currency", "currency", _F.TYPE_STRING),
        ],
        start=1,
    ):
        message.field.add(
            name=name, json_name=json_name, number=number, type=kind, label=_F.LABEL_OPTIONAL
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("sbtest.OrderEvent"))


OrderEventPb = _order_event_class()


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced:
    EVENT_NAME: ClassVar[str] = "order.placed"
    CONTRACT_HASH: ClassVar[str] = "v2:test-order-event"
    PROTO: ClassVar[type[Message]] = OrderEventPb

    order_id: str = ""
    amount: float = 0.0
    currency: str = ""

    def to_proto(self) -> Message:
        return OrderEventPb(order_id=self.order_id, amount=self.amount, currency=self.currency)

    @classmethod
    def from_proto(cls, message: Message) -> Self:
        return cls(
            order_id=message.order_id,  # type: ignore[attr-defined]
            amount=message.amount,  # type: ignore[attr-defined]
            currency=message.currency,  # type: ignore[attr-defined]
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaid(OrderPlaced):
    EVENT_NAME: ClassVar[str] = "order.paid"


def event_class(name: str) -> type[OrderPlaced]:
    """An OrderEvent-carrying event class published under ``name``."""
    return type(f"Event_{name.replace('.', '_')}", (OrderPlaced,), {"EVENT_NAME": name})
