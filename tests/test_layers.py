"""Dependencies point one way: the error hierarchy, events and telemetry import no grpc (they
reach gRPC's statuses through the rpc package), and no docstring cites a file the repo lacks."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import runtime_lib
from runtime_lib import _errors, _events, _telemetry

PACKAGE = Path(runtime_lib.__file__).parent


def _sources(module: ModuleType) -> list[Path]:
    path = Path(str(module.__file__))
    return sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", [_errors, _events, _telemetry], ids=lambda m: m.__name__)
def test_imports_no_grpc(module: ModuleType) -> None:
    offenders = [p.name for p in _sources(module) if "grpc" in _imported(p)]
    assert offenders == []


def test_no_source_cites_files_missing_from_the_repo() -> None:
    cited = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in ("DESIGN.md", "NOTES.md")
        if name in path.read_text()
    ]
    assert cited == []


def test_every_package_is_listed_for_setuptools() -> None:
    """The strict editable install and the wheel only ship the packages pyproject lists."""
    repo = PACKAGE.parent
    listed = set(
        tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(repo).parts)
        for init in (repo / "runtime_lib").rglob("__init__.py")
    }
    assert on_disk - listed == set()


def test_architecture_table_matches_the_tree() -> None:
    """docs/architecture.md names every folder and runtime_lib module, and only existing ones."""
    repo = PACKAGE.parent
    text = (repo / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^\| `([\w/.]+)` \|", text, flags=re.MULTILINE))
    assert [path for path in sorted(listed) if not (repo / path).exists()] == []
    expected = {f"runtime_lib/{p.name}" + ("/" if p.is_dir() else "") for p in _entries(PACKAGE)}
    expected |= {f"generator/{p.name}/" for p in _entries(repo / "generator") if p.is_dir()}
    expected |= {"generator/", "templates/", "protos/", "tests/", "bench/", "examples/", "docs/"}
    assert expected - listed == set()


def _entries(folder: Path) -> list[Path]:
    return [
        p for p in folder.iterdir() if p.name != "__pycache__" and (p.is_dir() or p.suffix == ".py")
    ]
