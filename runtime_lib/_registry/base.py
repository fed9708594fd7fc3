"""Where services are: the registry protocol a bridge registers with and resolves names through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Instance:
    """One live endpoint of a service.

    ``methods`` maps method paths to contract hashes; None when the registry does not know them
    (a static map), in which case the server's own contract check is the only guard.
    """

    address: str
    methods: Mapping[str, str] | None = None

    def serves(self, path: str, contract_hash: str) -> bool:
        return self.methods is None or self.methods.get(path) == contract_hash


class Registry(Protocol):
    async def start(self) -> None:
        """Connect and begin following changes; called by ``Bridge.start()``."""

    async def register(self, service: str, address: str, methods: Mapping[str, str]) -> None:
        """Announce this process as an endpoint of ``service`` until ``stop()``."""

    def instances(self, service: str) -> Sequence[Instance]:
        """The live endpoints of ``service`` known right now (no network wait)."""

    async def stop(self) -> None:
        """Withdraw what ``register`` announced, stop background work, disconnect."""
