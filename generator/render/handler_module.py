"""Stage render: a :class:`HandlerStub` -> the source of a user's handler module, or of one method
of it (``templates/handler_module.py.j2``,
``handler_method.py.j2``)."""

from __future__ import annotations

from generator.model.nodes import HandlerStub, StubMethod
from generator.render.sb_module import environment


def render_handler_module(stub: HandlerStub) -> str:
    source = environment().get_template("handler_module.py.j2").render(stub=stub)
    return source.rstrip("\n") + "\n"


def render_method(method: StubMethod) -> str:
    """One method at indent 0, as the scaffold adds it to an existing class."""
    macro = environment().get_template("handler_method.py.j2").module.method  # type: ignore[attr-defined]
    return str(macro(method)) + "\n"
