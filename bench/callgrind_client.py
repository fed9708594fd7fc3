"""Unary calls counted by callgrind, in the server's process or in the client's own.

``count_calls`` counts the calls of one client with any process's ``Counter``. ``run_clients``
starts ``python -m bench.callgrind_client OUT GEN_ROOT ADDRESS CALLS CERTS|- KIND...`` under
callgrind: a client process that counts its own calls, kind after kind, and prints
``COUNT <kind> <instructions>`` for each.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import callgrind
from bench.clients import BenchClient, unary_client
from bench.generated import Generated
from bench.procs import REPO
from bench.tools import PYTHON, python_path

WARM_UP = 200
"""Calls made before counting: the connection, caches and lazily built paths are ready."""


async def count_calls(client: BenchClient, counter: callgrind.Counter, calls: int) -> int:
    """Instructions counted over ``calls`` sequential calls after the warm-up, less those of
    switching the count on and off (an empty stretch, counted just before)."""
    for n in range(WARM_UP):
        await client.echo(n)
    # callgrind_control blocks this loop on purpose: nothing of it runs while the switch flips.
    counter.on()
    switching = counter.off()
    counter.on()
    for n in range(calls):
        await client.echo(n)
    return counter.off() - switching


def run_clients(
    out: Path, gen: Generated, address: str, calls: int, certs: Path | None, kinds: Sequence[str]
) -> dict[str, int]:
    """Instructions of each client kind's ``calls`` calls to ``address``, each counted in one
    client process under callgrind (dumps to ``out.<n>``)."""
    command = [PYTHON, "-m", "bench.callgrind_client", str(out), str(gen.root), address]
    command += [str(calls), str(certs) if certs else "-", *kinds]
    done = subprocess.run(
        [*callgrind.wrapper(out), *command],
        capture_output=True,
        text=True,
        env=python_path(REPO, *gen.paths),
        timeout=1800,
        check=False,
    )
    counts = {
        kind: int(n)
        for _, kind, n in (
            line.split() for line in done.stdout.splitlines() if line.startswith("COUNT ")
        )
    }
    if done.returncode != 0 or set(counts) != set(kinds):
        raise RuntimeError(f"the client under callgrind failed:\n{done.stderr[-3000:]}")
    return counts


async def _count_each(
    gen: Generated,
    address: str,
    calls: int,
    certs: Path | None,
    kinds: Sequence[str],
    counter: callgrind.Counter,
) -> None:
    for kind in kinds:
        client = await unary_client(kind, gen, address, certs)
        try:
            print(f"COUNT {kind} {await count_calls(client, counter, calls)}", flush=True)
        finally:
            await client.close()


def main(argv: Sequence[str]) -> None:
    out, root, address, calls, certs, *kinds = argv
    counter = callgrind.Counter(os.getpid(), Path(out))
    cert_dir = None if certs == "-" else Path(certs)
    asyncio.run(_count_each(Generated(Path(root)), address, int(calls), cert_dir, kinds, counter))


if __name__ == "__main__":
    main(sys.argv[1:])
