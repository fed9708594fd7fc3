"""Shared by every stage: errors the generator reports to the user: always a place (file:line:col or JSON path) and a fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Diagnostic:
    """One problem in the input. ``where`` is ``line:col`` or a JSON path (``$.input.X.amount``)."""

    file: str
    message: str
    where: str = ""
    hint: str = ""

    def __str__(self) -> str:
        place = f"{self.file}:{self.where}" if self.where and self.where[0].isdigit() else self.file
        text = (
            f"{place}: {self.where}: {self.message}"
            if self.where.startswith("$")
            else f"{place}: {self.message}"
        )
        return f"{text} ({self.hint})" if self.hint else text


class GeneratorError(Exception):
    """A user mistake: the CLI prints every diagnostic and exits 1 without a traceback."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        self.diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def display_path(path: str | Path) -> str:
    """A path relative to the working directory when it is under it: shorter, and clickable."""
    p = Path(path)
    if p.is_absolute():
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            return str(p)
    return str(p)
