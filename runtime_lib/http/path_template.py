"""``google.api.http`` path templates (``/v1/{name=shelves/*/books/*}:publish``) compiled to
matchers, following the grammar in ``google/api/http.proto``::

    Template = "/" Segments [ Verb ] ;  Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;  Verb = ":" LITERAL ;

``{id}`` is ``{id=*}``. A single-segment variable is percent-decoded fully; a multi-segment one
keeps ``%2F`` as is (the documentation's rule), so ``/`` inside a value stays distinguishable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

import runtime_lib as sb

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:=([^}]*))?\}")
_LITERAL = re.compile(r"[^/{}*:]+")


@dataclass(frozen=True, slots=True)
class Variable:
    field_path: str
    multi_segment: bool


@dataclass(frozen=True, slots=True)
class PathTemplate:
    text: str
    regex: re.Pattern[str]
    variables: tuple[Variable, ...]
    verb: str

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Field path -> decoded value when ``raw_path`` (still percent-encoded) matches."""
        found = self.regex.fullmatch(raw_path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, variable in enumerate(self.variables):
            raw = found.group(f"v{index}")
            if variable.multi_segment:
                values[variable.field_path] = "%2F".join(unquote(p) for p in raw.split("%2F"))
            else:
                values[variable.field_path] = unquote(raw)
        return values

    @property
    def openapi_path(self) -> str:
        """The template as an OpenAPI path: each variable as ``{field.path}``."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1) + "}", self.text)


def compile_template(text: str) -> PathTemplate:
    """Compile ``text``; a malformed template is a :class:`~runtime_lib.ConfigError` naming it."""
    if not text.startswith("/"):
        raise sb.ConfigError(f"path template {text!r}: must start with '/'")
    body, verb = text, ""
    last = text.rsplit("/", 1)[-1]
    if ":" in last and "}" not in last.split(":", 1)[1]:
        body, verb = text[: -len(last)] + last.split(":", 1)[0], last.split(":", 1)[1]
        if not _LITERAL.fullmatch(verb):
            raise sb.ConfigError(f"path template {text!r}: the verb {verb!r} must be a literal")
    variables: list[Variable] = []
    pattern = ""
    for segment in _split(body[1:], text):
        found = _VARIABLE.fullmatch(segment)
        if found is None:
            pattern += "/" + _segment(segment, text)
            continue
        inner = found.group(2) or "*"
        parts = [_segment(s, text) for s in inner.split("/")]
        variables.append(Variable(found.group(1), inner != "*"))
        pattern += f"/(?P<v{len(variables) - 1}>{'/'.join(parts)})"
    if verb:
        pattern += ":" + re.escape(verb)
    return PathTemplate(text, re.compile(pattern or "/"), tuple(variables), verb)


def _split(body: str, text: str) -> list[str]:
    """Segments of ``body``, a variable's ``{...=a/*}`` kept whole."""
    segments: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            segments.append(body[start:index])
            start = index + 1
        if depth not in (0, 1):
            raise sb.ConfigError(f"path template {text!r}: unbalanced braces")
    if depth:
        raise sb.ConfigError(f"path template {text!r}: unbalanced braces")
    segments.append(body[start:])
    return segments


def _segment(segment: str, text: str) -> str:
    # Empty matches too, so a missing path parameter is a 400 naming it rather than a 404.
    if segment == "*":
        return "[^/]*"
    if segment == "**":
        return ".*"
    if not _LITERAL.fullmatch(segment):
        raise sb.ConfigError(f"path template {text!r}: bad segment {segment!r}")
    return re.escape(segment)
