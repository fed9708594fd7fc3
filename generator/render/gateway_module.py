"""Stage render: gateway model -> ``x_gateway.py`` source (template ``gateway_module.py.j2``)."""

from __future__ import annotations

from generator.model.nodes import GatewayModule
from generator.render.sb_module import environment


def render_gateway(module: GatewayModule) -> str:
    source = environment().get_template("gateway_module.py.j2").render(module=module)
    return source.rstrip("\n") + "\n"
