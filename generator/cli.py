"""Entry point ``sb-gen``: turn .proto and .schema.json files into a typed, importable Python
package (runs the pipeline, then the write stage)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from generator.errors import GeneratorError
from generator.pipeline import Package, catalog, contracts, generate_package, handler_stub
from generator.render.catalog_page import MARKER, render_catalog
from generator.write import changed_files, check_out_dir, write_atomically


def _version() -> str:
    try:
        return version("sb-gen")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


_CONTEXT = {"help_option_names": ["-h", "--help"]}
_GROUP_OPTIONS = ("-V", "--version")


class _GenerateByDefault(click.Group):
    """``sb-gen INPUTS -o OUT`` stays the main job: arguments that do not start with a command
    name go to ``generate``, ``--help`` included (its help lists the other commands)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in _GROUP_OPTIONS):
            args = ["generate", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_GenerateByDefault, context_settings=_CONTEXT)
@click.version_option(_version(), "-V", "--version", prog_name="sb-gen")
def main() -> None:
    """sb-gen: typed Python from .proto and .schema.json (sb-gen generate --help)."""


def _inputs(command: Callable[..., None]) -> Callable[..., None]:
    """INPUTS and -I, shared by every command."""
    command = click.option(
        "-I",
        "--proto-path",
        "proto_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Directory to search for imports (repeatable). The inputs' own roots, the bundled "
        "servicebridge/options.proto and the well-known types are always searched.",
    )(command)
    return click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))(
        command
    )


@main.command(
    context_settings=_CONTEXT,
    epilog="\b\nOther commands (sb-gen COMMAND --help):\n"
    "  sb-gen scaffold  a handler module to fill in, kept up to date with the protocol\n"
    "  sb-gen docs      a static HTML catalog of services, methods and events",
)
@_inputs
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="Output package directory (created; replaced as a whole on success).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and list the files that would change (a CI drift guard).",
)
@click.option(
    "--print-contracts",
    is_flag=True,
    help="Write nothing; print each method's and event's contract hash (diff them in CI).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def generate(
    inputs: tuple[Path, ...],
    out: Path | None,
    proto_paths: tuple[Path, ...],
    check: bool,
    print_contracts: bool,
    quiet: bool,
) -> None:
    """Generate typed Python from INPUTS (.proto or .schema.json files, or directories of them).

    'generate' may be left out: 'sb-gen INPUTS -o OUT' is the same command.

    \b
    For each input x.proto (or x.schema.json) the package OUT gets x_pb2.py and x_pb2.pyi
    (message classes), and x_sb.py with a typed client, a handler base class and the service
    table per service, and a dataclass per event. Imports inside OUT are relative: place it
    anywhere in your tree.

    \b
    Examples:
      sb-gen protos/payment.proto -o gen/
      sb-gen protos/ -I third_party/ -o gen/
      sb-gen protos/ -o gen/ --check
      sb-gen protos/ --print-contracts
    """
    if print_contracts:
        _run(lambda: _print_contracts(list(inputs), list(proto_paths)))
        return
    if out is None:
        raise click.UsageError("missing option '-o' / '--out' (or pass --print-contracts)")
    _run(lambda: _generate(list(inputs), out, list(proto_paths), check, quiet))


def _generate(
    inputs: list[Path], out: Path, proto_paths: list[Path], check: bool, quiet: bool
) -> None:
    check_out_dir(out)
    package = generate_package(inputs, proto_paths)
    if check:
        changed = changed_files(out, package.files)
        for path in changed:
            click.echo(f"would change: {out / path}")
        if changed:
            click.echo(f"{len(changed)} file(s) out of date; run sb-gen without --check", err=True)
            sys.exit(1)
        if not quiet:
            click.echo(f"sb-gen: {out}/ is up to date ({_declared(package)})")
        return
    write_atomically(out, package.files)
    if not quiet:
        files = _count(len(package.files), "file")
        click.echo(f"sb-gen: wrote {files} to {out}/ ({_declared(package)})")


def _declared(package: Package) -> str:
    return f"{_count(package.services, 'service')}, {_count(package.events, 'event')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _print_contracts(inputs: list[Path], proto_paths: list[Path]) -> None:
    for subject, contract_hash in contracts(inputs, proto_paths):
        click.echo(f"{subject}  {contract_hash}")


def _run(job: Callable[[], None]) -> None:
    """Run a CLI job; a user mistake prints its diagnostics and exits 1, never a traceback."""
    try:
        job()
    except GeneratorError as exc:
        for diagnostic in exc.diagnostics:
            click.echo(f"error: {diagnostic}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: {exc.filename}: {exc.strerror or exc}", err=True)
        sys.exit(1)


@main.command(context_settings=_CONTEXT)
@_inputs
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The handler module to write, or to add missing methods to if it exists.",
)
@click.option(
    "--service",
    help="The service to scaffold (full or short name); needed when INPUTS declare several.",
)
@click.option(
    "--package",
    default="gen",
    show_default=True,
    help="Dotted import path of the sb-gen output package the module imports from.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and list the methods missing from OUT (a CI guard).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and stale methods.")
def scaffold(
    inputs: tuple[Path, ...],
    proto_paths: tuple[Path, ...],
    out: Path,
    service: str | None,
    package: str,
    check: bool,
    quiet: bool,
) -> None:
    """Write a handler module for a service of INPUTS: a subclass of the generated handler base
    with one typed method per rpc, each raising NotImplementedError (callers get UNIMPLEMENTED).

    Run again after the protocol gains rpcs: the new methods are added to the class and nothing
    else in OUT changes (comments, helpers and formatting stay byte for byte). Methods whose rpc
    was renamed or removed are reported, never deleted.

    \b
    Examples:
      sb-gen scaffold protos/payment.proto -o app/payment_handler.py
      sb-gen scaffold examples/shop/shop.proto --service shop.Orders -o orders.py --package shop.gen
      sb-gen scaffold protos/payment.proto -o app/payment_handler.py --check
    """
    _run(lambda: _scaffold(list(inputs), list(proto_paths), out, service, package, check, quiet))


def _scaffold(
    inputs: list[Path],
    proto_paths: list[Path],
    out: Path,
    service: str | None,
    package: str,
    check: bool,
    quiet: bool,
) -> None:
    if not package.replace(".", "_").isidentifier():
        raise click.BadParameter(f"{package!r} is not a dotted module path", param_hint="--package")
    # libcst loads only here, so generating code pays nothing for the scaffold (decision 0006).
    from generator.write_handler import plan_scaffold, write_file_atomically

    plan = plan_scaffold(out, handler_stub(inputs, proto_paths, service, package))
    for name in plan.stale:
        click.echo(
            f"{out}: kept {name}(): no rpc of that name any more (renamed or removed?); "
            "delete it when you no longer need it",
            err=True,
        )
    if check:
        for name in plan.added:
            click.echo(f"missing: {out}: {name}()")
        if plan.added:
            click.echo(
                f"{_count(len(plan.added), 'method')} missing; run sb-gen scaffold", err=True
            )
            sys.exit(1)
        if not quiet:
            click.echo(f"sb-gen: {out} has every method")
        return
    if plan.source is not None:
        write_file_atomically(out, plan.source)
    if quiet:
        return
    if plan.created:
        click.echo(f"sb-gen: wrote {out} ({_count(len(plan.added), 'method')} to fill in)")
    elif plan.added:
        click.echo(f"sb-gen: added {', '.join(n + '()' for n in plan.added)} to {out}")
    else:
        click.echo(f"sb-gen: {out} has every method")


@main.command(context_settings=_CONTEXT)
@_inputs
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The site directory (created; replaced as a whole on success).",
)
@click.option("--title", help="The page title (default: the proto packages of INPUTS).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def docs(
    inputs: tuple[Path, ...],
    proto_paths: tuple[Path, ...],
    out: Path,
    title: str | None,
    quiet: bool,
) -> None:
    """Write a static HTML catalog of INPUTS to OUT/index.html: each service with its methods
    (request and reply fields with types and comments, deprecation, contract hashes), each
    event with its payload, and a diagram. One self-contained file: no server, no network.

    \b
    Examples:
      sb-gen docs protos/payment.proto -o site/
      sb-gen docs protos/ examples/shop/shop.proto -o site/ --title "Our services"
    """
    _run(lambda: _docs(list(inputs), list(proto_paths), out, title, quiet))


def _docs(
    inputs: list[Path], proto_paths: list[Path], out: Path, title: str | None, quiet: bool
) -> None:
    check_out_dir(out, ("index.html", MARKER))
    found = catalog(inputs, proto_paths)
    page = render_catalog(found, title or ", ".join(found.packages) or "Services")
    write_atomically(out, {"index.html": page.encode()})
    if not quiet:
        services, events = (
            _count(len(found.services), "service"),
            _count(len(found.events), "event"),
        )
        click.echo(f"sb-gen: wrote {out / 'index.html'} ({services}, {events})")
