"""The step kinds of a workflow graph and the graph itself (:class:`Workflow`).

A graph is plain data plus typed callables: a :class:`Call` names a generated client method and
builds its request from the run, a :class:`Publish` builds an event dataclass, a :class:`Local`
runs a function of the service itself. ``mypy --strict`` checks that what a builder returns is
what the method or event takes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.json_format import ParseDict
from google.protobuf.message import Message

from runtime_lib import ConfigError
from runtime_lib.codegen import ClientBase, EventType

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
Ev = TypeVar("Ev", bound=EventType)

JsonPath = str  # "$.input.order_id", "$.reserve.id": read from the run's input and outputs

_STEP_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class RunView:
    """What a builder or condition sees: the run's input and the outputs of finished steps.

    Outputs are JSON (a call step's reply as a dict with proto field names); ``reply(step)``
    gives a call step's reply back as its typed message.
    """

    def __init__(self, run_id: str, input: Any, outputs: Mapping[str, Any]) -> None:
        self.run_id = run_id
        self.input = input
        self.outputs = outputs

    def output(self, step_id: str) -> Any:
        if step_id not in self.outputs:
            raise KeyError(f"step {step_id!r} has no output in this run (not finished, or skipped)")
        return self.outputs[step_id]

    def reply(self, step: Call[Any, Rep]) -> Rep:
        message = step.reply_type()
        ParseDict(self.output(step.id), message, ignore_unknown_fields=True)
        return message

    def path(self, path: JsonPath) -> Any:
        """An SB-style JSON path: ``$.input.a.b`` reads the input, ``$.step.a`` a step's output."""
        if not path.startswith("$."):
            raise ConfigError(f"JSON path {path!r} must start with '$.' (e.g. '$.reserve.id')")
        head, *rest = path[2:].split(".")
        value: Any = self.input if head == "input" else self.output(head)
        for key in rest:
            if not isinstance(value, Mapping) or key not in value:
                raise KeyError(f"JSON path {path!r}: no {key!r} here")
            value = value[key]
        return value


def build_json_input(template: Mapping[str, JsonPath], run: RunView) -> dict[str, Any]:
    """``{"order_id": "$.input.order_id"}`` -> ``{"order_id": "o-1"}``."""
    return {key: run.path(path) for key, path in template.items()}


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has: an id, the steps it waits for, a condition, timeout and retries."""

    id: str
    wait_for: tuple[str, ...] = ()
    when: Callable[[RunView], bool] | None = None
    timeout: float = 30.0
    attempts: int = 3


@dataclass(frozen=True, kw_only=True)
class Call(Step, Generic[Req, Rep]):
    """An RPC through a generated client: ``Call(id="charge", service="payment",
    method=PaymentClient.charge, input=lambda run: ChargeRequest(...))``.

    Sent with the idempotency key ``<run id>/<step id>``, so a re-run after a crash is replayed
    by the callee rather than repeated.
    """

    service: str
    method: Callable[[Any, Req], Awaitable[Rep]]
    input: Callable[[RunView], Req] | Mapping[str, JsonPath]
    compensate: Effect | None = None

    @property
    def client_class(self) -> type[ClientBase]:
        owner_name = self.method.__qualname__.rsplit(".", 1)[0]
        owner = getattr(sys.modules[self.method.__module__], owner_name, None)
        if not (isinstance(owner, type) and issubclass(owner, ClientBase)):
            raise ConfigError(
                f"step {self.id!r}: method= must be a generated client's method "
                "(e.g. PaymentClient.charge)"
            )
        return owner

    @property
    def request_type(self) -> type[Req]:
        spec = self.client_class.SERVICE.method(self.method.__name__)
        request: type[Req] = spec.request
        return request

    @property
    def reply_type(self) -> type[Rep]:
        spec = self.client_class.SERVICE.method(self.method.__name__)
        reply: type[Rep] = spec.reply
        return reply


@dataclass(frozen=True, kw_only=True)
class Publish(Step, Generic[Ev]):
    """Publish an event dataclass through the outbox, with idempotency key ``<run>/<step>``
    (the broker's duplicate window drops a re-publish after a crash)."""

    input: Callable[[RunView], Ev]
    compensate: Effect | None = None


@dataclass(frozen=True, kw_only=True)
class Local(Step):
    """A function of the workflow's own service: ``fn(run) -> JSON`` (its output)."""

    fn: Callable[[RunView], Awaitable[Any]]
    compensate: Effect | None = None


@dataclass(frozen=True, kw_only=True)
class Sleep(Step):
    """A durable timer: the run waits ``seconds`` (across restarts)."""

    seconds: float


@dataclass(frozen=True, kw_only=True)
class WaitSignal(Step):
    """Wait until ``signal(run_id, name, payload)``; the payload is the step's output."""

    name: str
    timeout: float = 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class WaitEvent(Step, Generic[Ev]):
    """Wait for an event of class ``event`` whose fields equal ``match(run)``; the step fails
    when none comes within ``timeout``. Its output is the event as a dict."""

    event: type[Ev]
    match: Callable[[RunView], Mapping[str, Any]] = field(default=lambda _run: {})


@dataclass(frozen=True, kw_only=True)
class Child(Step):
    """Run workflow ``workflow`` (of ``service``, default this one) as a child with the JSON
    ``input(run)``; its outputs are this step's output. A failed child has compensated itself."""

    workflow: str
    service: str | None = None
    input: Callable[[RunView], Any] = field(default=lambda _run: None)


@dataclass(frozen=True, kw_only=True)
class Parallel(Step):
    """A group whose steps start together; it completes when all have (a failure cancels the
    others). Its own ``wait_for`` and ``when`` apply to the whole group."""

    steps: tuple[AnyStep, ...]


@dataclass(frozen=True, kw_only=True)
class Sequence(Step):
    """A group whose steps run one after the other, in the order given."""

    steps: tuple[AnyStep, ...]


Effect = Call[Any, Any] | Publish[Any] | Local
"""A compensation: an effect step run when the step it belongs to must be undone."""

Group = Parallel | Sequence

AnyStep = (
    Call[Any, Any] | Publish[Any] | Local | Sleep | WaitSignal | WaitEvent[Any] | Child | Group
)


def _walk(steps: tuple[AnyStep, ...]) -> Iterator[AnyStep]:
    """Every step, groups and the steps inside them (at any depth)."""
    for step in steps:
        yield step
        if isinstance(step, Parallel | Sequence):
            yield from _walk(step.steps)


@dataclass(frozen=True)
class Workflow:
    """A named graph. Top-level steps run in parallel unless ``wait_for`` orders them; groups
    (:class:`Parallel`, :class:`Sequence`) hold steps of their own. ``allowed_callers``: the
    other services that may start, signal and cancel its runs (None: ``AccessPolicy.default``;
    ``AccessPolicy.workflows`` overrides it)."""

    name: str
    steps: tuple[AnyStep, ...]
    max_state_bytes: int = 256 * 1024
    allowed_callers: tuple[str, ...] | None = None
    _by_id: dict[str, AnyStep] = field(init=False, repr=False, compare=False)
    _groups: dict[str, Group] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, AnyStep] = {}
        groups: dict[str, Group] = {}  # step id -> the group holding it
        for step in _walk(self.steps):
            where = f"workflow {self.name!r}, step {step.id!r}"
            if not _STEP_ID.match(step.id):
                raise ConfigError(f"{where}: ids are lowercase words ([a-z][a-z0-9_]*)")
            if step.id in by_id or step.id == "input":
                raise ConfigError(f"{where}: the id is used twice (or is 'input'); rename it")
            by_id[step.id] = step
            if isinstance(step, Parallel | Sequence):
                if not step.steps:
                    raise ConfigError(f"{where}: a group needs at least one step")
                for inner in step.steps:
                    if inner.wait_for:
                        raise ConfigError(
                            f"workflow {self.name!r}, step {inner.id!r}: a step inside group "
                            f"{step.id!r} runs when the group orders it; put wait_for on the group"
                        )
                    groups[inner.id] = step
        for step in self.steps:
            for dep in step.wait_for:
                if dep not in by_id or dep in groups:
                    raise ConfigError(
                        f"workflow {self.name!r}, step {step.id!r}: wait_for names "
                        f"{dep!r}, which is not a top-level step of this workflow"
                    )
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(self, "_groups", groups)
        self._check_acyclic()

    def _check_acyclic(self) -> None:
        done: set[str] = set()
        visiting: set[str] = set()

        def visit(step_id: str) -> None:
            if step_id in done:
                return
            if step_id in visiting:
                raise ConfigError(
                    f"workflow {self.name!r}: wait_for makes a cycle through {step_id!r}"
                )
            visiting.add(step_id)
            for dep in self._by_id[step_id].wait_for:
                visit(dep)
            visiting.discard(step_id)
            done.add(step_id)

        for step in self.steps:
            visit(step.id)

    @property
    def ids(self) -> list[str]:
        """Every step id, groups and the steps inside them included."""
        return list(self._by_id)

    def step(self, step_id: str) -> AnyStep:
        try:
            return self._by_id[step_id]
        except KeyError:
            raise ConfigError(f"workflow {self.name!r} has no step {step_id!r}") from None

    def downstream(self, step_id: str) -> set[str]:
        """``step_id`` and every step that runs after it because of it: what waits for it
        (directly or not), the steps after it in its sequence, and the groups holding it."""
        found = {self.step(step_id).id}
        changed = True
        while changed:
            changed = False
            for member in list(found):
                group = self._groups.get(member)
                if group is None:
                    continue
                order = [inner.id for inner in group.steps]
                later = order[order.index(member) :] if isinstance(group, Sequence) else []
                for other in [group.id, *later]:
                    if other not in found:
                        found.add(other)
                        changed = True
            for step in self.steps:
                if step.id not in found and found.intersection(step.wait_for):
                    found.add(step.id)
                    changed = True
        return found

    def inside(self, step_id: str) -> set[str]:
        """The ids of the steps a group holds, at any depth (none for other steps)."""
        step = self.step(step_id)
        if not isinstance(step, Parallel | Sequence):
            return set()
        return {inner.id for inner in _walk(step.steps)}
