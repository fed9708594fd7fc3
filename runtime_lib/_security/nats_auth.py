"""NATS authorization for sb-gen services: who may publish, pull and write the registry.

The broker authenticates every connection by its TLS client certificate (``verify_and_map``): the
certificate's SPIFFE URI SAN is the NATS user, so a service has one identity, one key and one
renewal for gRPC and NATS alike. (nkeys would add a second secret per service to issue, store
and rotate, and prove nothing the certificate does not.)

The permissions are derived from what runtime_lib sends on the wire:

- events: ``sb.ev.<name>.<service>`` (:func:`runtime_lib._events.names.subject_for`) into stream
  ``SB_EVENTS``; a service publishes only the events it declares, and only under its own name
  (the last token), which is how subscribers know the publisher.
- consumers: one durable per subscription, named by
  :meth:`runtime_lib._events.subscriber.Subscription.durable_name`, created with
  ``$JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>`` (the filter pinned), pulled with
  ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`` and acknowledged on
  ``$JS.ACK.<stream>.<durable>.>``.
- dead letters: ``sb.dlq.<group>.<name>`` into ``SB_DLQ``; a service writes only its own group's.
- dedupe marks: keys ``<durable>.<event id>`` of KV bucket ``sb_dedupe``; a service writes only
  its own durables' keys (reads go through a stream message get, which NATS cannot narrow).
- jobs: keys ``<service>.…`` of KV buckets ``sb_jobs`` and ``sb_job_leases``
  (:mod:`runtime_lib._jobs.store`); a service writes, reads (a direct get, whose subject names the
  key) and watches (a named consumer whose filter is in its create subject,
  :meth:`runtime_lib._jobs.kv.NatsBucket.watch`) only its own keys.
- registry: keys ``<service>.<instance>`` of KV bucket ``sb_services``; every service reads the
  whole bucket (discovery), writes and deletes only its own keys.
- replies (JetStream API answers, pulled events, KV watches) come to the service's own inbox
  prefix ``_INBOX.<service>`` (:func:`inbox_prefix`), so no service can read another's.

Nobody may purge, delete or update a stream; streams and buckets are created by the provisioning
identity (:data:`ADMIN`), so a service needs only to look them up.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime_lib._errors import ConfigError, ServiceBridgeError
from runtime_lib._events.names import compile_pattern, service_token, subject_for, validate_name
from runtime_lib._events.nats_bus import NatsConfig
from runtime_lib._events.subscriber import Subscription
from runtime_lib._jobs.store import JOB_BUCKETS
from runtime_lib._jobs.store import key_token as jobs_key_token
from runtime_lib._security.identity import check_service_name, dns_name, spiffe_id
from runtime_lib._security.tls import TlsConfig, TlsFiles

ADMIN = "sb-admin"
BROKER = "nats"
REGISTRY_BUCKET = "sb_services"
_BUS_DEFAULTS = NatsConfig()

# Operations no service and no operator identity of ours may ever send.
DENIED = (
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.UPDATE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.RESTORE.>",
    "$JS.API.ACCOUNT.PURGE.>",
)


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A subscription with a payload filter or a name (they change its durable consumer)."""

    pattern: str
    filter: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass(frozen=True, slots=True)
class ServicePermissions:
    """What one service does on the bus: the events it publishes and the patterns it reads."""

    service: str
    publishes: Sequence[str] = ()
    subscribes: Sequence[str | Subscribed] = ()


@dataclass(frozen=True, slots=True)
class Names:
    """The stream and bucket names in use (the runtime's defaults unless configured otherwise)."""

    stream: str = _BUS_DEFAULTS.stream
    dlq_stream: str = _BUS_DEFAULTS.dlq_stream
    dedupe_bucket: str = _BUS_DEFAULTS.dedupe_bucket
    registry_bucket: str = REGISTRY_BUCKET


def inbox_prefix(service: str) -> str:
    """The inbox prefix a service's NATS connection must use (``nats.connect(inbox_prefix=...)``)."""
    return f"_INBOX.{service}"


def consumers(service: str, subscribes: Sequence[str | Subscribed]) -> list[tuple[str, str]]:
    """(durable name, filter subject) of the consumers runtime_lib creates for these
    subscriptions, in order."""
    group = service_token(service)
    out = []
    for item in subscribes:
        sub = Subscribed(item) if isinstance(item, str) else item
        pattern = compile_pattern(sub.pattern)
        durable = Subscription.durable_name(group, pattern, dict(sub.filter), sub.name)
        out.append((durable, pattern.nats_filter))
    return out


def durable_names(service: str, subscribes: Sequence[str | Subscribed]) -> list[str]:
    """The durable consumers runtime_lib creates for these subscriptions, in order."""
    return [durable for durable, _ in consumers(service, subscribes)]


def service_permissions(spec: ServicePermissions, names: Names = Names()) -> dict[str, Any]:
    """The nats-server ``permissions`` block of one service."""
    service = _service(spec.service)
    group = service_token(service)
    registry = f"KV_{names.registry_bucket}"
    dedupe = f"KV_{names.dedupe_bucket}"
    publish = [
        # Its declared events under its own name: the broker vouches for the publisher token.
        *(subject_for(validate_name(event), service) for event in spec.publishes),
        f"sb.dlq.{group}.>",
        # Look up (never create) the streams and buckets.
        *(
            f"$JS.API.STREAM.INFO.{stream}"
            for stream in (names.stream, names.dlq_stream, registry, dedupe)
        ),
        # The registry: its own keys, and a watch (an ordered consumer) of the whole bucket.
        f"$KV.{names.registry_bucket}.{service}.>",
        f"$JS.API.CONSUMER.CREATE.{registry}",
        f"$JS.API.CONSUMER.CREATE.{registry}.>",
        f"$JS.API.CONSUMER.INFO.{registry}.>",
        f"$JS.FC.{registry}.>",
        # Dedupe lookups: the runtime's bucket has no direct get, so a read is a stream message
        # get, which NATS cannot narrow to a key (the marks hold only ids, never payloads).
        f"$JS.API.STREAM.MSG.GET.{dedupe}",
    ]
    for bucket in JOB_BUCKETS:
        own = f"$KV.{bucket}.{jobs_key_token(service)}.>"
        publish += [
            f"$JS.API.STREAM.INFO.KV_{bucket}",
            own,
            f"$JS.API.DIRECT.GET.KV_{bucket}.{own}",
            # Any consumer name, but the filter (part of the subject) is its own keys.
            f"$JS.API.CONSUMER.CREATE.KV_{bucket}.*.{own}",
        ]
    for durable, filter_subject in consumers(service, spec.subscribes):
        publish += [
            # The filter is part of the subject: re-creating the durable with a wider filter,
            # to read events it does not subscribe to, is not permitted.
            f"$JS.API.CONSUMER.CREATE.{names.stream}.{durable}.{filter_subject}",
            f"$JS.API.CONSUMER.MSG.NEXT.{names.stream}.{durable}",
            f"$JS.ACK.{names.stream}.{durable}.>",
            f"$KV.{names.dedupe_bucket}.{durable}.>",
        ]
    return {
        "publish": {"allow": publish, "deny": list(DENIED)},
        "subscribe": {"allow": [f"{inbox_prefix(service)}.>"]},
    }


def admin_permissions(names: Names = Names()) -> dict[str, Any]:
    """The provisioning identity: creates the streams and buckets, reads dead letters."""
    streams = (
        names.stream,
        names.dlq_stream,
        f"KV_{names.registry_bucket}",
        f"KV_{names.dedupe_bucket}",
        *(f"KV_{bucket}" for bucket in JOB_BUCKETS),
    )
    publish = [f"$JS.API.STREAM.{op}.{s}" for s in streams for op in ("CREATE", "INFO")]
    publish.append(f"$JS.API.STREAM.MSG.GET.{names.dlq_stream}")  # NatsBus.dead_letters
    return {
        "publish": {"allow": publish, "deny": list(DENIED)},
        "subscribe": {"allow": [f"{inbox_prefix(ADMIN)}.>"]},
    }


def authorization(
    services: Sequence[ServicePermissions], trust_domain: str, names: Names = Names()
) -> dict[str, Any]:
    """The ``authorization`` block: one user per service certificate, plus :data:`ADMIN`."""
    seen: set[str] = set()
    users = [{"user": spiffe_id(trust_domain, ADMIN), "permissions": admin_permissions(names)}]
    for spec in services:
        if spec.service in seen or spec.service == ADMIN:
            raise ConfigError(f"service {spec.service!r} is listed twice; merge its permissions")
        seen.add(spec.service)
        users.append(
            {
                "user": spiffe_id(trust_domain, spec.service),
                "permissions": service_permissions(spec, names),
            }
        )
    return {"users": users}


def server_config(
    services: Sequence[ServicePermissions], broker: TlsConfig, names: Names = Names()
) -> dict[str, Any]:
    """A nats-server config (TLS required, clients mapped by certificate) as a dict."""
    material = broker.load()
    return {
        "tls": {
            # Absolute: nats-server resolves relative paths against its own working directory.
            "cert_file": str(broker.cert.resolve()),
            "key_file": str(broker.key.resolve()),
            "ca_file": str(broker.ca.resolve()),
            "verify_and_map": True,
        },
        "authorization": authorization(services, material.trust_domain, names),
    }


def render(config: Mapping[str, Any]) -> str:
    """nats-server config text: top-level ``key: value`` lines whose values are JSON (a subset of
    its format), so the text works as a whole file and as an ``include`` in an existing one."""
    lines = ["# Generated by sb-certs nats-config: regenerate rather than edit."]
    lines += [f"{json.dumps(key)}: {json.dumps(value, indent=2)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def load_services(path: Path) -> list[ServicePermissions]:
    """Read ``{"payment": {"publishes": [...], "subscribes": [...]}, ...}`` from a JSON file.

    A subscription is a pattern, or ``{"pattern": ..., "filter": {...}, "name": ...}`` when it
    has a payload filter or a name (both change its durable consumer).
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: not found; write the services' events there (docs/security.md)"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f'{path}: expected an object {{"<service>": {{"publishes": [...], ...}}}}'
        )
    out = []
    for service, spec in data.items():
        if not isinstance(spec, dict) or set(spec) - {"publishes", "subscribes"}:
            raise ConfigError(
                f"{path}: service {service!r}: expected only 'publishes' and 'subscribes' lists"
            )
        subscribes: list[str | Subscribed] = []
        for item in spec.get("subscribes", []):
            if isinstance(item, str):
                subscribes.append(item)
            elif isinstance(item, dict) and isinstance(item.get("pattern"), str):
                subscribes.append(
                    Subscribed(
                        item["pattern"], dict(item.get("filter") or {}), str(item.get("name", ""))
                    )
                )
            else:
                raise ConfigError(
                    f"{path}: service {service!r}: a subscription is a pattern or "
                    '{"pattern": ..., "filter": {...}, "name": ...}'
                )
        permissions = ServicePermissions(service, list(spec.get("publishes", [])), subscribes)
        try:
            service_permissions(permissions)  # every name and pattern checked here, with the file
        except ServiceBridgeError as exc:
            raise ConfigError(f"{path}: service {service!r}: {exc.message}") from None
        out.append(permissions)
    return out


def connect_options(files: TlsFiles, *, broker: str = BROKER) -> dict[str, Any]:
    """``nats.connect(url, **connect_options(files))`` for a service holding ``files``.

    The broker's certificate must name ``<broker>.<trust domain>``; the URL is ``tls://...``.
    """
    files.refresh()
    material = files.current
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=material.ca_pem.decode())
    context.load_cert_chain(files.config.cert, files.config.key)
    return {
        "tls": context,
        "tls_hostname": dns_name(material.trust_domain, broker),
        "inbox_prefix": inbox_prefix(material.service),
    }


def _service(name: str) -> str:
    try:
        return check_service_name(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
