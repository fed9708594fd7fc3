"""gRPC server reflection for a bridge's server, so grpcurl, Postman and evans can list its
services and call them without the .proto files.

The descriptors come from protobuf's default pool, where every generated ``_pb2`` module
registers its file on import: nothing is copied or generated for it.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc


def listed(services: Iterable[str]) -> tuple[str, ...]:
    """What reflection lists: ``services``, health and reflection itself."""
    return (*services, health.SERVICE_NAME, reflection.SERVICE_NAME)


def serve_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
    """Add the reflection service to ``server``, listing ``services`` with health and itself.
    The asyncio servicer is named here, not chosen by ``enable_server_reflection`` from the
    server's type: the bridge passes a stand-in that takes the generic handler only."""
    servicer = reflection.aio.ReflectionServicer(listed(services))
    # grpcio-reflection's generated module has no annotations.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
