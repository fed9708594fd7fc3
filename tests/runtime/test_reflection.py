"""A bridge serves gRPC server reflection: grpcio-reflection's own client lists its services and
resolves their descriptors from it; with ``RpcConfig(reflection=False)`` the service is not there."""

from __future__ import annotations

import asyncio
from types import ModuleType

import grpc
import pytest
from echo_service import make_handler
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import runtime_lib as sb

pytestmark = pytest.mark.timeout(60)


def _reflect(address: str) -> tuple[list[str], list[str], list[str], str]:
    """Services, the Callee's methods, the Echo message's fields, and the file declaring Echo,
    all read over the reflection service (blocking: run it off the server's loop)."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = DescriptorPool(database)
        callee = pool.FindServiceByName("conformance.Callee")
        echo = pool.FindMessageTypeByName("conformance.Echo")
        declaring = database.FindFileContainingSymbol("conformance.Echo")
        return (
            services,
            [m.name for m in callee.methods],
            [f"{f.name}:{f.number}" for f in echo.fields],
            declaring.name,
        )


def _list_services(address: str) -> list[str]:
    with grpc.insecure_channel(address) as channel:
        return sorted(ProtoReflectionDescriptorDatabase(channel).get_services())


async def test_reflection_lists_services_and_resolves_descriptors(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    bridge = sb.Bridge("echo", rpc=sb.RpcConfig(transport=server_transport))
    bridge.serve(make_handler(echo))
    async with bridge:
        services, methods, fields, declaring = await asyncio.to_thread(_reflect, bridge.address)
    assert services == [
        "conformance.Callee",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ]
    assert methods[:3] == ["Echo", "Info", "Decline"]
    assert "Chat" in methods
    assert fields == ["text:1", "n:2"]
    assert declaring == "echo.proto"


async def test_reflection_off_is_unimplemented(
    echo: ModuleType, server_transport: sb.NetworkTransport
) -> None:
    bridge = sb.Bridge("echo", rpc=sb.RpcConfig(reflection=False, transport=server_transport))
    bridge.serve(make_handler(echo))
    async with bridge:
        with pytest.raises(grpc.RpcError) as refused:
            await asyncio.to_thread(_list_services, bridge.address)
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
