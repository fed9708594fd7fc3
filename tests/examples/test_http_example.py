"""examples/http: a FastAPI front with the middleware, a hand-written route and the generated
gateway mounted at /api, in front of the Books service, as processes on mutual TLS (the caller
named by its certificate, a client without one refused); its code type-checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.generator.tools import REPO, run_mypy

EXAMPLE = REPO / "examples" / "http"


def test_http_example_runs_end_to_end() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "client: without a certificate -> refused by the TLS handshake" in out
    assert 'client: GET /whoami -> 200 {"caller": "shop"}' in out
    book = '{"author": "Herbert", "id": "b1", "title": "Dune"}'
    assert f"client: POST /api/v1/books -> 200 {book}" in out
    assert f"client: GET /api/v1/books/b1 -> 200 {book}" in out
    assert 'client: GET /shelf/b1 -> 200 {"shelf label": "Dune, by Herbert"}' in out
    assert "client: GET /api/v1/books/b2 -> 422" in out and '"handler_code": "NO_SUCH_BOOK"' in out
    assert "client: GET /api/v1/books/b1 -> 400" in out and '"field": "colour"' in out
    assert "client: openapi 3.1.0 paths ['/v1/books', '/v1/books/{id}']" in out
    assert "books: stopped" in out

    scripts = [EXAMPLE / f"{name}.py" for name in ("books", "front", "run")]
    typed = run_mypy(*scripts, cwd=EXAMPLE)
    assert typed.returncode == 0, typed.stdout
