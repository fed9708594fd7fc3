"""Stage render: model -> ``x_sb.py`` source through the jinja2 templates shipped in ``templates/``."""

from __future__ import annotations

from functools import cache

import jinja2

from generator.model import naming
from generator.model.nodes import SbModule
from generator.render import layout
from generator.resources import templates_dir


@cache
def environment() -> jinja2.Environment:
    """The jinja2 environment of every template sb-gen renders Python from."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=False,  # Python source, not HTML
        keep_trailing_newline=True,
        trim_blocks=False,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["docstring"] = naming.docstring
    env.filters["comment"] = naming.comment
    env.filters["kwarg"] = layout.kwarg
    env.filters["statement"] = layout.statement
    env.filters["assignment"] = layout.assignment
    env.globals["signature"] = layout.signature
    return env


def render_module(module: SbModule) -> str:
    source = environment().get_template("sb_module.py.j2").render(module=module)
    return source.rstrip("\n") + "\n"
