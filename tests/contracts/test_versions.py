"""Versions that never cross: a v1 and a v2 server under one service name, each client (in its
own process, as real deployments are) reaching only its own version, and a direct call across
versions refused by the server with both hashes named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator.pipeline import build_package
from generator.write import write_atomically

pytestmark = pytest.mark.timeout(90)

PROTO = """syntax = "proto3";
package pricing;
message Quote {{ string sku = 1; {amount} amount = 2; string served_by = 3; }}
service Pricing {{ rpc Price(Quote) returns (Quote); }}
"""

SERVER = """
import asyncio, sys
import runtime_lib as sb
from {pkg}.pricing_sb import PricingHandler
from {pkg}.pricing_pb2 import Quote

class Pricing(PricingHandler):
    async def price(self, request: Quote, ctx: sb.CallContext) -> Quote:
        return Quote(sku=request.sku, amount=request.amount, served_by="{pkg}")

async def main() -> None:
    bridge = sb.Bridge("pricing", registry=sb.NatsKvRegistry(sys.argv[1]))
    bridge.serve(Pricing())
    async with bridge:
        print(bridge.address, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

CLIENT = """
import asyncio, sys
import runtime_lib as sb
from {pkg}.pricing_sb import PricingClient
from {pkg}.pricing_pb2 import Quote

async def main() -> None:
    async with sb.Bridge("shop", registry=sb.NatsKvRegistry(sys.argv[1])) as bridge:
        for _ in range(200):
            if len(bridge.registry.instances("pricing")) == 2:
                break
            await asyncio.sleep(0.02)
        client = bridge.client(PricingClient, service="pricing")
        served = {{(await client.price(Quote(sku="a", amount=2))).served_by for _ in range(20)}}
        print("served", *sorted(served))
        crossed = bridge.client(PricingClient, address=sys.argv[2])
        try:
            await crossed.price(Quote(sku="a"))
            print("crossed: accepted")
        except sb.ServiceBridgeError as exc:
            print("crossed:", exc.code, exc.message)

asyncio.run(main())
"""


def generate(root: Path) -> dict[str, str]:
    """v1 has an int64 amount, v2 a double: same names, different wire shape."""
    hashes = {}
    for pkg, amount in (("v1", "int64"), ("v2", "double")):
        src = root / f"{pkg}_src"
        src.mkdir()
        (src / "pricing.proto").write_text(PROTO.format(amount=amount))
        files = build_package([src / "pricing.proto"], [])
        write_atomically(root / pkg, files)
        source = files["pricing_sb.py"].decode()
        hashes[pkg] = source.split('contract_hash="')[1].split('"')[0]
        (root / f"server_{pkg}.py").write_text(SERVER.format(pkg=pkg))
        (root / f"client_{pkg}.py").write_text(CLIENT.format(pkg=pkg))
    return hashes


def test_each_client_reaches_only_its_own_version(tmp_path: Path, nats_url: str) -> None:
    hashes = generate(tmp_path)
    assert hashes["v1"] != hashes["v2"]
    servers = {
        pkg: subprocess.Popen(
            [sys.executable, f"server_{pkg}.py", nats_url],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for pkg in ("v1", "v2")
    }
    try:
        addresses = {pkg: p.stdout.readline().strip() for pkg, p in servers.items() if p.stdout}
        outputs = {}
        for pkg, other in (("v1", "v2"), ("v2", "v1")):
            run = subprocess.run(
                [sys.executable, f"client_{pkg}.py", nats_url, addresses[other]],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert run.returncode == 0, run.stderr
            outputs[pkg] = run.stdout.splitlines()
    finally:
        for p in servers.values():
            p.communicate(timeout=30)  # closing stdin stops the server
    for pkg, other in (("v1", "v2"), ("v2", "v1")):
        served, crossed = outputs[pkg]
        assert served == f"served {pkg}"
        assert crossed.startswith("crossed: VALIDATION")
        assert hashes[pkg] in crossed and hashes[other] in crossed
