"""Stage model: every Python name sb-gen writes comes from here.

Rules (documented in the README, "Naming"):

- rpc names become snake_case methods: ``Charge`` -> ``charge``, ``GetHTTPStatus`` -> ``get_http_status``.
- A name that is a Python keyword or soft keyword (``match``, ``case``, ``type``, ``_``) gets
  PEP 8's trailing underscore: ``import_``, ``from_``, ``type_``, ``match_``. Event dataclass
  fields also avoid builtins (``str_``, ``list_``), because their annotations use them; methods
  may keep builtin names (``list``, ``open``), which shadow nothing the class body uses.
- A name that would shadow something the generated class needs (``SERVICE``, the names imported
  at module level) gets a trailing underscore too.
- Names that collide after these rules (``GetUser`` and ``getUser``) are made unique in
  declaration order by appending ``_`` again.
- Services become ``<Service>Client`` and ``<Service>Handler``, their table ``<SERVICE>_SERVICE``.
- Modules are named and placed as protoc's ``python_out`` does (``-`` becomes ``_``, a dot in
  the file name is a directory: ``k8s.min.proto`` -> ``k8s/min_pb2.py``, ``k8s/min_sb.py``).
- Message modules are imported as ``<stem>_pb2`` from the same directory and as
  ``<dir>_<stem>_pb2`` from elsewhere (``google/protobuf/empty.proto`` -> ``google_protobuf_empty_pb2``).
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

# Spelled out: 3.11 does not list "type" (a soft keyword since 3.12) and output must not vary.
_SOFT_KEYWORDS = frozenset({"_", "case", "match", "type"})
_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("__"))

# Names bound at module level or on the base classes of generated code.
RESERVED_MODULE_NAMES = frozenset(
    {
        "abc",
        "sb",
        "AsyncIterable",
        "AsyncIterator",
        "ClassVar",
        "Final",
        "Iterable",
        "Iterator",
        "Unpack",
    }
)
RESERVED_MEMBER_NAMES = frozenset({"SERVICE"}) | RESERVED_MODULE_NAMES

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``GetHTTPStatus`` -> ``get_http_status``; already snake names stay as they are."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def upper_snake(name: str) -> str:
    return snake_case(name).upper()


def is_unsafe(name: str, *, avoid_builtins: bool = False) -> bool:
    """True if ``name`` cannot be used as-is for a generated attribute or parameter."""
    return (
        keyword.iskeyword(name)
        or name in _SOFT_KEYWORDS
        or (avoid_builtins and name in _BUILTINS)
        or not name.isidentifier()
    )


def safe_name(name: str, reserved: Iterable[str] = (), *, avoid_builtins: bool = False) -> str:
    """``name`` with a trailing underscore while it is unsafe or reserved."""
    taken = frozenset(reserved)
    while is_unsafe(name, avoid_builtins=avoid_builtins) or name in taken:
        name += "_"
    return name


def unique_names(
    names: Iterable[str], reserved: Iterable[str] = (), *, avoid_builtins: bool = False
) -> list[str]:
    """Make each name safe, then unique in order (a later duplicate gets more underscores)."""
    used = set(reserved)
    out = []
    for raw in names:
        name = safe_name(raw, used, avoid_builtins=avoid_builtins)
        used.add(name)
        out.append(name)
    return out


def method_attr_names(rpc_names: Iterable[str]) -> list[str]:
    """Python method names for a service's rpcs, in declaration order."""
    return unique_names((snake_case(n) for n in rpc_names), RESERVED_MEMBER_NAMES)


def client_class(service: str) -> str:
    return f"{service}Client"


def sync_client_class(service: str) -> str:
    return f"{service}SyncClient"


def handler_class(service: str) -> str:
    return f"{service}Handler"


def service_table(service: str) -> str:
    return f"{upper_snake(service)}_SERVICE"


def gateway_bindings(service: str) -> str:
    return f"{upper_snake(service)}_HTTP"


def gateway_factory(service: str) -> str:
    return f"{snake_case(service)}_gateway"


def method_spec_const(service: str, rpc: str) -> str:
    return f"_{upper_snake(service)}_{upper_snake(rpc)}"


def module_path(proto_name: str, suffix: str) -> str:
    """The slash path (no ``.py``) protoc's ``python_out`` gives a file's module, plus ``suffix``.

    protoc names the module after the file with ``-`` as ``_`` and ``/`` as ``.``, and writes it
    where that dotted name points, so a dot in the file name is a package level too:
    ``billing/payment.proto`` -> ``billing/payment_pb2``, ``k8s.min.proto`` -> ``k8s/min_pb2``,
    ``my-api/v1.proto`` -> ``my_api/v1_pb2``. mypy-protobuf follows the same rule.
    """
    stem = proto_name.removesuffix(".proto").replace("-", "_").replace(".", "/")
    return f"{stem}{suffix}"


def pb2_alias(proto_name: str, from_proto: str) -> str:
    """The local name under which a generated module imports another file's ``_pb2`` module."""
    here = module_path(from_proto, "").rpartition("/")[0]
    target = module_path(proto_name, "_pb2")
    directory, _, base = target.rpartition("/")
    if directory == here:
        return base
    return target.replace("/", "_")


def relative_import(target_module: str, from_module: str) -> tuple[str, str]:
    """(``from`` part, imported name) for importing ``target_module`` from ``from_module``.

    Both are slash paths without ``.py`` inside the output package: ``relative_import(
    "common/money_pb2", "shop/order_sb")`` -> ``("..common", "money_pb2")``; a sibling is
    imported from ``"."``.
    """
    here = from_module.split("/")[:-1]
    *there, name = target_module.split("/")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    dots = "." * (len(here) - common + 1)
    return dots + ".".join(there[common:]), name


def docstring(text: str, indent: int = 0) -> str:
    """A triple-quoted literal for a proto comment, safe whatever the comment holds.

    Continuation lines are indented by ``indent`` spaces to sit under the opening quotes.
    """
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    body = "\n".join(_dedent_one(lines)).strip()
    body = body.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body += " "
    if "\n" in body:
        pad = " " * indent
        body = "\n".join(pad + line if line else line for line in body.splitlines())
        return f'"""{body.lstrip()}\n{pad}"""'
    return f'"""{body}"""'


def _dedent_one(lines: list[str]) -> list[str]:
    # protoc keeps the single space after "//"; strip it so docstrings read naturally.
    return [line[1:] if line.startswith(" ") else line for line in lines]


def comment(text: str, indent: int = 0) -> str:
    """A proto comment as ``#`` lines, the first unindented (the template places it)."""
    lines = _dedent_one([line.rstrip() for line in text.strip("\n").splitlines()])
    pad = " " * indent
    return f"\n{pad}".join(f"# {line}".rstrip() for line in lines)
