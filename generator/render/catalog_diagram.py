"""Stage render: the catalog's diagram, inline SVG built here (no script, no CDN: the page works
offline). One column per proto file: its services with their rpcs, then the events it declares;
every box links to its section of the page.

Lines between services and events need the protocol to say who publishes or subscribes, which it
does not yet (see generator/model/describe_catalog.py); the columns show what it does say.
"""

from __future__ import annotations

from html import escape

from generator.model.catalog_nodes import Catalog, EventDoc, ServiceDoc

_COLUMN = 300
_GAP = 28
_PAD = 14
_TITLE = 38  # a column's file name
_ROW = 22  # one rpc in a service box
_SERVICE_HEAD = 40
_EVENT = 40
_SPACE = 14  # between boxes


def render_diagram(catalog: Catalog) -> str:
    columns = [_column(catalog, file) for file in catalog.files]
    columns = [(file, body, height) for file, body, height in columns if height]
    if not columns:
        return ""
    width = len(columns) * _COLUMN + (len(columns) - 1) * _GAP + 2
    height = max(h for _, _, h in columns) + 2
    parts = []
    for n, (file, body, _) in enumerate(columns):
        x = 1 + n * (_COLUMN + _GAP)
        parts.append(
            f'<g transform="translate({x} 1)">'
            f'<rect class="file" width="{_COLUMN}" height="{height - 2}" rx="14"/>'
            f'<text class="file-name" x="{_PAD}" y="25">{escape(file)}</text>{body}</g>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="Services and events by proto file">{"".join(parts)}</svg>'
    )


def _column(catalog: Catalog, file: str) -> tuple[str, str, int]:
    services = [s for s in catalog.services if s.file == file]
    events = [e for e in catalog.events if e.file == file]
    if not services and not events:
        return file, "", 0
    y = _TITLE
    body = []
    for s in services:
        box, h = _service(s, y)
        body.append(box)
        y += h + _SPACE
    for e in events:
        body.append(_event(e, y))
        y += _EVENT + _SPACE
    return file, "".join(body), y - _SPACE + _PAD


def _service(s: ServiceDoc, y: int) -> tuple[str, int]:
    width = _COLUMN - 2 * _PAD
    h = _SERVICE_HEAD + _ROW * len(s.methods) + (6 if s.methods else 0)
    rows = "".join(
        f'<a href="#{escape(m.anchor)}"><text class="rpc{" deprecated" if m.deprecated else ""}" '
        f'x="14" y="{_SERVICE_HEAD + 14 + i * _ROW}">{escape(m.name)}</text>'
        f'<text class="kind" x="{width - 14}" y="{_SERVICE_HEAD + 14 + i * _ROW}" '
        f'text-anchor="end">{m.kind}</text></a>'
        for i, m in enumerate(s.methods)
    )
    name = escape(s.full_name.rpartition(".")[2])
    box = (
        f'<g transform="translate({_PAD} {y})"><a href="#{escape(s.anchor)}">'
        f'<rect class="service" width="{width}" height="{h}" rx="10"/>'
        f'<text class="service-name" x="14" y="26">{name}</text>'
        f'<text class="count" x="{width - 14}" y="26" text-anchor="end">'
        f"{len(s.methods)} rpc{'' if len(s.methods) == 1 else 's'}</text></a>{rows}</g>"
    )
    return box, h


def _event(e: EventDoc, y: int) -> str:
    width = _COLUMN - 2 * _PAD
    return (
        f'<g transform="translate({_PAD} {y})"><a href="#{escape(e.anchor)}">'
        f'<rect class="event" width="{width}" height="{_EVENT}" rx="20"/>'
        f'<text class="event-mark" x="18" y="25">⚡</text>'
        f'<text class="event-name" x="40" y="25">{escape(e.name)}</text></a></g>'
    )
