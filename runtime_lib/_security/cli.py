"""``sb-certs``: the command line of :mod:`runtime_lib._security.certs` and the NATS config."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import click

from runtime_lib._errors import ConfigError, ServiceBridgeError
from runtime_lib._security import certs, nats_auth
from runtime_lib._security.provision import DEFAULT_REGISTRY_TTL, provision
from runtime_lib._security.tls import TlsConfig

_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("certs"),
    show_default=True,
    help="Directory holding ca.crt, ca.key and the services' certificates.",
)


def _ttl(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.timedelta | None:
    if value is None:
        return None
    try:
        return certs.parse_ttl(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _fail(exc: ConfigError) -> click.ClickException:
    return click.ClickException(exc.message)


@click.group()
def main() -> None:
    """Certificates for sb-gen services: a CA per trust domain, a short-lived leaf per service."""


@main.command()
@click.option("--trust-domain", required=True, help="e.g. example.org")
@_DIR
@click.option("--ttl", callback=_ttl, help="CA lifetime (default 5 years), e.g. 3650d.")
def init(trust_domain: str, directory: Path, ttl: dt.timedelta | None) -> None:
    """Create the CA (ca.key, mode 0600, and ca.crt)."""
    try:
        cert = certs.init_ca(directory, trust_domain, ttl=ttl or certs.DEFAULT_CA_TTL)
    except ConfigError as exc:
        raise _fail(exc) from None
    click.echo(
        f"CA for {trust_domain} in {directory}, valid until {cert.not_valid_after_utc:%Y-%m-%d}"
    )


@main.command()
@click.argument("service")
@_DIR
@click.option("--ttl", callback=_ttl, help="Lifetime (default 24h), e.g. 90m, 24h, 7d.")
def issue(service: str, directory: Path, ttl: dt.timedelta | None) -> None:
    """Issue SERVICE a new key and certificate."""
    try:
        cert = certs.issue(directory, service, ttl=ttl or certs.DEFAULT_TTL)
    except ConfigError as exc:
        raise _fail(exc) from None
    click.echo(
        f"{certs.CertDir(directory).cert(service)} valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )


@main.command()
@click.argument("service")
@_DIR
@click.option("--ttl", callback=_ttl, help="Lifetime of a new one (default: the old one's).")
def renew(service: str, directory: Path, ttl: dt.timedelta | None) -> None:
    """Re-issue SERVICE's certificate when less than a third of its lifetime is left."""
    try:
        cert = certs.renew(directory, service, ttl=ttl)
    except ConfigError as exc:
        raise _fail(exc) from None
    path = certs.CertDir(directory).cert(service)
    if cert is None:
        click.echo(f"{path} is still good: nothing to do")
    else:
        click.echo(f"{path} renewed, valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def show(file: Path) -> None:
    """Print what a certificate file holds: identities, issuer, validity."""
    try:
        click.echo(certs.describe(file))
    except ConfigError as exc:
        raise _fail(exc) from None


@main.command("nats-config")
@click.argument("services", type=click.Path(dir_okay=False, path_type=Path))
@_DIR
@click.option(
    "--broker", default=nats_auth.BROKER, show_default=True, help="The broker's service name."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here, not stdout.",
)
def nats_config(services: Path, directory: Path, broker: str, output: Path | None) -> None:
    """nats-server TLS and authorization for the services in SERVICES (a JSON file).

    Each service's certificate is its NATS user; it may publish only its declared events, pull
    only its own consumers and write only its own registry keys. Issue the broker's certificate
    (sb-certs issue nats) and the provisioning identity's (sb-certs issue sb-admin) first.
    """
    try:
        text = nats_auth.render(
            nats_auth.server_config(
                nats_auth.load_services(services), TlsConfig.from_dir(directory, broker)
            )
        )
    except ConfigError as exc:
        raise _fail(exc) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"{output}: nats-server TLS and authorization for {services}")


@main.command("provision")
@click.argument("url")
@_DIR
@click.option(
    "--registry-ttl",
    type=float,
    default=DEFAULT_REGISTRY_TTL,
    show_default=True,
    help="Seconds a registry entry lives (the services' NatsKvRegistry(ttl=...)).",
)
def provision_command(url: str, directory: Path, registry_ttl: float) -> None:
    """Create the streams and buckets on the broker at URL (tls://host:port) as sb-admin.

    Services may only look them up under the generated permissions; run this once before they
    start (it leaves what exists as it is). Uses the certificate sb-certs issue sb-admin wrote.
    """
    try:
        asyncio.run(
            provision(
                url, TlsConfig.from_dir(directory, nats_auth.ADMIN), registry_ttl=registry_ttl
            )
        )
    except ServiceBridgeError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"provisioned {url}")


if __name__ == "__main__":
    main()
