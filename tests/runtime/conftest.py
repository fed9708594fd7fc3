from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from echo_service import build, load


@pytest.fixture(scope="session")
def echo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("echo"))


@pytest.fixture(scope="session")
def echo(echo_root: Path) -> ModuleType:
    """The sb-gen generated ``echo_sb`` module (client, handler base, service table)."""
    return load(echo_root)
