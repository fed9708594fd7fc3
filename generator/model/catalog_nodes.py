"""Stage model: the nodes of the service catalog (``sb-gen docs``), frozen dataclasses that hold
what the protocol says about each service, method, event and message, in proto terms."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldDoc:
    name: str
    number: int
    type: str  # as written in proto: ``int64``, ``repeated string``, ``map<string, Money>``
    link: str | None  # anchor of the message or enum the type names, when the catalog has it
    doc: str | None
    deprecated: bool


@dataclass(frozen=True)
class MessageDoc:
    full_name: str
    anchor: str
    file: str
    doc: str | None
    fields: tuple[FieldDoc, ...]
    values: tuple[tuple[str, int], ...] = ()  # an enum's members; then ``fields`` is empty


@dataclass(frozen=True)
class MethodDoc:
    name: str
    anchor: str
    path: str  # the gRPC path, ``/payment.v1.Payment/Charge``
    client_streams: bool
    server_streams: bool
    request: str  # anchor of the request message
    reply: str
    doc: str | None
    deprecated: bool
    contract_hash: str
    allowed_callers: tuple[str, ...] | None = None  # None: the protocol declares none

    @property
    def kind(self) -> str:
        if self.client_streams and self.server_streams:
            return "bidi stream"
        if self.client_streams:
            return "client stream"
        return "server stream" if self.server_streams else "unary"


@dataclass(frozen=True)
class ServiceDoc:
    full_name: str
    anchor: str
    file: str
    doc: str | None
    deprecated: bool
    methods: tuple[MethodDoc, ...]


@dataclass(frozen=True)
class EventDoc:
    name: str  # the event name, ``order.placed``
    anchor: str
    message: str  # anchor of the payload message
    file: str
    contract_hash: str
    declared_with: tuple[str, ...]  # anchors of the services declared in the same file


@dataclass(frozen=True)
class Catalog:
    files: tuple[str, ...]  # the input files, in order
    packages: tuple[str, ...]  # their proto packages, in order, once each
    services: tuple[ServiceDoc, ...]
    events: tuple[EventDoc, ...]
    messages: dict[str, MessageDoc]  # by anchor: every message and enum a method or event reaches
