"""A checkout instance in a process of its own, for crash tests: runs the example's saga.

    python proc_checkout.py SAGA_ROOT TEMPORAL_ADDRESS REGISTRY_JSON {saga|hold}

``hold`` parks each run after ``reserve`` on a ``go`` signal, so a test can kill the process
between two steps. Prints ``ready`` once its worker runs; exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

import runtime_lib as sb
from runtime_lib.workflows import WaitSignal, Workflow, WorkflowsConfig
from tests.workflows import saga


def held(graph: Workflow) -> Workflow:
    hold = WaitSignal(id="hold", name="go", wait_for=("reserve",))
    steps = [
        dataclasses.replace(step, wait_for=("hold",)) if step.id == "charge" else step
        for step in graph.steps
    ]
    return Workflow(graph.name, steps=(steps[0], hold, *steps[1:]))


async def main(root: str, address: str, registry: str, variant: str) -> None:
    app = saga.load(Path(root))
    graph = app.saga.CHECKOUT if variant == "saga" else held(app.saga.CHECKOUT)
    bridge = sb.Bridge(
        "checkout", registry=json.loads(registry), workflows=WorkflowsConfig(address=address)
    )
    bridge.workflows.register(graph)
    async with bridge:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
