"""Creating a secured broker's streams and buckets, as the provisioning identity (``sb-admin``).

Under :mod:`runtime_lib._security.nats_auth`'s permissions a service may only look streams and
buckets up, so they are created once, before the services start, by :func:`provision` (or
``sb-certs provision``). It is idempotent: what exists is left as it is.

The KV buckets (registry, dedupe marks, the jobs state and leases) are created as the streams nats-py would make, with one
difference: ``allow_rollup_hdrs`` is off. NATS permissions cannot see headers, and a
``Nats-Rollup: all`` message on a service's own key would otherwise empty the whole bucket;
runtime_lib never rolls up (deletes are plain delete markers).
"""

from __future__ import annotations

import nats
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from runtime_lib._errors import ConnectionFailedError
from runtime_lib._events.nats_config import NatsConfig
from runtime_lib._events.streams import ensure_stream, ensure_streams
from runtime_lib._jobs.store import LEASE_BUCKET, LEASE_KEEP_S, STATE_BUCKET
from runtime_lib._security.nats_auth import REGISTRY_BUCKET, connect_options
from runtime_lib._security.tls import TlsConfig, TlsFiles

# nats-py's cap on a KV bucket's duplicate window.
_KV_DUPLICATE_WINDOW = 120.0
DEFAULT_REGISTRY_TTL = 10.0  # NatsKvRegistry's default ttl


def bucket_stream(bucket: str, ttl: float | None, *, direct: bool) -> StreamConfig:
    """The stream behind KV bucket ``bucket`` (``KV_<bucket>``), rollups refused; ``ttl`` None:
    values kept until deleted."""
    return StreamConfig(
        name=f"KV_{bucket}",
        subjects=[f"$KV.{bucket}.>"],
        allow_rollup_hdrs=False,
        allow_direct=direct,
        deny_delete=True,
        discard=DiscardPolicy.NEW,
        duplicate_window=min(_KV_DUPLICATE_WINDOW, ttl or _KV_DUPLICATE_WINDOW),
        max_age=ttl or 0,
        max_msgs_per_subject=1,
        storage=StorageType.FILE,
    )


async def provision_streams(
    js: JetStreamContext,
    events: NatsConfig | None = None,
    *,
    registry_bucket: str = REGISTRY_BUCKET,
    registry_ttl: float = DEFAULT_REGISTRY_TTL,
) -> None:
    """Create the events and dead-letter streams and the buckets where missing."""
    events = events or NatsConfig()
    await ensure_streams(js, events)
    # Dedupe reads are stream message gets (what the permissions allow), never direct gets.
    await ensure_stream(js, bucket_stream(events.dedupe_bucket, events.dedupe_ttl, direct=False))
    await ensure_stream(js, bucket_stream(registry_bucket, registry_ttl, direct=True))
    # bridge.jobs: reads are direct gets, whose subject names the key the permissions check.
    await ensure_stream(js, bucket_stream(STATE_BUCKET, None, direct=True))
    await ensure_stream(js, bucket_stream(LEASE_BUCKET, LEASE_KEEP_S, direct=True))


async def provision(
    url: str,
    admin: TlsConfig,
    events: NatsConfig | None = None,
    *,
    registry_bucket: str = REGISTRY_BUCKET,
    registry_ttl: float = DEFAULT_REGISTRY_TTL,
) -> None:
    """Connect to the broker at ``url`` as ``admin`` (``sb-admin``'s files) and provision it."""
    try:
        nc = await nats.connect(url, allow_reconnect=False, **connect_options(TlsFiles(admin)))
    except Exception as exc:  # nats-py raises several unrelated types for a refused connection
        raise ConnectionFailedError(
            f"cannot connect to NATS at {url} as {admin.cert}: {exc}"
        ) from exc
    try:
        await provision_streams(
            nc.jetstream(), events, registry_bucket=registry_bucket, registry_ttl=registry_ttl
        )
    except nats.js.errors.Error as exc:
        raise ConnectionFailedError(f"provisioning {url} failed: {exc}") from exc
    finally:
        await nc.close()
