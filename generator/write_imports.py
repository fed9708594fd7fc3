"""Stage write, for ``sb-gen scaffold``: add the imports new handler methods need to a user's
module, where ruff's isort rules expect them (future, stdlib, third party, the output package
as first party), moving no other line.

A name from a module the file already imports from joins that statement, as isort would merge
it; anything else is a new statement in its section, in order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import libcst as cst
from libcst.helpers import get_full_name_for_node

_Import = tuple[str, str, str]  # (from, name, alias); from "" is ``import name [as alias]``
_Body = list[cst.SimpleStatementLine | cst.BaseCompoundStatement]


def add_imports(module: cst.Module, needed: Iterable[_Import], first_party: str) -> cst.Module:
    """``module`` with each of ``needed`` not bound yet; ``first_party`` is the output package."""
    body = list(module.body)
    for source, name, alias in sorted(set(needed)):
        if (alias or name.split(".")[0]) in _bound(body):
            continue
        if source and not alias and _join(body, source, name):
            continue
        _insert(body, (source, name, alias), first_party)
    return module.with_changes(body=body)


def _imports(body: _Body) -> list[tuple[int, cst.Import | cst.ImportFrom]]:
    found = []
    for i, statement in enumerate(body):
        if isinstance(statement, cst.SimpleStatementLine):
            found += [(i, s) for s in statement.body if isinstance(s, cst.Import | cst.ImportFrom)]
    return found


def _bound(body: _Body) -> set[str]:
    names = set()
    for _, statement in _imports(body):
        if isinstance(statement.names, cst.ImportStar):
            continue
        for a in statement.names:
            bound = a.evaluated_alias or a.evaluated_name
            names.add(
                bound if a.asname or isinstance(statement, cst.ImportFrom) else bound.split(".")[0]
            )
    return names


def _join(body: _Body, source: str, name: str) -> bool:
    """Add ``name`` to an existing ``from source import ...``; False when there is none."""
    for i, statement in _imports(body):
        if (
            not isinstance(statement, cst.ImportFrom)
            or statement.relative
            or isinstance(statement.names, cst.ImportStar)
            or _module(statement) != source
        ):
            continue
        names = list(statement.names)
        at = sum(1 for a in names if _name_key(a.evaluated_name) < _name_key(name))
        # The new name borrows its neighbour's comma, so one-line and parenthesized lists
        # both keep their shape.
        if at < len(names):
            new = cst.ImportAlias(cst.Name(name), comma=names[at].comma)
            if isinstance(new.comma, cst.MaybeSentinel):
                new = new.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            names.insert(at, new)
        else:
            last = names[-1]
            between = names[0].comma if len(names) > 1 else cst.MaybeSentinel.DEFAULT
            if isinstance(between, cst.MaybeSentinel):
                between = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            names[-1] = last.with_changes(comma=between)
            names.append(cst.ImportAlias(cst.Name(name), comma=last.comma))
        line = body[i]
        assert isinstance(line, cst.SimpleStatementLine)
        body[i] = line.with_changes(
            body=[statement.with_changes(names=names) if s is statement else s for s in line.body]
        )
        return True
    return False


def _insert(body: _Body, item: _Import, first_party: str) -> None:
    source, name, alias = item
    names = [cst.ImportAlias(_dotted(name), asname=_as(alias))]
    small: cst.Import | cst.ImportFrom = (
        cst.ImportFrom(module=_dotted(source), names=names) if source else cst.Import(names=names)
    )
    new = cst.SimpleStatementLine(body=[small])
    key = _key(small, first_party)
    existing = [(i, _key(s, first_party)) for i, s in _imports(body)]
    same = [(i, k) for i, k in existing if k[0] == key[0]]
    if same:
        after = [i for i, k in same if k <= key]
        if after:
            body.insert(after[-1] + 1, new)
            return
        _insert_before(body, same[0][0], new, blank_after=False)
        return
    lower = [i for i, k in existing if k[0] < key[0]]
    if lower:
        body.insert(lower[-1] + 1, new.with_changes(leading_lines=[cst.EmptyLine(indent=False)]))
    elif existing:
        _insert_before(body, existing[0][0], new, blank_after=True)
    else:
        _insert_before(body, _after_docstring(body), new, blank_after=True)


def _insert_before(
    body: _Body, at: int, new: cst.SimpleStatementLine, *, blank_after: bool
) -> None:
    """The blank lines above ``body[at]`` stay above the first line, now the new one."""
    if at < len(body):
        old = body[at]
        new = new.with_changes(leading_lines=old.leading_lines)
        gap = [cst.EmptyLine(indent=False)] if blank_after else []
        body[at] = old.with_changes(leading_lines=gap)
    body.insert(at, new)


def _after_docstring(body: _Body) -> int:
    first = body[0] if body else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    ):
        return 1
    return 0


def _key(statement: cst.Import | cst.ImportFrom, first_party: str) -> tuple[int, int, str]:
    """(section, straight imports first, module): isort's order with default settings."""
    if isinstance(statement, cst.ImportFrom):
        if statement.relative:
            return 4, 1, _module(statement)
        module, kind = _module(statement), 1
    else:
        module, kind = statement.names[0].evaluated_name, 0
    top = module.split(".")[0]
    section = (
        0
        if top == "__future__"
        else 1
        if top in sys.stdlib_module_names
        else 3
        if top == first_party.split(".")[0]
        else 2
    )
    return section, kind, module.lower()


def _module(statement: cst.ImportFrom) -> str:
    return get_full_name_for_node(statement.module) or "" if statement.module else ""


def _name_key(name: str) -> tuple[int, str]:
    # ruff's order-by-type: CONSTANTS, Classes, then the rest.
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name


def _dotted(name: str) -> cst.Attribute | cst.Name:
    expr = cst.parse_expression(name)
    assert isinstance(expr, cst.Attribute | cst.Name)
    return expr


def _as(alias: str) -> cst.AsName | None:
    return cst.AsName(cst.Name(alias)) if alias else None
