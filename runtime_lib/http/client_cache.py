"""The typed clients of one bridge, built once each and shared by every request."""

from __future__ import annotations

from typing import TypeVar

from runtime_lib.bridge import Bridge
from runtime_lib.rpc.base import ClientBase

C = TypeVar("C", bound=ClientBase)


class ClientCache:
    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self._clients: dict[tuple[type[ClientBase], str | None, str | None], ClientBase] = {}

    def get(self, client_class: type[C], service: str | None, address: str | None) -> C:
        key = (client_class, service, address)
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = self.bridge.client(
                client_class, service=service, address=address
            )
        assert isinstance(found, client_class)
        return found
