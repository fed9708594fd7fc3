"""codegen: sb-gen (pb2 + pyi + our layer, one process) vs protoc alone vs protoc + mypy-protobuf."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from bench.corpus import write_corpus
from bench.report import Report, Row, verdict
from bench.runner import Options, alternate
from bench.stats import ratio
from bench.tools import protoc, timed, tool

SBGEN = "sb-gen (pb2 + pyi + _sb.py)"
PYI = "protoc --python_out --pyi_out"
MYPY = "protoc --python_out + mypy-protobuf"


def _subjects(
    root: Path, names: list[str], scratch: Path
) -> dict[str, Callable[[], tuple[float, float]]]:
    counter = iter(range(1_000_000))

    def fresh() -> Path:
        out = scratch / f"out{next(counter)}"
        out.mkdir()
        return out

    def sbgen() -> tuple[float, float]:
        out = scratch / f"sb{next(counter)}"  # absent: sb-gen creates it
        return timed([tool("sb-gen"), "-I", str(root), str(root), "-o", str(out)])

    def pyi() -> tuple[float, float]:
        out = fresh()
        return timed(protoc(["-I", str(root), f"--python_out={out}", f"--pyi_out={out}", *names]))

    def mypy() -> tuple[float, float]:
        out = fresh()
        plugin = f"--plugin=protoc-gen-mypy={tool('protoc-gen-mypy')}"
        args = ["-I", str(root), f"--python_out={out}", f"--mypy_out=quiet:{out}", plugin]
        return timed(protoc([*args, *names]))

    return {SBGEN: sbgen, PYI: pyi, MYPY: mypy}


def main(options: Options) -> Report:
    files = 100 if options.quick else 120
    report = Report.of(
        "codegen", "Code generation: sb-gen vs protoc vs protoc + mypy-protobuf", options
    )
    with tempfile.TemporaryDirectory(prefix="bench-codegen-") as tmp:
        root = Path(tmp) / "corpus"
        names = write_corpus(root, files)
        scratch = Path(tmp) / "out"
        scratch.mkdir()
        subjects = _subjects(root, names, scratch)

        def measure(run: Callable[[], tuple[float, float]]) -> Callable[[], Mapping[str, float]]:
            def once() -> Mapping[str, float]:
                wall, cpu = run()
                for child in scratch.iterdir():
                    shutil.rmtree(child)
                return {"seconds": wall, "cpu": cpu}

            return once

        for run in subjects.values():  # warm the page cache and the interpreters' bytecode
            measure(run)()
        results = alternate({k: measure(v) for k, v in subjects.items()}, options.runs)
    peer = results[MYPY]["seconds"]
    case = f"{files} .proto files, wall time"
    for name in (SBGEN, PYI, MYPY):
        s = results[name]["seconds"]
        r = ratio(s, peer)
        target = f"≤ 1.00x protoc + mypy-protobuf: {verdict(r <= 1.0)}" if name == SBGEN else ""
        report.add(Row(case, name, s, "s", f"{r:.2f}x protoc + mypy-protobuf", target))
    cpu_peer = results[MYPY]["cpu"]
    for name in (SBGEN, PYI, MYPY):
        c = results[name]["cpu"]
        r = ratio(c, cpu_peer)
        label = f"{r:.2f}x protoc + mypy-protobuf"
        report.add(Row(f"{files} .proto files, CPU time (user + sys)", name, c, "s", label))
    report.notes.append(
        f"Corpus: {files} synthetic files (bench/corpus.py) in 5 directories, each with an enum, "
        "11 messages (8 scalars, repeated, map, a nested message with a nested enum, optional, "
        "Timestamp, messages imported from two earlier files) and a 10-method service "
        "(unary and server streaming). Each subject is one command run as a user runs it; wall "
        "time is the target's measure, CPU time counts every process the command starts "
        "(protoc, plugins, sb-gen's forked worker)."
    )
    return report
