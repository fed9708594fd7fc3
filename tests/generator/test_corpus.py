"""The test-owned corpus generates, imports, type-checks and lints cleanly."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from generator.pipeline import build_package
from tests.generator.conftest import CORPUS, generated_modules
from tests.generator.tools import RUFF_RULES, run_mypy, run_ruff

LAYOUT_PROTOS = sorted(
    p.relative_to(CORPUS).as_posix() for p in (CORPUS / "layout").rglob("*.proto")
)


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


def test_modules_sit_where_protoc_and_mypy_protobuf_put_them(
    corpus_package: Path, tmp_path: Path
) -> None:
    """Dots and hyphens in file names: our layout is protoc's python_out and mypy-protobuf's."""
    bin_dir = Path(sys.executable).parent  # protoc-gen-mypy is installed beside this python
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "grpc_tools.protoc", f"-I{CORPUS}", "-Iprotos"),
            *(f"--python_out={tmp_path}", f"--mypy_out={tmp_path}", *LAYOUT_PROTOS),
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    theirs = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*_pb2.py*")}
    assert theirs == {
        "layout/k8s/min_pb2.py",
        "layout/k8s/min_pb2.pyi",
        "layout/my_api/pod_status_pb2.py",
        "layout/my_api/pod_status_pb2.pyi",
        "layout/public/base_pb2.py",
        "layout/public/base_pb2.pyi",
        "layout/public/reexport_pb2.py",
        "layout/public/reexport_pb2.pyi",
        "layout/public/user_pb2.py",
        "layout/public/user_pb2.pyi",
    }
    ours = {p.relative_to(corpus_package).as_posix() for p in corpus_package.rglob("*_pb2.py*")}
    assert theirs <= ours
    # Each x_sb.py sits next to the x_pb2.py it imports.
    for stem in ("layout/k8s/min", "layout/my_api/pod_status", "layout/public/user"):
        assert (corpus_package / f"{stem}_sb.py").is_file()
    min_sb = (corpus_package / "layout/k8s/min_sb.py").read_text()
    assert "from . import min_pb2" in min_sb


def test_import_public_is_re_exported_relatively(corpus_package: Path) -> None:
    module = (corpus_package / "layout/public/reexport_pb2.py").read_text()
    assert "from ..k8s.min_pb2 import *" in module
    assert "from ..my_api.pod_status_pb2 import *" in module
    assert "from .base_pb2 import *" in module
    stub = (corpus_package / "layout/public/reexport_pb2.pyi").read_text()
    assert "from ..k8s.min_pb2 import Pod as Pod" in stub
    reexport = importlib.import_module("corpus_gen.layout.public.reexport_pb2")
    k8s = importlib.import_module("corpus_gen.layout.k8s.min_pb2")
    status = importlib.import_module("corpus_gen.layout.my_api.pod_status_pb2")
    assert reexport.Pod is k8s.Pod
    assert reexport.PodStatus is status.PodStatus
    assert reexport.Base is importlib.import_module("corpus_gen.layout.public.base_pb2").Base
    user = importlib.import_module("corpus_gen.layout.public.user_sb")
    assert user.USERS_SERVICE.method("inspect").request is k8s.Pod


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

    # Built with type(): the generated module is imported by name, so mypy cannot see its classes.
    incomplete = type("Incomplete", (accounts.AccountsHandler,), {})

    with pytest.raises(TypeError, match="abstract method"):
        incomplete()


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
    """An invoker the deprecation test never reaches (the coroutine is closed unawaited). It
    has the Invoker protocol's methods: a client binds them when it is built."""

    def _never(self, *args: object) -> None:
        raise AssertionError("the deprecation test called the invoker")

    unary = server_stream = client_stream = bidi_stream = _never


def test_the_stub_worker_is_not_forked_from_a_threaded_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fork() in a process with other threads (this one has gRPC's and a waiting thread) can
    leave the child with locks that are never released; sb-gen then makes the stubs itself."""
    from generator.render import message_modules

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("forked a worker from a multi-threaded process")

    monkeypatch.setattr(message_modules, "ProcessPoolExecutor", no_pool)
    release = threading.Event()
    waiting = threading.Thread(target=release.wait)
    waiting.start()
    try:
        files = [descriptor_pb2.FileDescriptorProto(name=f"f{i}.proto") for i in range(20)]
        stubs = message_modules.stub_modules(files, [f.name for f in files])()
    finally:
        release.set()
        waiting.join()
    assert sorted(stubs) == sorted(f"f{i}_pb2.pyi" for i in range(20))
