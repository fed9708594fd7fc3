"""A bench RPC server in its own process: ``python -m bench.rpc_server KIND GEN_ROOT``.

KIND is ``sb`` (a generated handler on runtime_lib.Bridge), ``sb-grpclib`` (the same on a bridge
with ``transport="grpclib"``, served by grpclib), ``grpcio`` (a grpc.aio servicer),
``grpcio-sync`` (a servicer on grpcio's thread-pool server) or ``grpclib``; ``sb-tls`` and
``grpcio-tls`` take a third argument, an ``sb-certs`` directory, and serve mutual TLS with the
``bench-server`` certificate (the same reloading credentials for both). It binds 127.0.0.1 on a
free port, prints ``PORT <n>``, and serves until SIGTERM or until its stdin closes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any, cast

import grpc

from bench.clients import grpclib_module
from bench.generated import Generated

HOST = "127.0.0.1"


def _announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


class Replies:
    """Prebuilt replies, so a stream measures the transport and not message building."""

    def __init__(self, pb2: Any) -> None:
        self.pb2 = pb2
        self._cache: dict[tuple[int, int], Any] = {}

    def echo(self, request: Any) -> Any:
        return self.pb2.EchoReply(id=request.id, n=request.n, payload=request.payload)

    def item(self, size: int) -> Any:
        return self.pb2.EchoReply(id="stream", n=1, payload=b"x" * size)

    def chunk(self, size: int, chunk: int) -> Any:
        key = (size, chunk)
        if key not in self._cache:
            self._cache[key] = self.pb2.EchoChunk(items=[self.item(size)] * chunk)
        return self._cache[key]


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the parent died or closed our stdin
    await stop.wait()


def sb_handler(gen: Generated) -> Any:
    """An instance of the generated ``BenchHandler``, subclassed as a user would."""
    import runtime_lib as sb

    module = gen.sb("bench_rpc")
    replies = Replies(gen.sb_pb2("bench_rpc"))

    class Handler(module.BenchHandler):  # type: ignore[misc,name-defined]
        async def echo(self, request: Any, ctx: sb.CallContext) -> Any:
            return replies.echo(request)

        async def stream(self, request: Any, ctx: sb.CallContext) -> AsyncIterator[Any]:
            item = replies.item(request.size)
            for _ in range(request.count):
                yield item

        async def stream_chunks(self, request: Any, ctx: sb.CallContext) -> AsyncIterator[Any]:
            chunk = replies.chunk(request.size, request.chunk)
            for _ in range(request.count // request.chunk):
                yield chunk

    return Handler()


async def serve_sb(gen: Generated, certs: Path | None = None, transport: str = "grpcio") -> None:
    import runtime_lib as sb

    tls = sb.TlsConfig.from_dir(certs, "bench-server") if certs else None
    rpc = sb.RpcConfig(drain_timeout=1.0, transport=cast(sb.NetworkTransport, transport))
    bridge = sb.Bridge("bench-server", listen=f"{HOST}:0", rpc=rpc, tls=tls)
    bridge.serve(sb_handler(gen))
    async with bridge:
        _announce(int(bridge.address.rsplit(":", 1)[1]))
        await _until_stopped()


def aio_servicer(gen: Generated) -> Any:
    """A grpc.aio servicer of the grpc_tools-generated ``BenchServicer``."""
    grpc_module = gen.raw("bench_rpc_pb2_grpc")
    replies = Replies(gen.raw("bench_rpc_pb2"))

    class Servicer(grpc_module.BenchServicer):  # type: ignore[misc,name-defined]
        async def Echo(self, request: Any, context: Any) -> Any:
            return replies.echo(request)

        async def Stream(self, request: Any, context: Any) -> AsyncIterator[Any]:
            item = replies.item(request.size)
            for _ in range(request.count):
                yield item

        async def StreamChunks(self, request: Any, context: Any) -> AsyncIterator[Any]:
            chunk = replies.chunk(request.size, request.chunk)
            for _ in range(request.count // request.chunk):
                yield chunk

    return Servicer()


async def serve_grpcio(gen: Generated, certs: Path | None = None) -> None:
    server = grpc.aio.server()
    gen.raw("bench_rpc_pb2_grpc").add_BenchServicer_to_server(aio_servicer(gen), server)
    if certs is None:
        port = server.add_insecure_port(f"{HOST}:0")
    else:
        from runtime_lib._security.tls import TlsConfig, TlsFiles, server_credentials

        files = TlsFiles(TlsConfig.from_dir(certs, "bench-server"))
        port = server.add_secure_port(f"{HOST}:0", server_credentials(files))
    await server.start()
    try:
        _announce(port)
        await _until_stopped()
    finally:
        await server.stop(0.5)


def serve_grpcio_sync(gen: Generated) -> None:
    grpc_module = gen.raw("bench_rpc_pb2_grpc")
    replies = Replies(gen.raw("bench_rpc_pb2"))

    class Servicer(grpc_module.BenchServicer):  # type: ignore[misc,name-defined]
        def Echo(self, request: Any, context: Any) -> Any:
            return replies.echo(request)

        def Stream(self, request: Any, context: Any) -> Iterator[Any]:
            item = replies.item(request.size)
            for _ in range(request.count):
                yield item

        def StreamChunks(self, request: Any, context: Any) -> Iterator[Any]:
            chunk = replies.chunk(request.size, request.chunk)
            for _ in range(request.count // request.chunk):
                yield chunk

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    grpc_module.add_BenchServicer_to_server(Servicer(), server)
    port = server.add_insecure_port(f"{HOST}:0")
    server.start()
    try:
        _announce(port)
        asyncio.run(_until_stopped())
    finally:
        server.stop(0.5).wait(2)


async def serve_grpclib(gen: Generated) -> None:
    base = gen.raw("bench_rpc_grpc").BenchBase
    replies = Replies(gen.raw("bench_rpc_pb2"))

    class Handler(base):  # type: ignore[misc,valid-type]
        async def Echo(self, stream: Any) -> None:
            request = await stream.recv_message()
            await stream.send_message(replies.echo(request))

        async def Stream(self, stream: Any) -> None:
            request = await stream.recv_message()
            assert request is not None
            item = replies.item(request.size)
            for _ in range(request.count):
                await stream.send_message(item)

        async def StreamChunks(self, stream: Any) -> None:
            request = await stream.recv_message()
            assert request is not None
            chunk = replies.chunk(request.size, request.chunk)
            for _ in range(request.count // request.chunk):
                await stream.send_message(chunk)

    server = grpclib_module("server").Server([Handler()])
    await server.start(HOST, 0)
    try:
        listening = cast(asyncio.Server, server._server)
        _announce(int(listening.sockets[0].getsockname()[1]))
        await _until_stopped()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str]) -> None:
    kind, root, *rest = argv
    gen = Generated(Path(root))
    if kind == "sb":
        asyncio.run(serve_sb(gen))
    elif kind == "sb-grpclib":
        asyncio.run(serve_sb(gen, transport="grpclib"))
    elif kind == "sb-tls":
        asyncio.run(serve_sb(gen, Path(rest[0])))
    elif kind == "grpcio":
        asyncio.run(serve_grpcio(gen))
    elif kind == "grpcio-tls":
        asyncio.run(serve_grpcio(gen, Path(rest[0])))
    elif kind == "grpcio-sync":
        serve_grpcio_sync(gen)
    elif kind == "grpclib":
        asyncio.run(serve_grpclib(gen))
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
