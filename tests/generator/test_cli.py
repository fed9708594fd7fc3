"""sb-gen as a user runs it: real subprocesses, real files, exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generator.conftest import CORPUS, REPO
from tests.generator.tools import sb_gen

GOOD = 'syntax = "proto3";\npackage demo;\nmessage Note { string text = 1; }\nservice Pinger { rpc Ping(Note) returns (Note); }\n'


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "demo.proto").write_text(GOOD)
    return tmp_path


def test_generates_a_package_from_another_directory(work: Path) -> None:
    result = sb_gen("demo.proto", "-o", "gen", cwd=work)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sb-gen: wrote 5 files to gen/ (1 service, 0 events)\n"
    assert sorted(snapshot(work / "gen")) == [
        "__init__.py",
        "demo_pb2.py",
        "demo_pb2.pyi",
        "demo_sb.py",
        "py.typed",
    ]
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gen.demo_sb import PingerClient; print(PingerClient.SERVICE.full_name)",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "demo.Pinger"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('syntax = "proto3";\nmessage A {\n  strin x = 1\n}\n', 'bad.proto:4:1: Expected ";".'),
        (
            'syntax = "proto3";\nmessage A {\n  Missing x = 1;\n}\n',
            'bad.proto:3:3: "Missing" is not defined.',
        ),
        (
            'syntax = "proto3";\nimport "nope/missing.proto";\n',
            "nope/missing.proto: File not found. (add the directory that holds it with -I/--proto-path)",
        ),
    ],
    ids=["syntax", "unknown-type", "missing-import"],
)
def test_bad_proto_names_file_line_col_and_writes_nothing(
    work: Path, source: str, expected: str
) -> None:
    assert sb_gen("demo.proto", "-o", "gen", cwd=work).returncode == 0
    before = snapshot(work / "gen")
    (work / "bad.proto").write_text(source)
    result = sb_gen("demo.proto", "bad.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(work / "gen") == before  # the previous output is untouched


def test_out_that_is_a_file(work: Path) -> None:
    (work / "gen").write_text("not a directory")
    result = sb_gen("demo.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert "error: gen: output is a file, not a directory (pass a directory to -o)" in result.stderr


def test_out_with_foreign_files_is_not_clobbered(work: Path) -> None:
    (work / "gen").mkdir()
    (work / "gen" / "mine.py").write_text("keep me")
    result = sb_gen("demo.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert "not empty and was not written by sb-gen" in result.stderr
    assert (work / "gen" / "mine.py").read_text() == "keep me"


def test_two_inputs_mapping_to_one_output(work: Path) -> None:
    for d in ("a", "b"):
        (work / d).mkdir()
        (work / d / "x.proto").write_text(GOOD.replace("demo", f"demo_{d}"))
    result = sb_gen("a/x.proto", "b/x.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert "error: b/x.proto: maps to the same output as a/x.proto (x.proto)" in result.stderr
    assert not (work / "gen").exists()


def test_success_summary_counts_services_and_events_and_quiet_silences_it(
    tmp_path: Path,
) -> None:
    result = sb_gen(CORPUS / "events", "-I", CORPUS, "-o", "gen/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sum(1 for p in (tmp_path / "gen").rglob("*") if p.is_file())
    # events/orders.proto: one service, two events; the files include its imports' modules.
    assert result.stdout == f"sb-gen: wrote {written} files to gen/ (1 service, 2 events)\n"
    check = sb_gen(CORPUS / "events", "-I", CORPUS, "-o", "gen", "--check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout == "sb-gen: gen/ is up to date (1 service, 2 events)\n"
    for flag in ("-q", "--quiet"):
        quiet = sb_gen(CORPUS / "events", "-I", CORPUS, "-o", "gen", flag, cwd=tmp_path)
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout == ""
        assert quiet.stderr == ""


def test_quiet_keeps_errors(work: Path) -> None:
    result = sb_gen("nothere.proto", "-o", "gen", "-q", cwd=work)
    assert result.returncode == 1
    assert "error: nothere.proto: no such file or directory" in result.stderr


def test_missing_input_suggests_a_near_name(work: Path) -> None:
    (work / "protos" / "billing").mkdir(parents=True)
    (work / "protos" / "billing" / "payment.proto").write_text(GOOD)
    result = sb_gen("demp.proto", "protso/billing/paymnet.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert (
        "error: demp.proto: no such file or directory (did you mean demo.proto?)" in result.stderr
    )
    assert (
        "error: protso/billing/paymnet.proto: no such file or directory "
        "(did you mean protos/billing/payment.proto?)" in result.stderr
    )
    # A proto path gets the same help.
    result = sb_gen("demo.proto", "-I", "proto", "-o", "gen", cwd=work)
    assert "error: proto: proto path is not a directory (did you mean protos?)" in result.stderr
    assert not (work / "gen").exists()


def test_two_files_protoc_lays_out_as_one_module(work: Path) -> None:
    (work / "k8s").mkdir()
    (work / "k8s" / "min.proto").write_text(GOOD.replace("demo", "k8s_a"))
    (work / "k8s.min.proto").write_text(GOOD.replace("demo", "k8s_b"))
    result = sb_gen("k8s.min.proto", "k8s/min.proto", "-I", ".", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert (
        "error: k8s/min.proto: is generated as k8s/min_pb2.py, as k8s.min.proto is "
        "(rename one: protoc makes a dot in a file name a directory, and - a _)"
    ) in result.stderr
    assert not (work / "gen").exists()


def test_missing_input_and_wrong_kind(work: Path) -> None:
    (work / "notes.txt").write_text("hi")
    result = sb_gen("nothere.proto", "notes.txt", "-o", "gen", cwd=work)
    assert result.returncode == 1
    # Nothing near: no suggestion.
    assert "error: nothere.proto: no such file or directory\n" in result.stderr
    assert "error: notes.txt: not a .proto or .schema.json file" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(work: Path) -> None:
    (work / "demo.proto").chmod(0)
    result = sb_gen("demo.proto", "-o", "gen", cwd=work)
    assert result.returncode == 1
    assert "demo.proto: cannot read the file" in result.stderr


def test_check_reports_drift_and_writes_nothing(work: Path) -> None:
    assert sb_gen("demo.proto", "-o", "gen", cwd=work).returncode == 0
    assert sb_gen("demo.proto", "-o", "gen", "--check", cwd=work).returncode == 0
    (work / "demo.proto").write_text(
        GOOD.replace("string text = 1;", "string text = 1; int32 n = 2;")
    )
    before = snapshot(work / "gen")
    result = sb_gen("demo.proto", "-o", "gen", "--check", cwd=work)
    assert result.returncode == 1
    assert "would change: gen/demo_pb2.py" in result.stdout
    assert "would change: gen/demo_pb2.pyi" in result.stdout
    assert snapshot(work / "gen") == before


def test_regenerating_removes_stale_modules(work: Path) -> None:
    (work / "other.proto").write_text('syntax = "proto3";\nmessage Other {}\n')
    assert sb_gen("demo.proto", "other.proto", "-o", "gen", cwd=work).returncode == 0
    assert (work / "gen/other_pb2.py").exists()
    assert sb_gen("demo.proto", "-o", "gen", cwd=work).returncode == 0
    assert not (work / "gen/other_pb2.py").exists()


def test_directory_input_and_proto_path(tmp_path: Path) -> None:
    result = sb_gen(CORPUS / "shop", "-I", CORPUS, "-o", tmp_path / "gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Named relative to -I, imports pulled in as dependencies.
    assert (tmp_path / "gen/shop/v1/catalog_sb.py").exists()
    assert (tmp_path / "gen/common/money_pb2.py").exists()


def test_version_and_help(work: Path) -> None:
    version = sb_gen("--version", cwd=work)
    assert version.returncode == 0 and version.stdout.startswith("sb-gen, version ")
    helptext = sb_gen("--help", cwd=work)
    assert helptext.returncode == 0
    for needle in ("--proto-path", "--check", "x_sb.py", "sb-gen protos/payment.proto -o gen/"):
        assert needle in helptext.stdout


def test_repo_sample_protocols_generate(tmp_path: Path) -> None:
    result = sb_gen(REPO / "protos", "-o", tmp_path / "gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_servicebridge_schema_files_generate_side_by_side(tmp_path: Path) -> None:
    reference = REPO / "tests" / "reference" / "schema-testdata"
    result = sb_gen(reference, "-o", tmp_path / "schema_gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from schema_gen import payment_sb, payment_nested_sb\n"
            "print(payment_sb.PAYMENT_SERVICE.methods[0].contract_hash)\n"
            "print(payment_nested_sb.PaymentNestedClient.SERVICE.methods[0].path)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == [
        "v2:09c7bb827d60bb1e33e49cca735ed47759bc2e08969acf55a52bfa66dc842acb",
        "/payment_nested.PaymentNested/Call",
    ]


def test_print_contracts_lists_methods_and_events(tmp_path: Path) -> None:
    result = sb_gen(CORPUS / "events", "-I", CORPUS, "--print-contracts", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    subjects = [line.split("  ")[0] for line in lines]
    assert subjects == ["event order.cancelled", "event order.placed", "events.v1.Orders/Place"]
    assert all(line.split("  ")[1].startswith("v2:") for line in lines)
    assert not (tmp_path / "gen").exists()


def test_out_is_required_to_generate(work: Path) -> None:
    result = sb_gen("demo.proto", cwd=work)
    assert result.returncode == 2
    assert "missing option '-o' / '--out'" in result.stderr
