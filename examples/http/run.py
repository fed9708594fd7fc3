"""One command for the whole example: generate, issue certificates with sb-certs, start Books
and the HTTP front (both on mutual TLS), call the front with httpx as another team's service
(``shop``, with its own certificate) would, stop.

python examples/http/run.py
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
# The front's certificate names front.example.org; we dial 127.0.0.1 and check that name.
FRONT_NAME = "front.example.org"


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


def issue_certificates(certs: Path) -> None:
    """A CA for example.org and a certificate per service: Books, the front, and shop, the
    client calling the front."""
    subprocess.run(
        ["sb-certs", "init", "--trust-domain", "example.org", "--dir", certs], check=True
    )
    for service in ("books", "front", "shop"):
        subprocess.run(["sb-certs", "issue", service, "--dir", certs], check=True)


def tls_client(front: str, certs: Path, service: str | None) -> httpx.Client:
    """An HTTPS client trusting the CA, presenting ``service``'s certificate if given."""
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    if service is not None:
        context.load_cert_chain(certs / f"{service}.crt", certs / f"{service}.key")

    def check_front(request: httpx.Request) -> None:
        request.extensions["sni_hostname"] = FRONT_NAME

    return httpx.Client(
        base_url=front, verify=context, timeout=30, event_hooks={"request": [check_front]}
    )


def calls(front: str, certs: Path) -> None:
    with tls_client(front, certs, None) as stranger:
        try:
            stranger.get("/whoami")
        except httpx.TransportError:
            print("client: without a certificate -> refused by the TLS handshake", flush=True)
    with tls_client(front, certs, "shop") as http:
        show(http.get("/whoami"))
        show(http.post("/api/v1/books", json={"id": "b1", "title": "Dune", "author": "Herbert"}))
        show(http.get("/api/v1/books/b1"))
        show(http.get("/shelf/b1"))
        show(http.get("/api/v1/books/b2"))  # the handler's error, as HTTP 422
        show(http.get("/api/v1/books/b1", params={"colour": "red"}))  # unknown field: 400
        document = http.get("/api/openapi.json").json()
        print(f"client: openapi {document['openapi']} paths {sorted(document['paths'])}")


def main() -> int:
    subprocess.run(["sb-gen", str(HERE / "bookshop.proto"), "-o", str(HERE / "gen")], check=True)
    certs = Path(tempfile.mkdtemp(prefix="sb-http-example-"))
    issue_certificates(certs)
    books_address = f"127.0.0.1:{free_port()}"
    port = free_port()
    started: list[subprocess.Popen[str]] = []
    try:
        for command in (
            ["books.py", books_address, str(certs)],
            ["front.py", books_address, str(port), str(certs)],
        ):
            process = subprocess.Popen(
                [sys.executable, *command], cwd=HERE, stdout=subprocess.PIPE, text=True
            )
            started.append(process)
            assert process.stdout is not None
            print(process.stdout.readline(), end="", flush=True)  # once it listens
        calls(f"https://127.0.0.1:{port}", certs)
    finally:
        for process in reversed(started):
            process.terminate()
            assert process.stdout is not None
            print(process.stdout.read(), end="")
            process.wait(30)
        shutil.rmtree(certs)  # the example's CA key goes with it
    return 0


if __name__ == "__main__":
    began = time.monotonic()
    code = main()
    print(f"example finished in {time.monotonic() - began:.1f}s with exit code {code}")
    sys.exit(code)
