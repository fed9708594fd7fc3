"""One ``google.api.http`` binding of an rpc, as sb-gen writes it into ``x_gateway.py``."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import Message

from runtime_lib.http.path_template import PathTemplate, compile_template


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """``method`` is the HTTP method (a ``custom`` kind as written); ``attr`` the client method
    to call; ``body`` is ``""``, ``"*"`` or a field name; ``response_body`` a reply field to
    send instead of the whole reply."""

    method: str
    path: str
    rpc: str
    attr: str
    request: type[Message]
    reply: type[Message]
    body: str = ""
    response_body: str = ""
    server_streaming: bool = False
    doc: str = ""
    template: PathTemplate = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "template", compile_template(self.path))
