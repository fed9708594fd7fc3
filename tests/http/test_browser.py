"""One GET and one POST from a page in headless Chromium (Debian's package) to the running
gateway, cross-origin: allowed by the gateway's CORS origins, refused by one without them."""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import runtime_lib as sb
from tests._generated.http_library.library_gateway import library_gateway
from tests._generated.http_library.library_sb import LibraryClient
from tests.generator.test_catalog import CHROMIUM_FLAGS, chromium  # noqa: F401  (the fixture)

from .library_service import Library
from .serving import serving

PAGE = """<!doctype html>
<html><body><pre id="out"></pre><script>
async function attempt(label, url, init) {
  try {
    const response = await fetch(url, init);
    return [label, response.status, await response.json()];
  } catch (error) {
    return [label, "refused", String(error.name)];
  }
}
(async () => {
  const results = [
    await attempt("get", "ALLOWED/v1/books/b1"),
    await attempt("post", "ALLOWED/v1/shelves", {
      method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({id: "s1", theme: "from the page"}),
    }),
    await attempt("no cors", "CLOSED/v1/books/b1"),
  ];
  document.getElementById("out").textContent = JSON.stringify(results);
  document.body.setAttribute("data-done", "yes");  // the marker the test waits for
})();
</script></body></html>
"""


async def test_get_and_post_from_a_browser_page_with_cors(tmp_path: Path, chromium: str) -> None:  # noqa: F811
    library = sb.Bridge("library", events="memory", data_dir=tmp_path / "library")
    library.serve(Library())
    async with library:
        client = library.client(LibraryClient, service="library")
        html: list[str] = []  # the page, once the gateways have their URLs

        async def page(request: Request) -> HTMLResponse:
            return HTMLResponse(html[0])

        site = Starlette(routes=[Route("/", page)])
        async with serving(site) as page_url:
            allowed_app = library_gateway(client, cors_origins=[page_url])
            async with serving(allowed_app) as allowed, serving(library_gateway(client)) as closed:
                html.append(PAGE.replace("ALLOWED", allowed).replace("CLOSED", closed))
                profile = tmp_path / "profile"
                profile.mkdir()
                process = await asyncio.create_subprocess_exec(
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    # Virtual time does not advance while a fetch is in flight: the DOM is
                    # dumped once the page's script has finished.
                    "--virtual-time-budget=60000",
                    "--dump-dom",
                    page_url + "/",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                stdout, stderr = await process.communicate()
    dom = stdout.decode()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert 'data-done="yes"' in dom, dom
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found is not None
    results = json.loads(unescape(found.group(1)))
    assert results == [
        [
            "get",
            200,
            {"name": "b1", "title": "title of b1", "genre": "POETRY", "pages": "12345678901"},
        ],
        ["post", 200, {"id": "s1", "theme": "from the page"}],
        ["no cors", "refused", "TypeError"],
    ]
