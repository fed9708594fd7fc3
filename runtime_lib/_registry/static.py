"""A fixed map from service name to addresses: ``{"payment": ["127.0.0.1:50051"]}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runtime_lib._registry.base import Instance


class StaticRegistry:
    """Addresses are gRPC targets (``host:port``, ``dns:///name:port``); registering is a no-op."""

    def __init__(self, services: Mapping[str, Sequence[str]] | None = None) -> None:
        self._services = {
            name: tuple(Instance(address) for address in addresses)
            for name, addresses in (services or {}).items()
        }

    async def start(self) -> None:
        return None

    async def register(self, service: str, address: str, methods: Mapping[str, str]) -> None:
        return None

    def instances(self, service: str) -> Sequence[Instance]:
        return self._services.get(service, ())

    async def stop(self) -> None:
        return None
