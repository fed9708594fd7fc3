"""NATS permissions on a real nats-server: TLS with certificates mapped to users, nats-py clients.

The clients do what runtime_lib does on the wire (the same subjects, consumer configs and KV
operations; the runtime's own NatsConsumer pulls), through connections opened with
:func:`connect_options`, the options a bridge with ``tls=`` connects with.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
from click.testing import CliRunner
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StreamConfig,
)

from runtime_lib._events.names import compile_pattern, subject_for
from runtime_lib._events.pull_consumer import NatsConsumer, NatsDelivery
from runtime_lib._nats_server import NatsServer, find_nats_server
from runtime_lib._security.cli import main
from runtime_lib._security.nats_auth import ADMIN, connect_options, durable_names
from runtime_lib._security.tls import TlsConfig, TlsFiles

from .conftest import SERVICES, Endpoint
from .nats_clients import connect, connect_fails

ORDERS_DURABLE = durable_names("orders", ["payment.#"])[0]
PAYMENT_DURABLE = durable_names("payment", ["order.placed"])[0]
WAIT = 30.0  # an upper bound on waiting for an event, never a measured duration


async def test_without_a_certificate_nothing_connects(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    # No connection means no publish, subscribe, registry write or purge.
    anonymous = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    # Refused in the handshake: the alert or the closed connection, whichever the client reads first.
    await connect_fails(provisioned, tls=anonymous, tls_hostname="nats.example.org")


async def test_certificates_without_a_user_or_from_another_ca_do_notconnect(
    provisioned: Endpoint, cert_dir: Path, stranger_dir: Path
) -> None:
    intruder = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    intruder.load_cert_chain(cert_dir / "intruder.crt", cert_dir / "intruder.key")
    error = await connect_fails(provisioned, tls=intruder, tls_hostname="nats.example.org")
    assert "authorization violation" in error
    stranger = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    stranger.load_cert_chain(stranger_dir / "payment.crt", stranger_dir / "payment.key")
    await connect_fails(provisioned, tls=stranger, tls_hostname="nats.example.org")


async def test_a_service_does_what_it_declared(provisioned: Endpoint, cert_dir: Path) -> None:
    async with (
        connect(provisioned, cert_dir, "payment") as payment,
        connect(provisioned, cert_dir, "orders") as orders,
    ):
        pattern = compile_pattern("payment.#")
        # orders creates its consumer the way NatsBus.consumer does, and pulls with NatsConsumer.
        await orders.nc.jetstream().add_consumer(
            "SB_EVENTS",
            ConsumerConfig(
                name=ORDERS_DURABLE,
                durable_name=ORDERS_DURABLE,
                filter_subject=pattern.nats_filter,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
            ),
        )
        consumer = NatsConsumer(orders.nc, "SB_EVENTS", ORDERS_DURABLE)
        await consumer.open()

        js = payment.nc.jetstream()
        ack = await js.publish(
            subject_for("payment.done", "payment"),
            b"{}",
            headers={"sb-id": "e1", "sb-name": "payment.done"},
        )
        assert ack.stream == "SB_EVENTS"

        deliveries = await consumer.fetch(1, WAIT)
        assert len(deliveries) == 1
        delivery = deliveries[0]
        assert isinstance(delivery, NatsDelivery)
        assert delivery.envelope.name == "payment.done"
        assert delivery.envelope.publisher == "payment"
        await delivery.msg.ack_sync(timeout=WAIT)  # answered: the ack was allowed and applied
        info = await orders.nc.jetstream().stream_info("SB_EVENTS")
        assert info.state.messages == 0  # interest retention: acked by its only consumer

        # Its dead letters, its dedupe marks, its registry entries.
        await orders.nc.jetstream().publish("sb.dlq.orders.payment.done", b"{}")
        dedupe = await orders.nc.jetstream().key_value("sb_dedupe")
        await dedupe.put(f"{ORDERS_DURABLE}.e1", b"1")
        assert (await dedupe.get(f"{ORDERS_DURABLE}.e1")).value == b"1"
        registry = await payment.nc.jetstream().key_value("sb_services")
        await registry.put("payment.instance1", b'{"address": "127.0.0.1:1"}')
        other = await orders.nc.jetstream().key_value("sb_services")
        await other.put("orders.instance1", b'{"address": "127.0.0.1:2"}')
        # Discovery reads the whole bucket.
        watcher: Any = await registry.watchall()
        seen = set()
        async for entry in watcher:
            if entry is None:
                break
            seen.add(entry.key)
        await watcher.stop()
        assert seen == {"payment.instance1", "orders.instance1"}
        await registry.delete("payment.instance1")
        await consumer.close()
        assert payment.errors == [] and orders.errors == []


async def test_a_service_cannot_act_beyond_what_it_declared(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    async with (
        connect(provisioned, cert_dir, "payment") as payment,
        connect(provisioned, cert_dir, "orders") as orders,
    ):
        js = payment.nc.jetstream()
        registry = await js.key_value("sb_services")
        dedupe = await js.key_value("sb_dedupe")

        # An event it did not declare.
        undeclared = subject_for("order.placed", "payment")
        await payment.refused(js.publish(undeclared, b"{}"), undeclared)
        # Its own event under another service's name.
        impostor = subject_for("payment.done", "orders")
        await payment.refused(js.publish(impostor, b"{}"), impostor)
        # Another service's registry entry and dedupe marks.
        await payment.refused(
            registry.put("orders.instance1", b"{}"), "$KV.sb_services.orders.instance1"
        )
        mark = f"$KV.sb_dedupe.{ORDERS_DURABLE}.e1"
        await payment.refused(dedupe.put(f"{ORDERS_DURABLE}.e1", b"1"), mark)
        # Another group's consumer: neither create nor pull it.
        wide = ConsumerConfig(
            name=ORDERS_DURABLE, durable_name=ORDERS_DURABLE, filter_subject="sb.ev.>"
        )
        create = f"$JS.API.CONSUMER.CREATE.SB_EVENTS.{ORDERS_DURABLE}.sb.ev.>"
        await payment.refused(js.add_consumer("SB_EVENTS", wide), create)
        # Nor its own with a wider filter than it subscribes to (the filter is in the subject).
        await orders.refused(orders.nc.jetstream().add_consumer("SB_EVENTS", wide), create)
        stolen = NatsConsumer(payment.nc, "SB_EVENTS", ORDERS_DURABLE)
        await stolen.open()
        await payment.refused(
            stolen.fetch(1, WAIT), f"$JS.API.CONSUMER.MSG.NEXT.SB_EVENTS.{ORDERS_DURABLE}"
        )
        # Another group's dead letters.
        await payment.refused(js.publish("sb.dlq.orders.x", b"{}"), "sb.dlq.orders.x")
        # Purge, delete or rewrite streams.
        await payment.refused(js.purge_stream("SB_EVENTS"), "$JS.API.STREAM.PURGE.SB_EVENTS")
        await payment.refused(js.delete_stream("SB_EVENTS"), "$JS.API.STREAM.DELETE.SB_EVENTS")
        await payment.refused(
            js.update_stream(StreamConfig(name="SB_EVENTS", subjects=["sb.ev.>"], max_age=1)),
            "$JS.API.STREAM.UPDATE.SB_EVENTS",
        )
        await payment.refused(
            js.delete_stream("KV_sb_services"), "$JS.API.STREAM.DELETE.KV_sb_services"
        )
        # Read events or replies off the wire.
        await payment.nc.subscribe("sb.ev.>")
        await payment.denied("sb.ev.>", "subscription")
        await payment.nc.subscribe("_INBOX.orders.>")
        await payment.denied("_INBOX.orders.>", "subscription")


async def test_a_rollup_on_its_own_key_cannot_empty_a_bucket(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    async with (
        connect(provisioned, cert_dir, "payment") as payment,
        connect(provisioned, cert_dir, "orders") as orders,
    ):
        theirs = await orders.nc.jetstream().key_value("sb_services")
        await theirs.put("orders.instance1", b'{"address": "127.0.0.1:2"}')
        js = payment.nc.jetstream()
        # Permitted subject (its own key), but the bucket refuses rollups.
        with pytest.raises(nats.js.errors.ServerError, match="rollup not permitted"):
            await js.publish(
                "$KV.sb_services.payment.instance1", b"", headers={"Nats-Rollup": "all"}
            )
        info = await orders.nc.jetstream().stream_info(
            "KV_sb_services", subjects_filter="$KV.sb_services.>"
        )
        assert set(info.state.subjects or {}) == {"$KV.sb_services.orders.instance1"}


async def test_even_the_provisioning_identity_cannot_purge(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    async with connect(provisioned, cert_dir, ADMIN) as admin:
        js = admin.nc.jetstream()
        await admin.refused(js.purge_stream("SB_EVENTS"), "$JS.API.STREAM.PURGE.SB_EVENTS")
        await admin.refused(js.delete_stream("SB_DLQ"), "$JS.API.STREAM.DELETE.SB_DLQ")


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ("[]", 'services.json: expected an object {"<service>"'),
        ('{"x": {"publishes": ["Bad Name"]}}', "services.json: service 'x': invalid event name"),
        ('{"x": {"subscribes": ["a.b#"]}}', "services.json: service 'x': invalid pattern 'a.b#'"),
        ('{"x": {"publish": []}}', "services.json: service 'x': expected only 'publishes'"),
        ('{"Bad_x": {}}', "services.json: service 'Bad_x': service name 'Bad_x'"),
        ("{", "services.json: not valid JSON"),
    ],
)
def test_nats_config_names_the_file_and_the_mistake(
    cert_dir: Path, tmp_path: Path, services: str, message: str
) -> None:
    path = tmp_path / "services.json"
    path.write_text(services)
    result = CliRunner().invoke(main, ["nats-config", str(path), "--dir", str(cert_dir)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_nats_config_prints_a_config_nats_server_accepts(cert_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text(json.dumps(SERVICES))
    result = CliRunner().invoke(main, ["nats-config", str(path), "--dir", str(cert_dir)])
    assert result.exit_code == 0, result.output
    # As an include in an operator's own config: nats-server's own check (-t) must pass.
    (tmp_path / "sb-auth.conf").write_text(result.output)
    (tmp_path / "main.conf").write_text("listen: 127.0.0.1:4222\ninclude ./sb-auth.conf\n")
    check = subprocess.run(
        [find_nats_server(), "-c", str(tmp_path / "main.conf"), "-t"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr + check.stdout
    assert '"spiffe://example.org/service/payment"' in result.output


async def test_a_service_refuses_a_broker_that_is_not_the_broker(
    cert_dir: Path, tmp_path: Path
) -> None:
    # A broker holding a valid certificate of the CA, but orders', not nats'.
    services = tmp_path / "services.json"
    services.write_text(json.dumps(SERVICES))
    config = tmp_path / "impostor.conf"
    result = CliRunner().invoke(
        main,
        [
            "nats-config",
            str(services),
            "--dir",
            str(cert_dir),
            "--broker",
            "orders",
            "-o",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    impostor = NatsServer(store_dir=tmp_path / "impostor", config_file=config).start()
    try:
        options = connect_options(TlsFiles(TlsConfig.from_dir(cert_dir, "payment")))
        error = await connect_fails(impostor, **options)
        assert "hostname mismatch" in error
    finally:
        impostor.stop()
