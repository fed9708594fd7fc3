"""The declarative service table that generated modules hold and the runtime reads.

A generated ``x_sb.py`` declares one :class:`ServiceSpec` per service; it holds no transport
logic. The server and the client find everything they need (paths, cardinality, message classes,
contract hashes) here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


class Cardinality(enum.Enum):
    UNARY = "unary"
    SERVER_STREAMING = "server_streaming"
    CLIENT_STREAMING = "client_streaming"
    BIDI_STREAMING = "bidi_streaming"

    @property
    def client_streams(self) -> bool:
        return self in (Cardinality.CLIENT_STREAMING, Cardinality.BIDI_STREAMING)

    @property
    def server_streams(self) -> bool:
        return self in (Cardinality.SERVER_STREAMING, Cardinality.BIDI_STREAMING)


@dataclass(frozen=True, slots=True)
class MethodSpec(Generic[Req, Rep]):
    """One rpc: ``name`` as in the .proto, ``attr`` the Python method name on client and handler.

    ``allowed_callers``: the services the protocol lets call it (the method's option, else its
    service's); None when it declares none. See :mod:`runtime_lib._access.policy`.
    """

    name: str
    attr: str
    path: str
    cardinality: Cardinality
    request: type[Req]
    reply: type[Rep]
    contract_hash: str = ""
    allowed_callers: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service: its full protobuf name (``payment.v1.Payment``) and its methods."""

    full_name: str
    methods: tuple[MethodSpec[Any, Any], ...]

    def method(self, name: str) -> MethodSpec[Any, Any]:
        """The method by its proto name (``Charge``) or Python name (``charge``)."""
        for m in self.methods:
            if name in (m.name, m.attr):
                return m
        raise KeyError(f"{self.full_name} has no method {name!r}")
