"""Stage render: line fitting for generated code, matching what ``ruff format`` does with the few long shapes
sb-gen emits (so the output is stable under the formatter at its default 88 columns)."""

from __future__ import annotations

import re

LINE_LENGTH = 88
_CONDITIONAL = re.compile(r"^(?P<then>.+?) if (?P<test>message\.HasField\(\"\w+\"\)) else None$")
_CALL = re.compile(r"^(?P<callee>[\w.\[\]]+)\((?P<arg>.+)\)$")


def kwarg(name: str, expr: str, indent: int) -> str:
    """``name=expr,`` at ``indent``; long conditionals and comprehensions are split as ruff does."""
    pad = " " * indent
    line = f"{pad}{name}={expr},"
    if len(line) <= LINE_LENGTH:
        return line.lstrip()
    inner = " " * (indent + 4)
    if m := _CONDITIONAL.match(expr):
        if len(inner) + len(expr) <= LINE_LENGTH:
            body = f"{inner}{expr}"
        else:
            body = f"{inner}{m['then']}\n{inner}if {m['test']}\n{inner}else None"
        return f"{name}=(\n{body}\n{pad}),"
    if expr[:1] in "[{" and expr[-1:] in "]}":
        return f"{name}={expr[0]}\n{inner}{expr[1:-1]}\n{pad}{expr[-1]},"
    return line.lstrip()


def statement(text: str, indent: int) -> str:
    """A call statement at ``indent``; a too-long one gets its argument on its own line."""
    pad = " " * indent
    if len(pad) + len(text) <= LINE_LENGTH or not (m := _CALL.match(text)):
        return text
    return f"{m['callee']}(\n{pad}    {m['arg']}\n{pad})"


def assignment(target: str, value: str, indent: int) -> str:
    """``target = value``; a value too long for the line goes in parentheses on its own line."""
    pad = " " * indent
    if len(pad) + len(target) + len(value) + 3 <= LINE_LENGTH:
        return f"{target} = {value}"
    return f"{target} = (\n{pad}    {value}\n{pad})"


def signature(name: str, params: str, returns: str, indent: int) -> str:
    """``def name(params) -> returns:``, split over lines as ruff format does when too long."""
    pad = " " * indent
    line = f"def {name}({params}) -> {returns}:"
    if indent + len(line) <= LINE_LENGTH:
        return line
    inner = f"{pad}    {params}"
    if len(inner) <= LINE_LENGTH:
        return f"def {name}(\n{inner}\n{pad}) -> {returns}:"
    body = "".join(f"{pad}    {p.strip()},\n" for p in params.split(","))
    return f"def {name}(\n{body}{pad}) -> {returns}:"
