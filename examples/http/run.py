"""One command for the whole example: generate, start Books and the HTTP front, call the front
with httpx as a browser or another team's service would, stop.

python examples/http/run.py
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def show(response: httpx.Response) -> None:
    print(
        f"client: {response.request.method} {response.request.url.path} -> "
        f"{response.status_code} {json.dumps(response.json(), sort_keys=True)}",
        flush=True,
    )


def calls(front: str) -> None:
    with httpx.Client(base_url=front, timeout=30) as http:
        show(http.post("/api/v1/books", json={"id": "b1", "title": "Dune", "author": "Herbert"}))
        show(http.get("/api/v1/books/b1"))
        show(http.get("/shelf/b1"))
        show(http.get("/api/v1/books/b2"))  # the handler's error, as HTTP 422
        show(http.get("/api/v1/books/b1", params={"colour": "red"}))  # unknown field: 400
        document = http.get("/api/openapi.json").json()
        print(f"client: openapi {document['openapi']} paths {sorted(document['paths'])}")


def main() -> int:
    subprocess.run(["sb-gen", str(HERE / "bookshop.proto"), "-o", str(HERE / "gen")], check=True)
    books_address = f"127.0.0.1:{free_port()}"
    port = free_port()
    started: list[subprocess.Popen[str]] = []
    try:
        for command in (["books.py", books_address], ["front.py", books_address, str(port)]):
            process = subprocess.Popen(
                [sys.executable, *command], cwd=HERE, stdout=subprocess.PIPE, text=True
            )
            started.append(process)
            assert process.stdout is not None
            print(process.stdout.readline(), end="", flush=True)  # once it listens
        calls(f"http://127.0.0.1:{port}")
    finally:
        for process in reversed(started):
            process.terminate()
            assert process.stdout is not None
            print(process.stdout.read(), end="")
            process.wait(30)
    return 0


if __name__ == "__main__":
    began = time.monotonic()
    code = main()
    print(f"example finished in {time.monotonic() - began:.1f}s with exit code {code}")
    sys.exit(code)
