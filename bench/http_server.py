"""A bench HTTP server in its own process: ``python -m bench.http_server KIND GEN_ROOT``.

KIND is ``gateway`` (sb-gen's generated gateway for bench_http.proto) or ``fastapi`` (a
hand-written FastAPI route calling the same typed client). Both run behind BridgeMiddleware
on uvicorn, with the handler served in process by the same bridge. It binds 127.0.0.1 on a
free port, prints ``PORT <n>``, and serves until SIGTERM or until its stdin closes.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at runtime,
# and its dependency type is local to fastapi_app().

import asyncio
import importlib
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI

import runtime_lib as sb
import runtime_lib.http as sb_http
from bench.generated import SB_PACKAGE, Generated

HOST = "127.0.0.1"


def fastapi_app(bridge: sb.Bridge, gen: Generated) -> Any:
    """What a user writes by hand for the same route: FastAPI, the typed client, a dict."""
    module = gen.sb("bench_http")
    pb2 = gen.sb_pb2("bench_http")
    catalog = Annotated[Any, Depends(sb_http.client(module.CatalogClient, service="catalog"))]
    app = FastAPI()

    @app.get("/v1/items/{item_id}")
    async def get_item(item_id: str, client: catalog) -> dict[str, Any]:
        item = await client.get_item(pb2.GetItemRequest(id=item_id))
        return {
            "id": item.id,
            "name": item.name,
            "priceCents": str(item.price_cents),
            "tags": list(item.tags),
        }

    return sb_http.BridgeMiddleware(app, bridge=bridge)


def gateway_app(bridge: sb.Bridge, gen: Generated) -> Any:
    gateway = importlib.import_module(f"{SB_PACKAGE}.bench_http_gateway")
    client = bridge.client(gen.sb("bench_http").CatalogClient, service="catalog")
    return sb_http.BridgeMiddleware(gateway.catalog_gateway(client), bridge=bridge)


async def serve(kind: str, gen: Generated) -> None:
    module = gen.sb("bench_http")
    pb2 = gen.sb_pb2("bench_http")
    item = pb2.Item(name="a bench item", price_cents=1999, tags=["bench", "http"])

    class Catalog(module.CatalogHandler):  # type: ignore[misc,name-defined]
        async def get_item(self, request: Any, ctx: sb.CallContext) -> Any:
            reply = pb2.Item()
            reply.CopyFrom(item)
            reply.id = request.id
            return reply

    bridge = sb.Bridge("catalog", events="memory")
    bridge.serve(Catalog())
    app = (gateway_app if kind == "gateway" else fastapi_app)(bridge, gen)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)  # stops on SIGTERM by itself

    def parent_gone() -> None:  # the parent died or closed our stdin
        server.should_exit = True

    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), parent_gone)
    sock.listen(1024)  # connections queue here until uvicorn accepts them: announce now
    async with bridge:
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await server.serve(sockets=[sock])


def main(argv: list[str]) -> None:
    kind, root = argv
    asyncio.run(serve(kind, Generated(Path(root))))


if __name__ == "__main__":
    main(sys.argv[1:])
