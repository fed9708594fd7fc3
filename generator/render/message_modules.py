"""Stage render, message modules: ``x_pb2.py`` from protoc's python_out and ``x_pb2.pyi`` from mypy-protobuf.

Both run in this process over the descriptor set; neither is re-implemented here.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from google.protobuf import descriptor_pb2 as d
from google.protobuf.compiler import plugin_pb2
from mypy_protobuf.main import Descriptors, generate_mypy_stubs

from generator.errors import Diagnostic, GeneratorError
from generator.frontends.protoc import run_protoc
from generator.model import naming

# protoc's and mypy-protobuf's output is theirs, not ours to restyle: exempt it from the user's
# linter (x_sb.py, which sb-gen writes, is lint-clean without exemptions).
LINT_EXEMPT = "# ruff: noqa\n"


def python_modules(
    files: Sequence[d.FileDescriptorProto], to_generate: Sequence[str]
) -> dict[str, str]:
    """``x_pb2.py`` for each file in ``to_generate``, keyed by output path."""
    with tempfile.TemporaryDirectory(prefix="sb-gen-") as tmp:
        set_path = Path(tmp, "set.pb")
        descriptor_set = d.FileDescriptorSet(file=files)
        for f in descriptor_set.file:
            # Comments are not needed for message classes; without them protoc reads the set
            # in half the time.
            f.ClearField("source_code_info")
            _drop_default_json_names(f.message_type)
        set_path.write_bytes(descriptor_set.SerializeToString())
        out = Path(tmp, "out")
        out.mkdir()
        code, err = run_protoc(
            [f"--descriptor_set_in={set_path}", f"--python_out={out}", *to_generate]
        )
        if code != 0:
            raise GeneratorError(Diagnostic(to_generate[0], f"protoc python_out failed: {err}"))
        return {
            path: LINT_EXEMPT + (out / path).read_text("utf-8")
            for path in (naming.module_path(name, "_pb2.py") for name in to_generate)
        }


def _drop_default_json_names(messages: Iterable[d.DescriptorProto]) -> None:
    """Keep only explicit ``json_name``s, as protoc does when it compiles a .proto itself.

    The descriptor set carries every field's computed JSON name; left in, x_pb2.py would embed a
    descriptor that differs from plain protoc's for the same file, and the two could not be
    loaded in one process.
    """
    for m in messages:
        for field in m.field:
            if field.json_name == _default_json_name(field.name):
                field.ClearField("json_name")
        _drop_default_json_names(m.nested_type)


def _default_json_name(name: str) -> str:
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def stub_modules(
    files: Sequence[d.FileDescriptorProto], to_generate: Sequence[str]
) -> Callable[[], dict[str, str]]:
    """Start making ``x_pb2.pyi`` for each file in ``to_generate``; call the result to get them.

    mypy-protobuf (called as a library) is the slowest step of a large run and pure Python, so
    for many files it runs in a forked worker while this process makes everything else: on two
    cores that is what keeps sb-gen as fast as protoc plus mypy-protobuf alone.
    """
    request = plugin_pb2.CodeGeneratorRequest(file_to_generate=to_generate, proto_file=files)
    data = request.SerializeToString()
    if len(to_generate) < _PARALLEL_FROM or not _safe_to_fork():
        stubs = _stubs(data)
        return lambda: stubs
    pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork"))
    future = pool.submit(_stubs, data)
    pool.shutdown(wait=False)
    return future.result


_PARALLEL_FROM = 16  # below this, forking costs more than it saves


def _safe_to_fork() -> bool:
    """Only a single-threaded process may fork: the child gets a copy of the memory but only the
    calling thread, so locks held by other threads (gRPC's, a thread pool's) stay held forever
    and their half-updated state is inherited (seen: the worker segfaulting when sb-gen's
    pipeline ran inside a test process with gRPC channels open). The sb-gen command is single
    threaded; a program calling the pipeline as a library may not be, and then it runs in this
    process. /proc/self/task lists native threads too; without it, don't fork."""
    if "fork" not in mp.get_all_start_methods():
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _stubs(request_bytes: bytes) -> dict[str, str]:
    request = plugin_pb2.CodeGeneratorRequest.FromString(request_bytes)
    response = plugin_pb2.CodeGeneratorResponse()
    generate_mypy_stubs(Descriptors(request), response, True, False, False, False, False)
    # "Y015" is flake8-pyi's code; ruff reports unknown codes in noqa comments even so.
    return {f.name: LINT_EXEMPT + f.content.replace("  # noqa: Y015", "") for f in response.file}
