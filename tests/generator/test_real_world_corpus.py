"""Real-world protos (googleapis, gRPC health) plus the test-owned corpus: every generated module
imports and ``mypy --strict`` reports no error over the whole output.

The protos live in the repository (tests/generator/real_world/README.md says where they come from),
so the test does not depend on what an installed wheel ships.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from generator.pipeline import build_package
from generator.write import write_atomically
from tests.generator.conftest import CORPUS, generated_modules
from tests.generator.tools import RUFF_RULES, run_mypy, run_ruff

REAL_WORLD = Path(__file__).parent / "real_world"
PACKAGE = "real_world_gen"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real_world") / PACKAGE
    write_atomically(out, build_package([REAL_WORLD, CORPUS], []))
    return out


def test_the_corpus_covers_what_it_is_for(package: Path) -> None:
    """Guards the corpus against shrinking: each shape the issue named is present."""
    files = {p.relative_to(package).as_posix() for p in package.rglob("*")}
    # Deep packages with services, a streaming service, dotted and hyphenated names,
    # import public.
    assert {
        "google/cloud/location/locations_sb.py",
        "google/cloud/location/locations_gateway.py",  # google.api.http bindings
        "google/longrunning/operations_proto_sb.py",
        "google/rpc/context/attribute_context_pb2.pyi",
        "grpc_health/v1/health_sb.py",
        "layout/k8s/min_sb.py",
        "layout/my_api/pod_status_sb.py",
        "layout/public/reexport_pb2.py",
    } <= files
    # One message module per input file, and one for the bundled options the corpus imports.
    inputs = [*REAL_WORLD.rglob("*.proto"), *CORPUS.rglob("*.proto")]
    assert "servicebridge/options_pb2.py" in files
    assert len([f for f in files if f.endswith("_pb2.py")]) == len(inputs) + 1


def test_every_module_imports_in_a_fresh_interpreter(package: Path) -> None:
    # A fresh process: the descriptors must load beside the ones runtime_lib itself imports
    # (grpc_health, google.rpc), as they do in a user's service, and not leak into this session.
    modules = generated_modules(package)
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *modules],
        cwd=package.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]


def test_mypy_strict_reports_no_error_over_the_output(package: Path) -> None:
    result = run_mypy(package, cwd=package.parent)  # one run over the whole output
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "Success: no issues found" in result.stdout


def test_ruff_passes_on_our_modules(package: Path) -> None:
    ours = sorted(str(p) for suffix in ("_sb", "_gateway") for p in package.rglob(f"*{suffix}.py"))
    check = run_ruff("check", "--isolated", "--select", RUFF_RULES, *ours, cwd=package)
    assert check.returncode == 0, check.stdout
    fmt = run_ruff("format", "--isolated", "--check", *ours, cwd=package)
    assert fmt.returncode == 0, fmt.stdout
