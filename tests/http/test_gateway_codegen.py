"""sb-gen's gateway generation: ``x_gateway.py`` for a file with ``google.api.http`` bindings,
clean under ruff and ``mypy --strict``; bindings that name what the messages do not hold are
reported with their place, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.compiler import plugin_pb2

from generator import plugin
from generator.frontends.inputs import resolve_inputs
from generator.frontends.proto import compile_protos
from tests.generator.tools import RUFF_RULES, run_mypy, run_ruff, sb_gen

from .conftest import PROTO

HEADER = """syntax = "proto3";
package t;
import "google/api/annotations.proto";
message Inner { string id = 1; repeated string ids = 2; }
message Req { string name = 1; Inner inner = 2; repeated string tags = 3; }
message Rep { string name = 1; }
"""


def test_generated_gateway_passes_ruff_and_mypy_strict(tmp_path: Path) -> None:
    result = sb_gen(PROTO, "-o", tmp_path / "gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    gateway = tmp_path / "gen" / "library_gateway.py"
    # Only the importing file's own package is generated: google/api comes installed.
    assert not (tmp_path / "gen" / "google").exists()
    lint = run_ruff("check", "--select", RUFF_RULES, "--isolated", str(gateway), cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout
    fmt = run_ruff("format", "--check", "--isolated", str(gateway), cwd=tmp_path)
    assert fmt.returncode == 0, fmt.stdout
    typed = run_mypy(tmp_path / "gen", cwd=tmp_path)
    assert typed.returncode == 0, typed.stdout


def test_a_file_without_bindings_gets_no_gateway(tmp_path: Path) -> None:
    proto = tmp_path / "plain.proto"
    proto.write_text(HEADER + "service S { rpc Get(Req) returns (Rep); }\n")
    result = sb_gen(proto, "-o", tmp_path / "gen", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "gen" / "plain_gateway.py").exists()


@pytest.mark.parametrize(
    ("rpc", "expected"),
    [
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{nope}" }; }',
            "bad.proto:8:1: rpc Get: path variable {nope}: Req has no field 'nope'",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{inner}" }; }',
            "path variable {inner}: 'inner' is a message; bind one of its fields (inner.x)",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{tags}" }; }',
            "path variable {tags}: 'tags' is repeated",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{name.x}" }; }',
            "path variable {name.x}: 'name' is not a message, so it has no field 'x'",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/x" body: "*" }; }',
            "a GET binding cannot take a body",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { post: "/v1/x" body: "b" }; }',
            "body 'b' is not a field of t.Req",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { post: "/v1/x" response_body: "r" }; }',
            "response_body 'r' is not a field of t.Rep",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "v1/x" }; }',
            "path template 'v1/x' is malformed",
        ),
        (
            'rpc Get(stream Req) returns (Rep) { option (google.api.http) = { post: "/v1/x" body: "*" }; }',
            "google.api.http on a client-streaming rpc is not supported by the gateway",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/a" '
            'additional_bindings { get: "/b" additional_bindings { get: "/c" } } }; }',
            "an additional binding has additional_bindings of its own",
        ),
        (
            'rpc Get(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{name}" }; }\n'
            'rpc Put(Req) returns (Rep) { option (google.api.http) = { get: "/v1/{inner.id}" }; }',
            "rpc Put: GET /v1/{inner.id} is already bound to Get",
        ),
    ],
)
def test_bad_bindings_are_reported_with_their_place(
    tmp_path: Path, rpc: str, expected: str
) -> None:
    proto = tmp_path / "bad.proto"
    proto.write_text(HEADER + "service S {\n" + rpc + "\n}\n")
    result = sb_gen(proto, "-o", tmp_path / "gen", cwd=tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr, result.stderr
    assert not (tmp_path / "gen").exists()


def test_the_protoc_plugin_writes_the_gateway_too(tmp_path: Path) -> None:
    proto = tmp_path / "api.proto"
    proto.write_text(
        HEADER + "service S { rpc Get(Req) returns (Rep) { option (google.api.http) = "
        '{ get: "/v1/{inner.id}" }; } }\n'
    )
    inputs = resolve_inputs([proto], [])
    request = plugin_pb2.CodeGeneratorRequest(
        file_to_generate=["api.proto"],
        proto_file=compile_protos(["api.proto"], inputs.include),
    )
    response = plugin.generate(request)
    assert response.error == ""
    files = {f.name: f.content for f in response.file}
    assert set(files) == {"api_sb.py", "api_gateway.py"}
    assert 'path="/v1/{inner.id}"' in files["api_gateway.py"]
