"""``python -m bench instructions``: its callgrind pieces count real calls on each side, and
without valgrind it says how to install it.

The whole bench takes minutes even with ``--quick`` (callgrind runs Python ~50x slower), so the
smoke test does not run it; these tests run its parts on 50 calls.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import callgrind
from bench.callgrind_client import count_calls, run_clients
from bench.clients import unary_client
from bench.generated import shared
from bench.procs import rpc_server

REPO = Path(__file__).resolve().parents[2]

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed (apt-get install valgrind); CI's fresh machine has none",
)


def test_without_valgrind_the_bench_says_how_to_install_it(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path), PYTHONPATH=str(REPO))
    env["BENCH_RESULTS_DIR"] = str(tmp_path / "results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "instructions", "--quick", "--runs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "apt-get install valgrind" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


@needs_valgrind
def test_a_server_under_callgrind_counts_the_calls_made_to_it(tmp_path: Path) -> None:
    gen = shared()
    out = tmp_path / "server.out"
    with rpc_server("grpcio", gen, wrapper=callgrind.wrapper(out)) as server:
        counter = callgrind.Counter(server.pid, out)

        async def count(calls: int) -> int:
            client = await unary_client("stub", gen, server.address)
            try:
                return await count_calls(client, counter, calls)
            finally:
                await client.close()

        fifty, hundred = asyncio.run(count(50)), asyncio.run(count(100))
    # Twice the calls, about twice the count. Not a comparison of two kinds of call: gRPC's
    # threads are counted too, and what they do moves with the machine's load by a few percent,
    # as much as one metadata entry costs.
    assert fifty > 0
    assert 1.6 < hundred / fifty < 2.4


@needs_valgrind
def test_a_client_under_callgrind_counts_its_own_calls_run_after_run(tmp_path: Path) -> None:
    gen = shared()
    out = tmp_path / "client.out"
    with rpc_server("grpcio", gen) as server:
        # Two runs on one dump path, as the bench's rounds: the second numbers its dumps from 1
        # again and must count its own calls, not find none.
        runs = [
            run_clients(out, gen, server.address, 50, None, ["stub", "same-wire"]) for _ in "ab"
        ]
    for counts in runs:
        assert 0 < counts["stub"] < counts["same-wire"]
