"""``bridge.jobs`` on a secured nats-server, external (``sb-certs provision``) and embedded: a
service with ``tls=`` runs its jobs in the buckets the provisioning identity created, and its
certificate reaches only its own keys there."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
from nats.js.api import ConsumerConfig, StreamConfig

import runtime_lib as sb
from runtime_lib._jobs import JobContext, JobStore
from runtime_lib._jobs.store import LEASE_BUCKET, STATE_BUCKET, OneShot
from runtime_lib._nats_server import NatsServer

from .conftest import Endpoint, tls_url
from .nats_clients import WAIT, connect, connect_fails

pytestmark = pytest.mark.timeout(120)


async def test_a_service_with_tls_runs_an_interval_job_and_a_one_shot(
    provisioned: Endpoint, cert_dir: Path, tmp_path: Path
) -> None:
    bridge = sb.Bridge(
        "payment",
        tls=sb.TlsConfig.from_dir(cert_dir, "payment"),
        events=tls_url(provisioned),
        data_dir=tmp_path / "payment",
    )
    ticks: list[str] = []
    reminders: list[Any] = []
    ticked, reminded = asyncio.Event(), asyncio.Event()

    @bridge.job("tick", interval="1s")
    async def tick(ctx: JobContext) -> None:
        ticks.append(ctx.idempotency_key)
        if len(ticks) >= 2:  # a second slot: the first one's lease and watermark were written
            ticked.set()

    @bridge.job("remind")
    async def remind(ctx: JobContext) -> None:
        reminders.append(ctx.payload)
        reminded.set()

    async with bridge:
        once_id = await bridge.jobs.schedule("remind", at="1s", payload={"order": "o-1"})
        await asyncio.wait_for(reminded.wait(), WAIT)
        await asyncio.wait_for(ticked.wait(), WAIT)
        infos = {info.name: info for info in await bridge.jobs.list()}
    assert reminders == [{"order": "o-1"}]
    assert len(set(ticks)) == len(ticks)  # every slot ran once
    result = infos["remind"].last_result
    assert result is not None and result.ok and result.slot == f"once-{once_id}"

    # Everything it wrote is under its own prefix, in the buckets provisioning made.
    async with connect(provisioned, cert_dir, "payment") as payment:
        js = payment.nc.jetstream()
        for bucket in (STATE_BUCKET, LEASE_BUCKET):
            info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.>")
            subjects = set(info.state.subjects or {})
            assert subjects, bucket
            assert all(s.startswith(f"$KV.{bucket}.payment.") for s in subjects), subjects
            assert info.config.allow_rollup_hdrs is False
        assert payment.errors == []


async def test_a_service_cannot_read_or_overwrite_another_services_jobs(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    async with (
        connect(provisioned, cert_dir, "payment") as payment,
        connect(provisioned, cert_dir, "orders") as orders,
    ):
        # orders' state, written and watched by the runtime's own store.
        theirs = await JobStore.on_nats("orders", orders.nc.jetstream())
        secret = OneShot("remind", "r1", 1, {"card": "4111"}, "id")
        await theirs.add_once(secret)
        watch = await theirs.watch_once()
        changes = aiter(watch)
        assert theirs.one_shot(await anext(changes)) == ("remind", "r1", secret)
        await watch.close()
        lease_key = theirs.lease_key("tick", "1")
        lease_bucket = await orders.nc.jetstream().key_value(LEASE_BUCKET)
        await lease_bucket.create(lease_key, b"{}")

        # payment's own store works under its certificate.
        mine = await JobStore.on_nats("payment", payment.nc.jetstream())
        await mine.set_paused("tick", True)
        assert await mine.paused("tick")

        js = payment.nc.jetstream()
        once = "orders.once.remind.r1"
        for bucket, key in ((STATE_BUCKET, once), (LEASE_BUCKET, lease_key)):
            kv = await js.key_value(bucket)
            # Overwrite, delete or read (a direct get names the key) another service's keys.
            await payment.refused(kv.put(key, b"{}"), f"$KV.{bucket}.{key}")
            await payment.refused(kv.delete(key), f"$KV.{bucket}.{key}")
            await payment.refused(kv.get(key), f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}")
            # A stream message get would read any key: not permitted either.
            await payment.refused(
                js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.{key}"),
                f"$JS.API.STREAM.MSG.GET.KV_{bucket}",
            )
            # Watch them: nats-py's watch (filter in the payload) and a named consumer on them.
            await payment.refused(kv.watch("orders.>"), f"$JS.API.CONSUMER.CREATE.KV_{bucket}")
            peek = ConsumerConfig(
                name="peek",
                filter_subject=f"$KV.{bucket}.orders.>",
                deliver_subject=payment.nc.new_inbox(),
            )
            await payment.refused(
                js.add_consumer(f"KV_{bucket}", peek),
                f"$JS.API.CONSUMER.CREATE.KV_{bucket}.peek.$KV.{bucket}.orders.>",
            )
            # Empty or rewrite the bucket.
            stream = f"KV_{bucket}"
            await payment.refused(js.purge_stream(stream), f"$JS.API.STREAM.PURGE.{stream}")
            await payment.refused(js.delete_stream(stream), f"$JS.API.STREAM.DELETE.{stream}")
            await payment.refused(
                js.update_stream(StreamConfig(name=stream, subjects=[f"$KV.{bucket}.>"])),
                f"$JS.API.STREAM.UPDATE.{stream}",
            )
            # A rollup on its own key would empty the bucket: the bucket refuses rollups.
            with pytest.raises(nats.js.errors.ServerError, match="rollup not permitted"):
                await js.publish(f"$KV.{bucket}.payment.x", b"", headers={"Nats-Rollup": "all"})

        # orders' state is untouched.
        assert await theirs.get_once("remind", "r1") == secret
        assert (await lease_bucket.get(lease_key)).value == b"{}"
        assert orders.errors == []


async def test_without_a_certificate_no_job_state_is_reachable(
    provisioned: Endpoint, cert_dir: Path
) -> None:
    anonymous = ssl.create_default_context(cafile=cert_dir / "ca.crt")
    await connect_fails(provisioned, tls=anonymous, tls_hostname="nats.example.org")


async def test_jobs_on_an_unprovisioned_secured_broker_name_the_fix(
    broker: NatsServer, cert_dir: Path
) -> None:
    async with connect(broker, cert_dir, "payment") as payment:
        with pytest.raises(sb.ConfigError, match="sb-certs provision") as caught:
            await JobStore.on_nats("payment", payment.nc.jetstream())
        assert "sb_jobs" in caught.value.message
        await payment.denied("$JS.API.STREAM.CREATE.KV_sb_jobs")
