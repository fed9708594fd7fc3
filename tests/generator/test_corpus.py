"""The test-owned corpus generates, imports, type-checks and lints cleanly."""

from __future__ import annotations

import importlib
import inspect
import warnings
from pathlib import Path

import pytest

from generator.package import build_package
from tests.generator.conftest import CORPUS, generated_modules
from tests.generator.tools import RUFF_RULES, run_mypy, run_ruff


def test_package_layout(corpus_package: Path) -> None:
    files = {p.relative_to(corpus_package).as_posix() for p in corpus_package.rglob("*")}
    assert {"__init__.py", "py.typed", "shop/__init__.py", "shop/v1/__init__.py"} <= files
    for stem in (
        "common/money",
        "shop/v1/catalog",
        "shop/v1/names",
        "loop/a/first",
        "legacy/accounts",
    ):
        assert {f"{stem}_pb2.py", f"{stem}_pb2.pyi"} <= files
    # x_sb.py only where the file declares a service.
    assert "shop/v1/catalog_sb.py" in files
    assert "common/money_sb.py" not in files
    assert "loop/b/second_sb.py" not in files
    # Well-known types come from the protobuf package, never copied.
    assert not any(f.startswith("google/") for f in files)


def test_every_module_imports(corpus_package: Path) -> None:
    for name in generated_modules(corpus_package):
        importlib.import_module(name)


def test_imports_are_relative_so_the_package_can_live_anywhere(corpus_package: Path) -> None:
    order = (corpus_package / "loop/b/third_pb2.py").read_text()
    assert "from ..a import first_pb2" in order
    catalog = (corpus_package / "shop/v1/catalog_pb2.py").read_text()
    assert "from ...common import money_pb2" in catalog
    assert "from google.protobuf import timestamp_pb2" in catalog


def test_mypy_strict_passes_on_the_output(corpus_package: Path) -> None:
    result = run_mypy(corpus_package, cwd=corpus_package.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_check_and_format_pass_on_the_output(corpus_package: Path) -> None:
    check = run_ruff("check", "--isolated", "--select", RUFF_RULES, ".", cwd=corpus_package)
    assert check.returncode == 0, check.stdout
    ours = sorted(str(p) for p in corpus_package.rglob("*_sb.py"))
    fmt = run_ruff("format", "--isolated", "--check", *ours, cwd=corpus_package)
    assert fmt.returncode == 0, fmt.stdout


def test_output_is_deterministic_whatever_the_input_order() -> None:
    files = sorted(CORPUS.rglob("*.proto"))
    forward = build_package(files, [CORPUS])
    backward = build_package(list(reversed(files)), [CORPUS])
    assert forward == backward
    assert build_package([CORPUS], []) == forward


def test_python_names_follow_the_naming_rules(corpus_package: Path) -> None:
    names = importlib.import_module("corpus_gen.shop.v1.names_sb")
    methods = {n for n, _ in inspect.getmembers(names.NamesClient, inspect.isfunction)}
    expected = {"import_", "from_", "class_", "type_", "match_", "async_", "list"}
    expected |= {"close", "stop", "service", "get_user", "get_user_", "old"}
    assert expected <= methods
    # Two services whose names differ only in case both exist.
    assert names.namesClient.SERVICE.full_name == "shop.v1.names"
    assert names.NamesClient.SERVICE.full_name == "shop.v1.Names"
    # The spec keeps the wire name while the Python name changes.
    assert names.NAMES_SERVICE.method("import_").path == "/shop.v1.Names/Import"


def test_cardinalities_docstrings_and_contract_hashes(corpus_package: Path) -> None:
    catalog = importlib.import_module("corpus_gen.shop.v1.catalog_sb")
    spec = catalog.CATALOG_SERVICE
    assert [m.cardinality.name for m in spec.methods] == [
        "UNARY",
        "SERVER_STREAMING",
        "CLIENT_STREAMING",
        "BIDI_STREAMING",
    ]
    assert all(
        m.contract_hash.startswith("v2:") and len(m.contract_hash) == 67 for m in spec.methods
    )
    assert catalog.CatalogClient.get_product.__doc__ == (
        "Returns one product.\n\n        Fails with NOT_FOUND when the id is unknown.\n        "
    )
    assert 'triple """ quotes' in (catalog.CatalogClient.__doc__ or "")
    assert catalog.EMPTY_SERVICE.methods == ()
    assert not inspect.iscoroutinefunction(catalog.CatalogHandler.list_products)
    assert inspect.iscoroutinefunction(catalog.CatalogHandler.get_product)


def test_handler_missing_a_method_cannot_be_instantiated(corpus_package: Path) -> None:
    accounts = importlib.import_module("corpus_gen.legacy.accounts_sb")

    class Incomplete(accounts.AccountsHandler):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="abstract method"):
        Incomplete()


def test_deprecated_method_warns(corpus_package: Path) -> None:
    names = importlib.import_module("corpus_gen.shop.v1.names_sb")
    client = names.NamesClient(_NeverCalled())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coroutine = client.old(names.names_pb2.Wallet())
    coroutine.close()
    assert [w.category for w in caught] == [DeprecationWarning]
    assert "Old is deprecated" in str(caught[0].message)


class _NeverCalled:
    """An invoker the deprecation test never reaches (the coroutine is closed unawaited)."""
