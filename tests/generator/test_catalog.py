"""``sb-gen docs``: the static HTML catalog, loaded from file:// in a headless Chromium (Debian's
package; .ci/run installs it) and read back from the DOM the browser built."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.generator.conftest import REPO
from tests.generator.tools import sb_gen

PAYMENT = REPO / "protos" / "payment.proto"
SHOP = REPO / "examples" / "shop" / "shop.proto"
# Flags that work as root on a machine without a display, GPU or network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def browse(chromium: str, page: Path, profile: Path, *args: str) -> str:
    """Run Chromium on ``page`` with a fresh profile; its stdout."""
    profile.mkdir()
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Dom(HTMLParser):
    """The text under each element with an id, and the tags seen."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "source", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: dict[str, str] = {"": ""}
        self.tags: list[str] = []
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id") or ""
        self.text.setdefault(ident, "")
        self._open.append(ident)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in {*self._open, ""}:
            self.text[ident] += " " + data  # text of adjacent elements reads as words

    def words(self, ident: str = "") -> str:
        """The text as single-spaced words, no space before a comma or full stop."""
        return re.sub(r" (?=[.,](?: |$))", "", " ".join(self.text[ident].split()))


def contracts(*inputs: Path) -> dict[str, str]:
    result = sb_gen(*inputs, "--print-contracts", cwd=REPO)
    assert result.returncode == 0, result.stderr
    return dict(line.split("  ") for line in result.stdout.splitlines())


def test_catalog_of_payment_and_shop_in_a_browser(tmp_path: Path, chromium: str) -> None:
    result = sb_gen("docs", PAYMENT, SHOP, "-o", tmp_path / "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("index.html (3 services, 1 event)\n")
    page = tmp_path / "site" / "index.html"
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<script" not in html  # works offline, nothing to run

    dom = Dom(browse(chromium, page, tmp_path / "profile-dom", "--dump-dom"))
    assert "svg" in dom.tags
    assert dom.words("overview").startswith("Overview payment.proto Payment 3 rpcs Charge unary")
    assert "shop.proto Orders 1 rpc PlaceOrder unary Payment 1 rpc Charge unary" in dom.words(
        "overview"
    )
    assert "order.placed" in dom.words("overview")

    payment = dom.words("payment.v1.Payment")
    assert payment.startswith("payment.v1.Payment payment.proto Charges cards and reports")
    charge = dom.words("payment.v1.Payment/Charge")
    assert "Charges a card. Safe to retry with an idempotency key." in charge
    assert "2 amount int64 Amount in minor units (cents)." in charge
    assert "3 charged_at google.protobuf.Timestamp" in charge
    assert "Access policy: not declared" in charge
    assert "Allowed callers: orders" in dom.words("shop.Payment/Charge")
    assert "Allowed callers: storefront" in dom.words("shop.Orders/PlaceOrder")
    assert dom.words("payment.v1.Payment/ListCharges").startswith("ListCharges server stream")
    assert dom.words("payment.v1.Payment/LegacyCharge").startswith("LegacyCharge unary deprecated")

    event = dom.words("event-order.placed")
    assert event.startswith("event order.placed payload shop.OrderPlaced · shop.proto")
    assert "Published once an order is paid." in event
    assert "5 placed_at google.protobuf.Timestamp" in event
    assert "Publishers and subscribers: not declared in the protocol." in event
    assert "Declared in shop.proto with shop.Orders, shop.Payment." in event

    # Every contract hash sb-gen prints is on the page, next to its method or event.
    hashes = contracts(PAYMENT, SHOP)
    assert len(hashes) == 6
    for subject, contract_hash in hashes.items():
        if subject.startswith("event "):
            assert contract_hash in dom.words(f"event-{subject.removeprefix('event ')}")
        else:
            assert contract_hash in dom.words(subject)

    shot = tmp_path / "catalog.png"
    browse(
        chromium, page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400"
    )
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_every_kind_of_field_and_comments_that_look_like_markup(
    tmp_path: Path, chromium: str
) -> None:
    (tmp_path / "kinds.proto").write_text(
        """syntax = "proto3";
package kinds;
import "servicebridge/options.proto";

// Tags are <b>plain</b> text & stay so <script>alert(1)</script>
service Tree {
  rpc Walk(stream Node) returns (stream Node);
}

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
}

message Node {
  // the children, recursively
  repeated Node children = 1;
  map<string, Node> by_name = 2;
  optional Color color = 3;
  int32 old = 4 [deprecated = true];
}

message Grown {
  option (servicebridge.event) = { name: "tree.grown" };
  Node root = 1;
}
"""
    )
    result = sb_gen(
        "docs", "kinds.proto", "-o", "site", "--title", "Trees & <friends>", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    dom = Dom(
        browse(chromium, tmp_path / "site" / "index.html", tmp_path / "profile", "--dump-dom")
    )
    assert "script" not in dom.tags and "b" not in dom.tags
    assert "Tags are <b>plain</b> text & stay so <script>alert(1)</script>" in dom.words(
        "kinds.Tree"
    )
    assert dom.words("").startswith("Trees & <friends> · service catalog")
    assert "Trees & <friends> Service catalog generated by sb-gen from kinds.proto" in dom.words("")
    walk = dom.words("kinds.Tree/Walk")
    assert walk.startswith("Walk bidi stream")
    assert "request stream kinds.Node" in walk and "reply stream kinds.Node" in walk
    node = dom.words("kinds.Node")
    assert "1 children repeated kinds.Node the children, recursively" in node
    assert "2 by_name map<string, kinds.Node>" in node
    assert "3 color optional kinds.Color" in node
    assert "4 old deprecated int32" in node
    assert (
        dom.words("kinds.Color") == "kinds.Color enum kinds.proto # value 0 COLOR_UNSPECIFIED 1 RED"
    )
    assert "1 root kinds.Node" in dom.words("event-tree.grown")
    assert "Declared in kinds.proto with kinds.Tree." in dom.words("event-tree.grown")


def test_site_directory_is_replaced_only_when_sb_gen_wrote_it(tmp_path: Path) -> None:
    assert sb_gen("docs", PAYMENT, "-o", "site", "-q", cwd=tmp_path).stdout == ""
    again = sb_gen("docs", SHOP, "-o", "site", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "shop.Orders" in (tmp_path / "site" / "index.html").read_text()

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("<p>my own page</p>")
    refused = sb_gen("docs", PAYMENT, "-o", "mine", cwd=tmp_path)
    assert refused.returncode == 1
    assert "error: mine: directory is not empty and was not written by sb-gen" in refused.stderr
    assert (tmp_path / "mine" / "index.html").read_text() == "<p>my own page</p>"

    missing = sb_gen("docs", "nothere.proto", "-o", "site2", cwd=tmp_path)
    assert missing.returncode == 1 and "error: nothere.proto" in missing.stderr
    assert not (tmp_path / "site2").exists()
