"""Stage write, for ``sb-gen scaffold``: a new handler module, or the missing methods added to the
user's existing one.

The user's file is edited with libcst (docs/decisions/0006-libcst-for-scaffold-merges.md): its
concrete syntax tree prints back byte for byte, so appending method nodes to the handler class
(and the imports they need, generator/write_imports.py) leaves every comment, blank line and odd formatting as it was.
Methods that are no longer rpcs are reported and kept: deleting user code is the user's call.
"""

from __future__ import annotations

import ast
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import PositionProvider

from generator.errors import Diagnostic, GeneratorError, display_path
from generator.model.nodes import HandlerStub, StubMethod
from generator.render.handler_module import render_handler_module, render_method
from generator.validate import validate_module
from generator.write_imports import add_imports

_FRESH = "rename or move the file aside and run sb-gen scaffold again to start afresh"


@dataclass(frozen=True)
class Scaffold:
    """What a scaffold run found: the new file text (None when nothing changes)."""

    source: bytes | None
    created: bool
    added: tuple[str, ...]
    stale: tuple[str, ...]  # public methods taking a CallContext that match no rpc


def plan_scaffold(path: Path, stub: HandlerStub) -> Scaffold:
    """The new module when ``path`` is absent, else ``path`` with the missing methods added."""
    if not path.exists():
        source = render_handler_module(stub)
        validate_module(display_path(path), source)
        return Scaffold(source.encode(), True, tuple(m.attr for m in stub.methods), ())
    original = path.read_bytes()
    module = _parse(path, original)
    cls = _handler_class(path, module, stub.base)
    body = cls.body
    if not isinstance(body, cst.IndentedBlock):
        raise GeneratorError(_cannot_follow(path, module, cls, "its body is on the class line"))
    present = _defined_names(body)
    missing = [m for m in stub.methods if m.attr not in present]
    expected = {m.attr for m in stub.methods}
    stale = tuple(name for name in _handler_methods(body) if name not in expected)
    if not missing:
        return Scaffold(None, False, (), stale)
    new_body = [*body.body, *(_method_node(m, module) for m in missing)]
    edited = module.deep_replace(cls, cls.with_changes(body=body.with_changes(body=new_body)))
    assert isinstance(edited, cst.Module)
    edited = add_imports(edited, (i for m in missing for i in m.imports), stub.package)
    validate_module(display_path(path), edited.code)
    return Scaffold(edited.bytes, False, tuple(m.attr for m in missing), stale)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` in one rename, keeping its permissions: never a half-written module."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if path.exists():
            os.chmod(staging, path.stat().st_mode & 0o7777)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


def _parse(path: Path, data: bytes) -> cst.Module:
    """libcst's tree of the user's file; CPython's compiler words a syntax error better."""
    where, problem = "", ""
    try:
        compile(data, str(path), "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        return cst.parse_module(data)
    except SyntaxError as exc:
        where, problem = f"{exc.lineno}:{exc.offset}", exc.msg
    except cst.ParserSyntaxError as exc:
        where, problem = f"{exc.raw_line}:{exc.raw_column + 1}", exc.message
    raise GeneratorError(
        Diagnostic(
            display_path(path),
            f"is not valid Python ({problem})",
            where,
            hint="fix it, then run sb-gen scaffold again",
        )
    )


def _handler_class(path: Path, module: cst.Module, base: str) -> cst.ClassDef:
    found = [
        s
        for s in module.body
        if isinstance(s, cst.ClassDef) and any(_names(b.value, base) for b in s.bases)
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise GeneratorError(
            Diagnostic(
                display_path(path),
                f"has no top-level class subclassing {base}, so sb-gen cannot tell where "
                "methods go",
                hint=f"keep one 'class ...({base}):' in the file, or {_FRESH}",
            )
        )
    lines = ", ".join(_line(module, c) for c in found)
    raise GeneratorError(
        Diagnostic(
            display_path(path),
            f"has {len(found)} classes subclassing {base} (lines {lines})",
            hint="keep one handler class per file, or point -o at the file of the other",
        )
    )


def _names(expr: cst.BaseExpression, name: str) -> bool:
    """``expr`` is ``name`` or ``something.name``."""
    if isinstance(expr, cst.Name):
        return expr.value == name
    return isinstance(expr, cst.Attribute) and expr.attr.value == name


def _defined_names(body: cst.IndentedBlock) -> set[str]:
    """Names a class body binds: methods, and attributes (``charge = _charge`` counts too)."""
    names = set()
    for statement in body.body:
        if isinstance(statement, cst.FunctionDef | cst.ClassDef):
            names.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                targets = (
                    [t.target for t in small.targets]
                    if isinstance(small, cst.Assign)
                    else [small.target]
                    if isinstance(small, cst.AnnAssign)
                    else []
                )
                names |= {t.value for t in targets if isinstance(t, cst.Name)}
    return names


def _handler_methods(body: cst.IndentedBlock) -> list[str]:
    """Public methods shaped like rpc handlers: one of their parameters is a CallContext."""
    found = []
    for statement in body.body:
        if not isinstance(statement, cst.FunctionDef) or statement.name.value.startswith("_"):
            continue
        params = statement.params.params
        if any(p.annotation and _names(p.annotation.annotation, "CallContext") for p in params):
            found.append(statement.name.value)
    return found


def _method_node(method: StubMethod, module: cst.Module) -> cst.BaseStatement:
    node = cst.parse_statement(render_method(method), config=module.config_for_parsing)
    assert isinstance(node, cst.FunctionDef)
    return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)])


def _line(module: cst.Module, node: cst.CSTNode) -> str:
    position = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return str(position[node].start.line)


def _cannot_follow(path: Path, module: cst.Module, cls: cst.ClassDef, why: str) -> Diagnostic:
    return Diagnostic(
        display_path(path),
        f"sb-gen cannot add methods to class {cls.name.value}: {why}",
        _line(module, cls) + ":1",
        hint=f"put the class body on its own indented lines, or {_FRESH}",
    )
