"""The interop TestService generated twice: by sb-gen (client, handler base) and by grpc_tools'
``grpc_python_out`` (plain grpcio stub and servicer), for the gRPC interop cases in both
directions.

Both sides share protoc's own ``test_pb2`` module: the proto's path must stay
``grpc/testing/test.proto`` (message names are registered per file in protobuf's pool), and
protoc's plain layout for that path would be a ``grpc.testing`` package, which would shadow
grpcio itself. So the plain stub's one import of ``test_pb2`` is pointed at sb-gen's copy, which
is protoc's output byte for byte but for relative imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from generator.frontends.protoc import run_protoc, well_known_types_dir
from generator.pipeline import build_package
from generator.write import write_atomically
from tests.interop.node_peer import node_ready

PROTOS = Path(__file__).parent / "protos"
TEST_PROTO = PROTOS / "grpc" / "testing" / "test.proto"


@dataclass(frozen=True)
class Interop:
    sb: ModuleType  # sb-gen's test_sb: TestServiceClient, TestServiceHandler, ...
    pb2: ModuleType  # protoc's test_pb2: the messages
    plain: ModuleType  # grpc_tools' test_pb2_grpc: TestServiceStub, TestServiceServicer, ...


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable of the grpc-js peers, their packages installed."""
    return node_ready()


@pytest.fixture(scope="session")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    root = tmp_path_factory.mktemp("interop")
    write_atomically(root / "interop_testservice_gen", build_package([TEST_PROTO], [PROTOS]))
    code, err = run_protoc(
        [f"-I{PROTOS}", f"-I{well_known_types_dir()}", f"--grpc_python_out={root}", str(TEST_PROTO)]
    )
    assert code == 0, err
    stub = root / "grpc" / "testing" / "test_pb2_grpc.py"
    plain = root / "interop_plain_grpc.py"
    plain.write_text(
        stub.read_text().replace(
            "from grpc.testing import", "from interop_testservice_gen.grpc.testing import"
        )
    )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield Interop(
            sb=importlib.import_module("interop_testservice_gen.grpc.testing.test_sb"),
            pb2=importlib.import_module("interop_testservice_gen.grpc.testing.test_pb2"),
            plain=importlib.import_module("interop_plain_grpc"),
        )
    finally:
        sys.path.remove(str(root))
