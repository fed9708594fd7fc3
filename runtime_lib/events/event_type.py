"""The shape of a generated event class, as a Protocol the runtime is typed against."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self, TypeVar

from google.protobuf.message import Message


class EventType(Protocol):
    """What sb-gen writes for every event: a frozen dataclass over a protobuf message.

    The wire payload is ``to_proto().SerializeToString()``, so any protobuf reader can decode it.
    """

    EVENT_NAME: ClassVar[str]
    CONTRACT_HASH: ClassVar[str]
    # ``Any``: a generated class declares its own message class here, and a ClassVar protocol
    # member is invariant, so ``type[Message]`` would reject every generated event.
    PROTO: ClassVar[type[Any]]

    def to_proto(self) -> Message: ...

    # ``Any``: each class takes its own message type, which a Protocol parameter cannot narrow to.
    @classmethod
    def from_proto(cls, message: Any, /) -> Self: ...


E = TypeVar("E", bound=EventType)
