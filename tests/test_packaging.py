"""The wheel (and the strict editable install the README uses) ships exactly the packages listed
in pyproject.toml: a package missing from the list imports in the repo and nowhere else."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_of_the_tree_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"]) - set(setuptools.get("package-dir", {}))
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("generator", "runtime_lib")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages do not exist"
