"""Fixtures for generator tests: the test-owned corpus generated once into a temporary package."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.pipeline import build_package
from generator.write import write_atomically

CORPUS = Path(__file__).parent / "corpus"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def corpus_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The corpus generated as package ``corpus_gen`` on sys.path; yields the package dir."""
    root = tmp_path_factory.mktemp("corpus")
    out = root / "corpus_gen"
    write_atomically(out, build_package([CORPUS], []))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield out
    sys.path.remove(str(root))


def generated_modules(package: Path) -> list[str]:
    """Dotted names of every generated .py module under ``package``."""
    return sorted(
        ".".join((package.name, *p.relative_to(package).with_suffix("").parts))
        for p in package.rglob("*.py")
        if p.name != "__init__.py"
    )
