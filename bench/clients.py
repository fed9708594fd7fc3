"""The client side of each RPC subject behind one small interface, so every subject runs the same loop."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import grpc

from bench.generated import Generated

if TYPE_CHECKING:
    from runtime_lib._rpc.options import NetworkTransport

PAYLOAD = b"x" * 32


def grpclib_module(name: str) -> Any:
    """``grpclib.<name>``: grpclib is the ``bench`` extra, imported only by the subjects using it."""
    try:
        return importlib.import_module(f"grpclib.{name}")
    except ImportError as exc:
        raise SystemExit("grpclib is missing: pip install -e '.[bench]'") from exc


class BenchClient(Protocol):
    async def echo(self, n: int) -> None: ...

    async def stream(self, count: int, size: int) -> int:
        """Receive a server stream of ``count`` replies; return how many arrived."""
        ...

    async def stream_chunks(self, count: int, size: int, chunk: int) -> int: ...

    async def close(self) -> None: ...


class SbClient:
    """The sb-gen generated ``BenchClient`` on a runtime_lib Bridge (default call options) whose
    network transport is ``transport``."""

    def __init__(
        self,
        gen: Generated,
        address: str,
        transport: NetworkTransport = "grpcio",
        certs: Path | None = None,
    ) -> None:
        import runtime_lib as sb

        self._pb2 = gen.sb_pb2("bench_rpc")
        tls = sb.TlsConfig.from_dir(certs, "bench-client") if certs else None
        self._bridge = sb.Bridge("bench-client", rpc=sb.RpcConfig(transport=transport), tls=tls)
        # Under TLS the client checks that bench-server answers.
        service = "bench-server" if certs else None
        self._client: Any = self._bridge.client(
            gen.sb("bench_rpc").BenchClient, address=address, service=service
        )

    async def start(self) -> SbClient:
        await self._bridge.start()
        return self

    async def echo(self, n: int) -> None:
        await self._client.echo(self._pb2.EchoRequest(id="req", n=n, payload=PAYLOAD))

    async def stream(self, count: int, size: int) -> int:
        received = 0
        async for _ in self._client.stream(self._pb2.StreamRequest(count=count, size=size)):
            received += 1
        return received

    async def stream_chunks(self, count: int, size: int, chunk: int) -> int:
        request = self._pb2.StreamRequest(count=count, size=size, chunk=chunk)
        received = 0
        async for reply in self._client.stream_chunks(request):
            received += len(reply.items)
        return received

    async def close(self) -> None:
        await self._bridge.stop()


class AioClient:
    """A plain grpcio ``grpc.aio`` stub (grpc_tools ``--grpc_python_out``).

    ``like_sb`` sends what an sb-gen call sends on the wire besides the request (docs/wire.md):
    a deadline (30 s) and its ``sb-call`` entry: the budget in ms, Echo's contract hash, a fresh
    request id, and the caller's name unless mutual TLS names it.
    """

    def __init__(
        self, gen: Generated, address: str, *, like_sb: bool = False, certs: Path | None = None
    ) -> None:
        self._pb2 = gen.raw("bench_rpc_pb2")
        if certs is None:
            self._channel = grpc.aio.insecure_channel(address)
        else:
            # The same credentials a TLS bridge uses: our certificate, bench-server's name pinned.
            from runtime_lib._security.tls import (
                TlsConfig,
                TlsFiles,
                channel_credentials,
                target_options,
            )

            files = TlsFiles(TlsConfig.from_dir(certs, "bench-client"))
            options = target_options(files.current.trust_domain, "bench-server")
            self._channel = grpc.aio.secure_channel(address, channel_credentials(files), options)
        self._stub: Any = gen.raw("bench_rpc_pb2_grpc").BenchStub(self._channel)
        self._like_sb = like_sb
        # The Echo contract's real hash, so that an sb-gen server accepts the call too.
        spec = gen.sb("bench_rpc").BENCH_SERVICE
        self._contract = next(m.contract_hash for m in spec.methods if m.name == "Echo")
        self._caller = " bench-client" if certs is None else ""

    async def echo(self, n: int) -> None:
        request = self._pb2.EchoRequest(id="req", n=n, payload=PAYLOAD)
        if self._like_sb:
            packed = f"30000 {self._contract} {uuid.uuid4()}{self._caller}"
            await self._stub.Echo(request, timeout=30.0, metadata=(("sb-call", packed),))
        else:
            await self._stub.Echo(request)

    async def stream(self, count: int, size: int) -> int:
        received = 0
        async for _ in self._stub.Stream(self._pb2.StreamRequest(count=count, size=size)):
            received += 1
        return received

    async def stream_read(self, count: int, size: int) -> int:
        """The same stream read with ``call.read()`` instead of ``async for``."""
        call = self._stub.Stream(self._pb2.StreamRequest(count=count, size=size))
        received = 0
        while (await call.read()) is not grpc.aio.EOF:
            received += 1
        return received

    async def stream_chunks(self, count: int, size: int, chunk: int) -> int:
        request = self._pb2.StreamRequest(count=count, size=size, chunk=chunk)
        received = 0
        async for reply in self._stub.StreamChunks(request):
            received += len(reply.items)
        return received

    async def close(self) -> None:
        await self._channel.close()


class SyncClient:
    """grpcio's synchronous stack, its blocking calls run in a worker thread."""

    def __init__(self, gen: Generated, address: str) -> None:
        self._pb2 = gen.raw("bench_rpc_pb2")
        self._channel = grpc.insecure_channel(address)
        self._stub: Any = gen.raw("bench_rpc_pb2_grpc").BenchStub(self._channel)

    async def echo(self, n: int) -> None:
        request = self._pb2.EchoRequest(id="req", n=n, payload=PAYLOAD)
        await asyncio.to_thread(self._stub.Echo, request)

    def _drain(self, call: Any) -> int:
        return sum(1 for _ in call)

    async def stream(self, count: int, size: int) -> int:
        call = self._stub.Stream(self._pb2.StreamRequest(count=count, size=size))
        return await asyncio.to_thread(self._drain, call)

    async def stream_chunks(self, count: int, size: int, chunk: int) -> int:
        request = self._pb2.StreamRequest(count=count, size=size, chunk=chunk)
        call = self._stub.StreamChunks(request)
        return await asyncio.to_thread(lambda: sum(len(r.items) for r in call))

    async def close(self) -> None:
        self._channel.close()


class GrpclibClient:
    """grpclib (pure Python, HTTP/2 by h2) with its generated ``BenchStub``."""

    def __init__(self, gen: Generated, address: str) -> None:
        channel_class = grpclib_module("client").Channel
        host, port = address.rsplit(":", 1)
        self._pb2 = gen.raw("bench_rpc_pb2")
        self._channel: Any = channel_class(host, int(port))
        self._stub: Any = gen.raw("bench_rpc_grpc").BenchStub(self._channel)

    async def echo(self, n: int) -> None:
        await self._stub.Echo(self._pb2.EchoRequest(id="req", n=n, payload=PAYLOAD))

    async def stream(self, count: int, size: int) -> int:
        received = 0
        async with self._stub.Stream.open() as call:
            await call.send_message(self._pb2.StreamRequest(count=count, size=size), end=True)
            async for _ in call:
                received += 1
        return received

    async def stream_chunks(self, count: int, size: int, chunk: int) -> int:
        request = self._pb2.StreamRequest(count=count, size=size, chunk=chunk)
        received = 0
        async with self._stub.StreamChunks.open() as call:
            await call.send_message(request, end=True)
            async for reply in call:
                received += len(reply.items)
        return received

    async def close(self) -> None:
        self._channel.close()


UNARY_CLIENTS = ("stub", "same-wire", "sb")
"""The clients of the unary comparisons: a plain grpc.aio stub, the same stub sending what sb-gen
sends on the wire (``AioClient(like_sb=True)``), and the generated client."""


async def unary_client(
    kind: str, gen: Generated, address: str, certs: Path | None = None
) -> BenchClient:
    """A started client of one of ``UNARY_CLIENTS``."""
    if kind == "sb":
        return await SbClient(gen, address, certs=certs).start()
    if kind in ("stub", "same-wire"):
        return AioClient(gen, address, like_sb=kind == "same-wire", certs=certs)
    raise ValueError(f"unknown client kind {kind!r}: one of {', '.join(UNARY_CLIENTS)}")
