"""http: requests/s of sb-gen's generated gateway vs a hand-written FastAPI route that calls the
same typed client (both behind BridgeMiddleware on uvicorn, in their own processes).

The load comes from this process: ``CONCURRENCY`` httpx clients' worth of requests in flight on
one keep-alive pool, ``GET /v1/items/{id}`` each; both servers answer the same JSON. Besides
requests/s it records each server process's CPU time per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

import httpx

from bench.generated import shared
from bench.procs import Server, http_server
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import ratio

GATEWAY = "generated gateway (x_gateway.py)"
FASTAPI = "hand-written FastAPI route + typed client"
CONCURRENCY = 16
CASE = "GET /v1/items/{id}, 16 in flight"
CPU = "server CPU per request"


async def _load(url: str, requests: int) -> float:
    """Requests per second for ``requests`` GETs, ``CONCURRENCY`` at a time."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:
        await http.get("/v1/items/warm-up")
        left = iter(range(requests))

        async def worker() -> None:
            for number in left:
                response = await http.get(f"/v1/items/i-{number}")
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return requests / (time.perf_counter() - start)


def _same_answer(gateway: Server, fastapi: Server) -> None:
    """Both subjects must send the same JSON, or the comparison means nothing."""
    answers = [
        httpx.get(f"http://{s.address}/v1/items/i-1", timeout=30).json() for s in (gateway, fastapi)
    ]
    if answers[0] != answers[1]:
        raise RuntimeError(f"the two servers disagree: {answers}")


def main(options: Options) -> Report:
    requests = 500 if options.quick else 5_000
    report = Report.of("http", "Generated gateway vs hand-written FastAPI route", options)
    gen = shared()
    with http_server("gateway", gen) as gateway, http_server("fastapi", gen) as fastapi:
        _same_answer(gateway, fastapi)

        def measure(server: Server) -> Callable[[], Mapping[str, float]]:
            url = f"http://{server.address}"

            def run() -> Mapping[str, float]:
                before = server.cpu_seconds()
                rate = asyncio.run(_load(url, requests))
                used = server.cpu_seconds() - before
                return {CASE: rate, CPU: used / (requests + 1) * 1e6}

            return run

        results = alternate({GATEWAY: measure(gateway), FASTAPI: measure(fastapi)}, options.runs)
    ours, peer = results[GATEWAY][CASE], results[FASTAPI][CASE]
    r = ratio(ours, peer)
    report.add(Row(CASE, GATEWAY, ours, "req/s", f"{r:.2f}x", f">= 1.0x: {verdict(r >= 1.0)}"))
    report.add(Row(CASE, FASTAPI, peer, "req/s"))
    cpu_ours, cpu_peer = results[GATEWAY][CPU], results[FASTAPI][CPU]
    report.add(Row(CPU, GATEWAY, cpu_ours, "µs", f"{ratio(cpu_ours, cpu_peer):.2f}x"))
    report.add(Row(CPU, FASTAPI, cpu_peer, "µs"))
    report.notes.append(
        "Both run the handler in process behind BridgeMiddleware (telemetry off) on uvicorn; "
        "the load generator is this process, so the servers share the machine's cores with it. "
        "Server CPU per request (from /proc, the server process only) is the figure that other "
        "load on the machine disturbs least; below 1.0x is less CPU than the peer."
    )
    return report
