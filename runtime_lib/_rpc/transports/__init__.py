"""What carries a call: the seam (``base``) and its implementations (``inproc``, ``grpcio``,
``grpclib``). ``connector(name)`` gives the bridge's network transport."""

from __future__ import annotations

import functools
import importlib

from runtime_lib._errors import ConfigError
from runtime_lib._rpc.transports.base import Connect

NETWORK = ("grpcio", "grpclib")


def connector(name: str, max_message_size: int) -> Connect:
    """The factory of connections (one per address) of network transport ``name``, receiving
    messages of at most ``max_message_size`` bytes."""
    if name not in NETWORK:
        raise ConfigError(f"unknown transport {name!r}: use grpcio (the default) or grpclib")
    try:
        module = importlib.import_module(f"runtime_lib._rpc.transports.{name}")
    except ImportError as missing:
        if missing.name not in ("grpclib", "h2") and not str(missing.name).startswith("grpclib."):
            raise
        raise ConfigError(
            f"transport {name!r} needs the grpclib package: pip install 'sb-gen[grpclib]'"
        ) from None
    factory: Connect = functools.partial(module.connect, max_message_size=max_message_size)
    return factory
