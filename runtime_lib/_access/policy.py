"""Who may call each method: the protocol's ``allowed_callers``, overridden by configuration.

A method's allowed callers come from, in order: ``AccessPolicy.methods`` (configuration, by
method), ``AccessPolicy.services`` (configuration, by service), the method's ``allowed_callers``
in the generated service table (the ``.proto`` method or service option, or the ``.schema.json``
key), else ``AccessPolicy.default``: ``"allow"`` lets any caller in, ``"deny"`` nobody. ``"*"``
in a list allows any caller. The caller checked is ``ctx.caller``: the verified certificate's
service under TLS, the one claimed in ``sb-call`` in plain mode (which proves nothing).

A refused call never reaches admission or the handler: :class:`AccessDeniedError`
(``ACCESS_DENIED``, never retried), and a ``policy_violation`` lifecycle event on the serving
bridge and on the calling one (``bridge.on("policy_violation", cb)``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from runtime_lib._errors import AccessDeniedError, ConfigError

ANY_CALLER = "*"

Allowed = frozenset[str] | None
"""The callers a method admits; None: any caller."""


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """``Bridge(access=AccessPolicy(...))``: the configuration over the protocol's declarations.

    default: ``"allow"`` (a method with no declared callers is open) or ``"deny"`` (it is closed
      until callers are declared or configured).
    services: full service name (``payment.v1.Payment``) to the callers allowed on each of its
      methods; replaces what the protocol declares for them.
    methods: method (``payment.v1.Payment/Charge``) to its callers; wins over ``services``.
    workflows: workflow name to the services allowed to start, signal and cancel its runs;
      replaces the graph's ``allowed_callers`` (docs/workflows.md).
    """

    default: Literal["allow", "deny"] = "allow"
    services: Mapping[str, Collection[str]] = field(default_factory=dict)
    methods: Mapping[str, Collection[str]] = field(default_factory=dict)
    workflows: Mapping[str, Collection[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.default not in ("allow", "deny"):
            raise ConfigError(f'AccessPolicy(default={self.default!r}): use "allow" or "deny"')
        tables = (
            ("services", self.services),
            ("methods", self.methods),
            ("workflows", self.workflows),
        )
        for kind, table in tables:
            for name, callers in table.items():
                if isinstance(callers, str):
                    # A bare string would be read as a set of one-letter callers.
                    raise ConfigError(
                        f"AccessPolicy({kind}={{{name!r}: {callers!r}}}): give a list of "
                        f"caller names, e.g. [{callers!r}]"
                    )

    def allowed(self, service: str, method: str, declared: Iterable[str] | None) -> Allowed:
        """The callers of ``method`` (``pkg.Service/Method``) of ``service``; ``declared`` is the
        generated ``MethodSpec.allowed_callers``."""
        callers: Iterable[str] | None = self.methods.get(method)
        if callers is None:
            callers = self.services.get(service)
        return self._chosen(callers if callers is not None else declared)

    def allowed_workflow(self, workflow: str, declared: Iterable[str] | None) -> Allowed:
        """The services that may start, signal and cancel runs of ``workflow``; ``declared``
        is the graph's ``allowed_callers``."""
        callers = self.workflows.get(workflow)
        return self._chosen(callers if callers is not None else declared)

    def _chosen(self, callers: Iterable[str] | None) -> Allowed:
        if callers is None:
            return None if self.default == "allow" else frozenset()
        chosen = frozenset(callers)
        return None if ANY_CALLER in chosen else chosen

    def check_names(self, services: Collection[str], methods: Collection[str]) -> None:
        """ConfigError if the configuration names a service or method this bridge does not
        serve: a misspelt override would silently leave the protocol's rule in force."""
        for kind, table, known in (
            ("services", self.services, services),
            ("methods", self.methods, methods),
        ):
            unknown = sorted(set(table) - set(known))
            if unknown:
                raise ConfigError(
                    f"AccessPolicy({kind}=...) names {', '.join(map(repr, unknown))}, which this "
                    f"bridge does not serve; served: {', '.join(sorted(known)) or 'nothing'}"
                )


def denied(method: str, caller: str) -> AccessDeniedError:
    """What a refused caller receives: the method and who it was taken for, no policy details."""
    who = repr(caller) if caller else "an anonymous caller"
    return AccessDeniedError(f"{who} may not call {method}")


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """The ``policy_violation`` lifecycle event: a call refused by the access policy.

    ``side`` is ``"server"`` on the bridge that refused it, ``"client"`` on the bridge whose
    call was refused; ``service_name`` is the bridge reporting, ``caller`` who was refused.
    """

    side: Literal["server", "client"]
    service_name: str
    method: str
    caller: str
    reason: str
    event: Literal["policy_violation"] = "policy_violation"
