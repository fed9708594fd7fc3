"""Entry point ``sb-gen``: turn .proto and .schema.json files into a typed, importable Python
package (runs the pipeline, then the write stage)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import click

from generator.errors import GeneratorError
from generator.pipeline import Package, contracts, generate_package
from generator.write import changed_files, check_out_dir, write_atomically


def _version() -> str:
    try:
        return version("sb-gen")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    help="Output package directory (created; replaced as a whole on success).",
)
@click.option(
    "-I",
    "--proto-path",
    "proto_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Directory to search for imports (repeatable). The inputs' own roots, the bundled "
    "servicebridge/options.proto and the well-known types are always searched.",
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
@click.version_option(_version(), "-V", "--version", prog_name="sb-gen")
def main(
    inputs: tuple[Path, ...],
    out: Path | None,
    proto_paths: tuple[Path, ...],
    check: bool,
    print_contracts: bool,
    quiet: bool,
) -> None:
    """Generate typed Python from INPUTS (.proto or .schema.json files, or directories of them).

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
