"""``sb-gen scaffold`` as a user runs it: a handler module to fill in, re-runs that add methods and
leave the user's code byte for byte, and the ``sb-gen INPUTS -o OUT`` form next to the commands."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import libcst
import pytest

from generator.write_imports import add_imports
from tests.generator.conftest import REPO
from tests.generator.tools import RUFF_RULES, run_mypy, run_ruff, sb_gen

PROTO = (REPO / "protos" / "payment.proto").read_text()

# Two new rpcs, one of them client streaming on a well-known type the file does not import yet;
# LegacyCharge removed.
GROWN = (
    PROTO.replace(
        'import "google/protobuf/timestamp.proto";',
        'import "google/protobuf/timestamp.proto";\nimport "google/protobuf/empty.proto";',
    ).replace(
        """  // Deprecated: use Charge.
  rpc LegacyCharge(ChargeRequest) returns (ChargeReply) {
    option deprecated = true;
  }
""",
        """  // Gives a charge back.
  rpc Refund(RefundRequest) returns (ChargeReply);
  // Reads audit pings until the caller stops.
  rpc Audit(stream google.protobuf.Empty) returns (ChargeReply);
""",
    )
    + "\nmessage RefundRequest {\n  string transaction_id = 1;\n}\n"
)

# What a user makes of the scaffold: odd spacing, comments, a helper, a constant, an import.
HAND_EDITS = {
    "from gen.payment_sb import PaymentHandler\n": (
        "from gen.payment_sb import PaymentHandler\n\nFEE   =  30  # cents;   spacing kept\n"
    ),
    '    """Charges cards and reports on charges."""\n': (
        '    """Charges cards, for real now."""\n\n'
        "    # helpers first, the way this team likes it\n"
        "    def _tx(self, user: str) -> str:\n"
        '        return "tx-" + user   # no f-string, on purpose\n'
    ),
    '        """Charges a card. Safe to retry with an idempotency key."""\n        raise NotImplementedError\n': (
        '        """Charges a card."""\n'
        "        return payment_pb2.ChargeReply(transaction_id=self._tx(request.user_id),\n"
        "                                       ok=True)  # aligned by hand\n"
    ),
}


def scaffold(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sb_gen("scaffold", "payment.proto", "-o", "payment_handler.py", *args, cwd=work)


def generate(work: Path) -> None:
    result = sb_gen("payment.proto", "-o", "gen", cwd=work)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "payment.proto").write_text(PROTO)
    generate(tmp_path)
    return tmp_path


def assert_clean(work: Path, path: Path, *, formatted: bool) -> None:
    checked = run_ruff("check", "--no-cache", "--select", RUFF_RULES, str(path), cwd=work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if formatted:
        fmt = run_ruff("format", "--no-cache", "--check", str(path), cwd=work)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    typed = run_mypy(path, cwd=work)
    assert typed.returncode == 0, typed.stdout + typed.stderr


def instantiate(work: Path) -> None:
    """The class implements every abstract method of the generated base."""
    subprocess.run(
        [sys.executable, "-c", "from payment_handler import Payment; Payment()"],
        cwd=work,
        check=True,
        timeout=60,
    )


def test_round_trip_keeps_hand_edits_and_adds_new_rpcs(work: Path) -> None:
    first = scaffold(work)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "sb-gen: wrote payment_handler.py (3 methods to fill in)\n"
    handler = work / "payment_handler.py"
    assert_clean(work, handler, formatted=True)
    instantiate(work)

    edited = handler.read_text()
    for old, new in HAND_EDITS.items():
        assert old in edited
        edited = edited.replace(old, new)
    handler.write_text(edited)
    assert_clean(work, handler, formatted=False)

    (work / "payment.proto").write_text(GROWN)
    generate(work)
    result = scaffold(work)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "sb-gen: added refund(), audit() to payment_handler.py\n"
    assert "kept legacy_charge(): no rpc of that name any more" in result.stderr

    merged = handler.read_text()
    # Only insertions: every byte of the hand-edited file is still there, in order.
    opcodes = difflib.SequenceMatcher(None, edited, merged, autojunk=False).get_opcodes()
    assert {tag for tag, *_ in opcodes} == {"equal", "insert"}
    for new in HAND_EDITS.values():
        assert new in merged
    # The new import sits in its isort section, after runtime_lib, before the output package.
    assert (
        "import runtime_lib as sb\n"
        "from google.protobuf import empty_pb2 as google_protobuf_empty_pb2\n\n"
        "from gen import payment_pb2\n"
    ) in merged
    assert "async def legacy_charge(" in merged  # reported, never deleted
    assert (
        "    async def refund(\n        self,\n        request: payment_pb2.RefundRequest,"
        in merged
    )
    assert '        """Gives a charge back."""\n        raise NotImplementedError\n' in merged
    assert "requests: AsyncIterator[google_protobuf_empty_pb2.Empty]," in merged
    assert_clean(work, handler, formatted=False)
    instantiate(work)

    again = scaffold(work)
    assert again.returncode == 0 and again.stdout == "sb-gen: payment_handler.py has every method\n"
    assert handler.read_text() == merged


def test_check_lists_missing_methods_and_writes_nothing(work: Path) -> None:
    absent = scaffold(work, "--check")
    assert absent.returncode == 1
    assert not (work / "payment_handler.py").exists()
    assert scaffold(work).returncode == 0
    assert scaffold(work, "--check").returncode == 0

    handler = work / "payment_handler.py"
    before = handler.read_bytes()
    (work / "payment.proto").write_text(GROWN)
    generate(work)
    result = scaffold(work, "--check")
    assert result.returncode == 1
    assert result.stdout == (
        "missing: payment_handler.py: refund()\nmissing: payment_handler.py: audit()\n"
    )
    assert "2 methods missing; run sb-gen scaffold" in result.stderr
    assert handler.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "class Payment(PaymentHandler):\n    def x(self) -> None\n",
            "payment_handler.py:2:24: is not valid Python (expected ':')",
        ),
        (
            "class Payment:\n    pass\n",
            "payment_handler.py: has no top-level class subclassing PaymentHandler",
        ),
        (
            "class A(PaymentHandler):\n    pass\n\n\nclass B(payment_sb.PaymentHandler):\n    pass\n",
            "payment_handler.py: has 2 classes subclassing PaymentHandler (lines 1, 5)",
        ),
        (
            "from gen.payment_sb import PaymentHandler\nclass Payment(PaymentHandler): pass\n",
            "payment_handler.py:2:1: sb-gen cannot add methods to class Payment: its body is on "
            "the class line",
        ),
    ],
    ids=["syntax-error", "no-handler-class", "two-handler-classes", "one-line-class"],
)
def test_a_file_it_cannot_follow_gets_a_message_not_a_rewrite(
    work: Path, text: str, expected: str
) -> None:
    handler = work / "payment_handler.py"
    handler.write_text(text)
    result = scaffold(work)
    assert result.returncode == 1
    assert f"error: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert handler.read_text() == text


def test_service_choice_among_several(tmp_path: Path) -> None:
    shop = REPO / "examples" / "shop" / "shop.proto"
    several = sb_gen("scaffold", shop, "-o", "h.py", cwd=tmp_path)
    assert several.returncode == 1
    assert "2 services declared (declared: shop.Orders, shop.Payment)" in several.stderr
    assert "pass --service" in several.stderr
    unknown = sb_gen("scaffold", shop, "-o", "h.py", "--service", "Nope", cwd=tmp_path)
    assert unknown.returncode == 1 and "no service named 'Nope'" in unknown.stderr
    assert not (tmp_path / "h.py").exists()

    chosen = sb_gen(
        "scaffold",
        shop,
        "-o",
        "orders.py",
        "--service",
        "Orders",
        "--package",
        "app.gen",
        cwd=tmp_path,
    )
    assert chosen.returncode == 0, chosen.stderr
    text = (tmp_path / "orders.py").read_text()
    assert "from app.gen import shop_pb2\nfrom app.gen.shop_sb import OrdersHandler\n" in text
    assert "class Orders(OrdersHandler):" in text
    assert "async def place_order(" in text and "def charge(" not in text


def test_generate_is_still_the_default_command(work: Path) -> None:
    """Adding commands keeps ``sb-gen INPUTS -o OUT`` (options anywhere) working as before; a
    directory named like a command is reached as ``./docs`` or with ``generate``."""
    for args in (
        ("payment.proto", "-o", "out1"),
        ("-o", "out2", "payment.proto"),
        ("generate", "payment.proto", "-o", "out3"),
    ):
        result = sb_gen(*args, cwd=work)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("sb-gen: wrote 5 files to out")
    (work / "docs").mkdir()
    (work / "docs" / "payment.proto").write_text(PROTO)
    assert sb_gen("./docs", "-o", "out4", cwd=work).returncode == 0
    assert sb_gen("generate", "docs", "-o", "out5", cwd=work).returncode == 0
    assert (work / "out5" / "payment_sb.py").read_bytes() == (
        work / "out1/payment_sb.py"
    ).read_bytes()

    missing = sb_gen(cwd=work)
    assert missing.returncode == 2 and "Missing argument 'INPUTS...'" in missing.stderr
    helptext = sb_gen("--help", cwd=work)
    assert helptext.returncode == 0
    assert "  sb-gen scaffold  " in helptext.stdout and "  sb-gen docs  " in helptext.stdout
    assert sb_gen("-V", cwd=work).stdout.startswith("sb-gen, version ")
    assert "--package" in sb_gen("scaffold", "--help", cwd=work).stdout


@pytest.mark.parametrize(
    ("before", "needed", "after"),
    [
        (  # joins a one-line from-import, in isort's order
            "from gen import payment_pb2\n",
            [("gen", "common_pb2", "")],
            "from gen import common_pb2, payment_pb2\n",
        ),
        (  # joins a parenthesized one at its end, keeping its shape
            "from gen import (\n    a_pb2,\n    b_pb2,\n)\n",
            [("gen", "c_pb2", "")],
            "from gen import (\n    a_pb2,\n    b_pb2,\n    c_pb2,\n)\n",
        ),
        (  # a new stdlib section goes above the third-party one, blank lines kept in place
            '"""Doc."""\n\nfrom __future__ import annotations\n\nimport runtime_lib as sb\n',
            [("collections.abc", "AsyncIterator", "")],
            '"""Doc."""\n\nfrom __future__ import annotations\n\n'
            "from collections.abc import AsyncIterator\n\nimport runtime_lib as sb\n",
        ),
        (  # first in its section: the section's blank line moves above it
            "import os\n\nimport runtime_lib as sb\n",
            [("google.protobuf", "empty_pb2", "google_protobuf_empty_pb2"), ("", "abc", "")],
            "import abc\nimport os\n\nimport runtime_lib as sb\n"
            "from google.protobuf import empty_pb2 as google_protobuf_empty_pb2\n",
        ),
        (  # already bound: nothing changes
            "import runtime_lib as sb\nfrom gen import payment_pb2\n",
            [("", "runtime_lib", "sb"), ("gen", "payment_pb2", "")],
            "import runtime_lib as sb\nfrom gen import payment_pb2\n",
        ),
    ],
    ids=["join-one-line", "join-parenthesized", "new-section", "first-in-section", "bound"],
)
def test_imports_land_where_isort_puts_them(
    before: str, needed: list[tuple[str, str, str]], after: str
) -> None:
    assert add_imports(libcst.parse_module(before), needed, "gen").code == after
