"""Results tables (markdown) and the description of the machine they were measured on."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from bench.stats import Summary

if TYPE_CHECKING:
    from bench.runner import Options

RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")
"""Where reports are written; BENCH_RESULTS_DIR overrides it (the smoke tests use a temp dir)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of one subject: ``case`` is what was measured, ``subject`` who was."""

    case: str
    subject: str
    summary: Summary
    unit: str
    ratio: str = ""
    target: str = ""


@dataclass
class Report:
    name: str
    title: str
    command: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, title: str, options: Options) -> Report:
        """A report whose command line reproduces this run's options."""
        command = f"python -m bench {name} --runs {options.runs}"
        return cls(name, title, command + (" --quick" if options.quick else ""))

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def table(self) -> str:
        lines = [
            "| case | subject | median | min-max | runs | ratio | target |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for r in self.rows:
            s = r.summary
            lines.append(
                f"| {r.case} | {r.subject} | {fmt(s.median)} {r.unit} | "
                f"{fmt(s.low)}-{fmt(s.high)} | {s.runs} | {r.ratio} | {r.target} |"
            )
        return "\n".join(lines)

    def markdown(self) -> str:
        parts = [f"# {self.title}", "", f"Command: `{self.command}`", "", machine(), ""]
        parts += [self.table(), ""]
        if self.notes:
            parts += [*self.notes, ""]
        return "\n".join(parts)

    def write(self, directory: Path | None = None) -> Path:
        """Print the table and write the whole report to ``<directory>/<name>.md``."""
        text = self.markdown()
        print(text, flush=True)
        directory = directory or RESULTS_DIR
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.md"
        path.write_text(text, encoding="utf-8")
        return path


def fmt(value: float) -> str:
    """Three significant figures, thousands separated: ``12,300``, ``1.23``, ``0.0123``."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> str:
    """One markdown paragraph: cpu, cores, OS, Python and library versions, date."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(
        f"{d} {_version(d)}" for d in ("grpcio", "protobuf", "grpcio-tools", "mypy-protobuf")
    )
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}; Python {sys.version.split()[0]}; {versions}. Date: {now}."
    )
