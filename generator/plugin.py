"""Entry point ``protoc-gen-sb``: the same pipeline as sb-gen, as a protoc/buf plugin.

    protoc -I protos --python_out=gen --mypy_out=gen --sb_out=gen protos/payment.proto

Writes ``x_sb.py`` (and ``x_gateway.py`` for ``google.api.http`` bindings) for each file to
generate; protoc's ``python_out`` and mypy-protobuf's
``mypy_out`` write the message modules (their imports stay protoc's usual absolute ones).
"""

from __future__ import annotations

import sys

from google.protobuf.compiler import plugin_pb2

from generator.errors import GeneratorError
from generator.pipeline import generate_gateway_modules, generate_sb_modules


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    try:
        modules = generate_sb_modules(request.proto_file, request.file_to_generate)
        gateways = generate_gateway_modules(request.proto_file, request.file_to_generate)
    except GeneratorError as exc:
        response.error = str(exc)
        return response
    for module, content in modules:
        response.file.add(name=module.path, content=content)
    for path, content in gateways.items():
        response.file.add(name=path, content=content)
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
