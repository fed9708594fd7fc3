"""Stage model: the import block of a generated module, sorted the way ruff's isort rules expect."""

from __future__ import annotations

import sys

_STDLIB = sys.stdlib_module_names
_LINE_LENGTH = 88  # ruff format's default, so the output is stable under most configs


class ImportSet:
    """Collects ``import x as y`` / ``from x import y as z`` and renders isort-ordered groups."""

    def __init__(self) -> None:
        self._items: set[tuple[str, str, str]] = set()

    def add(self, source: str, name: str, alias: str = "") -> None:
        """``source=""`` means a plain ``import name``; ``alias`` equal to ``name`` is dropped."""
        self._items.add((source, name, "" if alias == name else alias))

    def groups(self) -> tuple[tuple[str, ...], ...]:
        """Non-empty sections in order: standard library, third party, relative."""
        sections: tuple[list[tuple[str, str, str]], ...] = ([], [], [])
        for item in self._items:
            top = (item[0] or item[1]).split(".")[0]
            sections[2 if item[0].startswith(".") else 0 if top in _STDLIB else 1].append(item)
        return tuple(tuple(_lines(s)) for s in sections if s)


def _lines(items: list[tuple[str, str, str]]) -> list[str]:
    plain = sorted((i for i in items if not i[0]), key=lambda i: i[1])
    froms: dict[str, list[tuple[str, str]]] = {}
    for source, name, alias in items:
        if source:
            froms.setdefault(source, []).append((name, alias))
    out = [f"import {n} as {a}" if a else f"import {n}" for _, n, a in plain]
    # Relative imports: furthest first ("..x" before "."), then by module.
    for source in sorted(froms, key=lambda s: (-(len(s) - len(s.lstrip("."))), s.lstrip("."))):
        entries = sorted(froms[source], key=_name_key)
        # isort keeps each "as" import on its own line (combine-as-imports is off).
        plain_names = [n for n, a in entries if not a]
        if plain_names:
            out.append(_from_line(source, plain_names))
        out += [_from_line(source, [f"{n} as {a}"]) for n, a in entries if a]
    return out


def _from_line(source: str, names: list[str]) -> str:
    line = f"from {source} import {', '.join(names)}"
    if len(line) <= _LINE_LENGTH:
        return line
    body = "".join(f"    {n},\n" for n in names)
    return f"from {source} import (\n{body})"


def _name_key(entry: tuple[str, str]) -> tuple[int, str]:
    # isort's force-sort-within-sections is off and order-by-type is on: CONSTANTS, Classes, rest.
    name = entry[0]
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name
