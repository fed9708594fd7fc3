"""A registry or event bus pointed at a TLS-only broker it cannot use stops at once with a
ConfigError naming the broker and the fix (nats-py alone would retry the first connection
forever: waiting never makes a missing certificate appear)."""

from __future__ import annotations

from pathlib import Path

import pytest

import runtime_lib as sb
from runtime_lib._nats_server import NatsServer
from tests.events.eventlib import OrderPlaced

from .conftest import tls_url

# A bound for a hang (the failure before the fix), never a measured duration.
pytestmark = pytest.mark.timeout(120)


async def _ignore(event: OrderPlaced, ctx: sb.EventContext) -> None:
    del event, ctx


async def test_a_registry_without_a_certificate_fails_fast(broker: NatsServer) -> None:
    url = tls_url(broker)
    registry = sb.NatsKvRegistry(url)
    with pytest.raises(sb.ConfigError) as caught:
        await registry.start()
    assert url in caught.value.message
    assert "tls=TlsConfig.from_dir" in caught.value.message
    await registry.stop()


async def test_an_event_bus_without_a_certificate_fails_fast(
    broker: NatsServer, tmp_path: Path
) -> None:
    url = f"nats://{broker.host}:{broker.port}"  # plain URL: nats-py upgrades, and is refused
    bridge = sb.Bridge("payment", events=url, data_dir=tmp_path)
    bridge.subscribe(OrderPlaced, _ignore)
    with pytest.raises(sb.ConfigError) as caught:
        await bridge.start()
    assert url in caught.value.message
    assert "sb-certs issue <service>" in caught.value.message
    await bridge.stop()


async def test_a_certificate_the_broker_has_no_user_for_fails_fast(
    broker: NatsServer, cert_dir: Path, tmp_path: Path
) -> None:
    url = tls_url(broker)
    intruder = sb.Bridge(
        "intruder", tls=sb.TlsConfig.from_dir(cert_dir, "intruder"), events=url, data_dir=tmp_path
    )
    intruder.subscribe(OrderPlaced, _ignore)
    with pytest.raises(sb.ConfigError) as caught:
        await intruder.start()
    assert url in caught.value.message
    assert "no user for its certificate" in caught.value.message
    assert "sb-certs nats-config" in caught.value.message
    await intruder.stop()
