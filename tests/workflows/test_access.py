"""Starting, signalling and cancelling a run of another service under its access policy, with
real certificates from ``sb-certs``' CA code and a real Temporal dev server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib.workflows import Local, RunView, WaitSignal, Workflow, WorkflowsConfig
from runtime_lib.workflows.dev_server import DevServer
from tests.ca import make_ca
from tests.events.helpers import wait_until


async def done(run: RunView) -> str:
    return "approved"


APPROVE = Workflow(
    "approve",
    steps=(
        WaitSignal(id="ok", name="go"),
        Local(id="done", fn=done, wait_for=("ok",)),
    ),
    allowed_callers=("shop",),
)


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    return make_ca(tmp_path / "certs", "example.org", "checkout", "shop", "intruder")


@pytest.fixture
def stranger_dir(tmp_path: Path) -> Path:
    """Another CA (same trust domain name) whose 'shop' nobody trusts."""
    return make_ca(tmp_path / "stranger", "example.org", "shop")


Make = Callable[[str, Path | None], sb.Bridge]

# Every bridge's policy_violation events, in order, as (side, reporting service, method, caller).
Seen = list[tuple[str, str, str, str]]


@pytest.fixture
def violations() -> Seen:
    return []


@pytest.fixture
async def checkout(temporal: DevServer, cert_dir: Path, violations: Seen) -> AsyncIterator[Make]:
    """Runs APPROVE under TLS; ``make(service, cert_dir or None)`` builds a driving bridge."""
    config = WorkflowsConfig(address=temporal.address)

    def watched(bridge: sb.Bridge) -> sb.Bridge:
        bridge.on(
            "policy_violation",
            lambda v: violations.append((v.side, v.service_name, v.method, v.caller)),
        )
        return bridge

    bridge = watched(
        sb.Bridge("checkout", tls=sb.TlsConfig.from_dir(cert_dir, "checkout"), workflows=config)
    )
    bridge.workflows.register(APPROVE)

    def make(service: str, directory: Path | None) -> sb.Bridge:
        tls = sb.TlsConfig.from_dir(directory, service) if directory else None
        return watched(sb.Bridge(service, tls=tls, workflows=config))

    async with bridge:
        yield make


async def waiting(bridge: sb.Bridge, run_id: str) -> None:
    async def parked() -> bool:
        return (await bridge.workflows.query(run_id)).steps.get("ok") == "running"

    await wait_until(parked, what="the run to wait for its signal")


async def test_an_allowed_caller_drives_a_run_and_others_are_refused(
    checkout: Make, cert_dir: Path, violations: Seen
) -> None:
    async with checkout("shop", cert_dir) as shop, checkout("intruder", cert_dir) as intruder:
        run_id = await shop.workflows.start("approve", service="checkout")
        await waiting(shop, run_id)
        with pytest.raises(sb.AccessDeniedError, match="'intruder' may not signal workflow"):
            await intruder.workflows.signal(run_id, "go")
        with pytest.raises(sb.AccessDeniedError, match="'intruder' may not cancel workflow"):
            await intruder.workflows.cancel(run_id)
        await shop.workflows.signal(run_id, "go")
        assert await shop.workflows.await_result(run_id) == {"ok": None, "done": "approved"}

        refused = await intruder.workflows.start("approve", service="checkout")
        with pytest.raises(sb.AccessDeniedError, match="'intruder' may not start workflow approve"):
            await intruder.workflows.await_result(refused)
        status = await intruder.workflows.query(refused)
        assert status.state == "refused"
        assert status.steps == status.outputs == {}  # refused before any step
    # Each refusal once on the run's service, once on the refused bridge (as a refused call).
    assert sorted(violations) == sorted(
        [
            ("server", "checkout", f"workflow approve: {action}", "intruder")
            for action in ("signal", "cancel", "start")
        ]
        + [
            ("client", "intruder", f"workflow approve: {action}", "intruder")
            for action in ("signal", "cancel", "start")
        ]
    )


async def test_a_caller_must_prove_its_name_under_tls(
    checkout: Make, stranger_dir: Path, violations: Seen
) -> None:
    async with checkout("shop", stranger_dir) as forged, checkout("shop", None) as plain:
        run_id = await forged.workflows.start("approve", service="checkout")
        with pytest.raises(sb.AccessDeniedError, match="not issued by our CA"):
            await forged.workflows.await_result(run_id)
        run_id = await plain.workflows.start("approve", service="checkout")
        with pytest.raises(sb.AccessDeniedError, match="the caller presented no certificate"):
            await plain.workflows.await_result(run_id)
    # The server names the service each caller claimed; it proved none.
    assert [v for v in violations if v[0] == "server"] == [
        ("server", "checkout", "workflow approve: start", "shop")
    ] * 2


def test_the_policy_overrides_a_graphs_callers_and_must_name_its_workflows() -> None:
    policy = sb.AccessPolicy(workflows={"approve": ["ops"]})
    assert policy.allowed_workflow("approve", ("shop",)) == frozenset({"ops"})
    assert policy.allowed_workflow("other", ("shop",)) == frozenset({"shop"})
    assert policy.allowed_workflow("other", None) is None  # default "allow"
    assert sb.AccessPolicy(default="deny").allowed_workflow("other", None) == frozenset()
    with pytest.raises(sb.ConfigError, match=r"workflows=\{'approve': 'ops'\}"):
        sb.AccessPolicy(workflows={"approve": "ops"})


async def test_a_policy_naming_a_workflow_the_bridge_does_not_run_is_a_config_error(
    tmp_path: Path,
) -> None:
    bridge = sb.Bridge(
        "checkout",
        access=sb.AccessPolicy(workflows={"aprove": ["shop"]}),
        workflows=WorkflowsConfig(address="127.0.0.1:1"),  # never reached: refused before
    )
    bridge.workflows.register(APPROVE)
    with pytest.raises(sb.ConfigError, match=r"names 'aprove', which this bridge does not run"):
        await bridge.start()
    await bridge.stop()
