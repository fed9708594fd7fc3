"""Shared by frontend and render: files shipped with the generator, the jinja2 templates and the bundled protos.

In the wheel they live inside the package (``generator/templates``, ``generator/protos``, mapped
in pyproject.toml); in a source checkout or editable install, at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    for candidate in (_HERE / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sb-gen is installed without its {name}/ directory")


def templates_dir() -> Path:
    return _shipped("templates")


def bundled_protos_dir() -> Path:
    """Holds ``servicebridge/options.proto`` (custom options) and the sample protocols."""
    return _shipped("protos")
