"""gRPC server reflection for a bridge's server, so grpcurl, Postman and evans can list its
services and call them without the .proto files.

The descriptors come from protobuf's default pool, where every generated ``_pb2`` module
registers its file on import: nothing is copied or generated for it.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection


def listed(services: Iterable[str]) -> tuple[str, ...]:
    """What reflection lists: ``services``, health and reflection itself."""
    return (*services, health.SERVICE_NAME, reflection.SERVICE_NAME)


def serve_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
    """Add the reflection service to ``server``, listing ``services`` with health and itself."""
    reflection.enable_server_reflection(listed(services), server)
