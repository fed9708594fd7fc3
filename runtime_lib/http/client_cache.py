"""The typed clients of one bridge, built once each and shared by every request."""

from __future__ import annotations

from typing import TypeVar

import runtime_lib as sb
from runtime_lib import codegen

C = TypeVar("C", bound=codegen.ClientBase)


class ClientCache:
    def __init__(self, bridge: sb.Bridge) -> None:
        self.bridge = bridge
        self._clients: dict[
            tuple[type[codegen.ClientBase], str | None, str | None], codegen.ClientBase
        ] = {}

    def get(self, client_class: type[C], service: str | None, address: str | None) -> C:
        key = (client_class, service, address)
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = self.bridge.client(
                client_class, service=service, address=address
            )
        assert isinstance(found, client_class)
        return found
