"""mypy --strict catches the mistakes the generated types exist to catch."""

from __future__ import annotations

from pathlib import Path

from tests.generator.tools import run_mypy

USER_CODE = """
from corpus_gen.legacy import accounts_pb2, accounts_sb
import runtime_lib as sb


class WrongHandler(accounts_sb.AccountsHandler):
    async def open(self, request: accounts_pb2.Account) -> accounts_pb2.Account:  # no ctx
        return request


class Forgetful(accounts_sb.AccountsHandler):
    pass


handler = Forgetful()


async def call(client: accounts_sb.AccountsClient) -> None:
    reply = await client.open(accounts_pb2.Account(id="a"), timeout="1s", idempotency_key="k")
    reply.nickname
    await client.open("not a request")
    await client.open(accounts_pb2.Account(), timeuot=3)
"""


def test_mypy_reports_each_misuse(corpus_package: Path) -> None:
    user = corpus_package.parent / "user_code.py"
    user.write_text(USER_CODE)
    result = run_mypy(user, cwd=corpus_package.parent)
    out = result.stdout
    assert result.returncode == 1, out
    assert 'Signature of "open" incompatible with supertype' in out
    assert '"Account" has no attribute "nickname"' in out
    assert 'Argument 1 to "open" of "AccountsClient" has incompatible type "str"' in out
    assert 'Unexpected keyword argument "timeuot"' in out
    assert 'Cannot instantiate abstract class "Forgetful" with abstract attribute "open"' in out
    # The correct call type-checks: no error is reported on its line.
    assert "user_code.py:19:" not in out
    assert "user_code.py:20:" in out  # the next line, reading a missing field, is caught
    assert "Found 5 errors" in out
