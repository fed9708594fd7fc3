"""Stage model: the nodes templates receive, frozen dataclasses with every Python name resolved.

Templates receive a :class:`SbModule` and nothing else; no descriptor access and no naming logic
happens in a template.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    proto_name: str
    attr: str
    path: str
    spec_const: str
    cardinality: str  # a runtime_lib.codegen.Cardinality member name
    client_streams: bool
    server_streams: bool
    request: str  # Python expression naming the request class
    reply: str
    contract_hash: str
    doc: str | None
    deprecated: bool
    allowed_callers: tuple[str, ...] | None = None  # None: the protocol declares none


@dataclass(frozen=True)
class Service:
    full_name: str
    client: str
    sync_client: str
    handler: str
    table: str
    doc: str | None
    deprecated: bool
    methods: tuple[Method, ...]


@dataclass(frozen=True)
class EnumMember:
    name: str
    number: int


@dataclass(frozen=True)
class EnumClass:
    """An ``enum.IntEnum`` mirroring a proto enum used by an event."""

    name: str
    doc: str | None
    members: tuple[EnumMember, ...]


@dataclass(frozen=True)
class DataField:
    """One dataclass field and the code that converts it to and from its protobuf field."""

    name: str
    annotation: str
    default: str  # right-hand side of the field declaration
    to_proto: tuple[str, ...]  # statements over ``self`` filling ``message``, relative indent
    from_proto: str  # expression over ``message``
    doc: str | None


@dataclass(frozen=True)
class DataClass:
    """A frozen dataclass over a protobuf message; an event when ``event_name`` is set."""

    name: str
    proto: str  # Python expression naming the protobuf class
    doc: str | None
    fields: tuple[DataField, ...]
    event_name: str | None = None
    contract_hash: str | None = None


@dataclass(frozen=True)
class SbModule:
    """One generated ``x_sb.py``."""

    source: str
    path: str
    import_groups: tuple[tuple[str, ...], ...]  # isort sections: stdlib, third party, local
    services: tuple[Service, ...]
    enums: tuple[EnumClass, ...] = ()
    dataclasses: tuple[DataClass, ...] = ()


@dataclass(frozen=True)
class StubMethod:
    """One method of a scaffolded handler: the handler base's signature, a body to fill in."""

    attr: str
    is_async: bool  # streaming replies are plain ``def`` returning an AsyncIterator, as the base
    params: tuple[str, ...]  # after ``self``: ``request: payment_pb2.ChargeRequest``, ``ctx: ...``
    returns: str
    doc: str | None
    imports: tuple[tuple[str, str, str], ...]  # (from, name, alias) the signature needs


@dataclass(frozen=True)
class HandlerStub:
    """A user's handler implementation module for one service (``sb-gen scaffold``)."""

    service: str  # full proto name
    class_name: str
    base: str  # the generated handler base class
    package: str  # dotted import path of the sb-gen output package
    doc: str | None
    import_groups: tuple[tuple[str, ...], ...]
    methods: tuple[StubMethod, ...]


@dataclass(frozen=True)
class Route:
    """One ``google.api.http`` binding of an rpc in a generated gateway."""

    method: str  # HTTP method, upper-case (a custom kind as written)
    path: str  # the path template, as a Python string literal
    rpc: str
    attr: str  # the client method
    request: str
    reply: str
    body: str
    response_body: str
    server_streaming: bool


@dataclass(frozen=True)
class Gateway:
    """The HTTP/JSON gateway of one service: its bindings table and its app factory."""

    full_name: str
    client: str
    bindings: str  # module constant holding the Binding tuple
    factory: str  # the function building the ASGI app
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class GatewayModule:
    """One generated ``x_gateway.py``, for a file with ``google.api.http`` bindings."""

    source: str
    path: str
    import_groups: tuple[tuple[str, ...], ...]
    gateways: tuple[Gateway, ...]
