"""A callee process for the RPC conformance runner and the multi-process runtime tests.

    python rpc_callee.py ECHO_ROOT SERVICE [--name N] [--nats URL] [--behaviours JSON]
                         [--tls CERT_DIR] [--access JSON]

Serves the counting Echo handler (tests/runtime/echo_service.py) on a free loopback port, prints
``LISTENING host:port`` once ready, and drains and exits on SIGTERM (or when stdin closes, so a
crashed test run never leaves it behind).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime"))

import echo_service

import runtime_lib as sb


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("echo_root", type=Path)
    parser.add_argument("service")
    parser.add_argument("--name", default=echo_service.SDK)
    parser.add_argument("--nats")
    parser.add_argument("--behaviours", default="{}")
    parser.add_argument("--tls", type=Path, help="serve with mutual TLS from this sb-certs dir")
    parser.add_argument("--access", help="AccessPolicy keywords as JSON")
    parser.add_argument("--transport", default="grpcio", help="the bridge's gRPC library")
    args = parser.parse_args()

    module = echo_service.load(args.echo_root)
    handler = echo_service.make_handler(module, args.name, json.loads(args.behaviours))
    registry = sb.NatsKvRegistry(args.nats, ttl=3.0) if args.nats else None
    tls = sb.TlsConfig.from_dir(args.tls, args.service) if args.tls else None
    access = sb.AccessPolicy(**json.loads(args.access)) if args.access else None
    bridge = sb.Bridge(
        args.service,
        registry=registry,
        rpc=sb.RpcConfig(drain_timeout=5.0, transport=args.transport),
        tls=tls,
        access=access,
    )
    bridge.serve(handler)

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    await loop.connect_read_pipe(lambda: _EofProtocol(done), sys.stdin)
    async with bridge:
        print(f"LISTENING {bridge.address}", flush=True)
        await done.wait()


class _EofProtocol(asyncio.Protocol):
    def __init__(self, done: asyncio.Event) -> None:
        self._done = done

    def eof_received(self) -> None:
        self._done.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done.set()


if __name__ == "__main__":
    asyncio.run(main())
