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


SYNC_USER_CODE = """
from collections.abc import Iterator

from google.protobuf import empty_pb2

import runtime_lib as sb
from corpus_gen.legacy import accounts_pb2, accounts_sb
from corpus_gen.shop.v1 import catalog_pb2, catalog_sb


def fine(caller: sb.SyncBridge) -> int:
    accounts = caller.client(accounts_sb.AccountsSyncClient, service="accounts")
    opened: accounts_pb2.Account = accounts.open(accounts_pb2.Account(id="a"), timeout="1s")
    catalog = caller.client(catalog_sb.CatalogSyncClient, address="127.0.0.1:50051")
    products: Iterator[catalog_pb2.Product] = catalog.list_products(empty_pb2.Empty())
    echoed: Iterator[catalog_pb2.Product] = catalog.sync(iter([catalog_pb2.Product()]))
    return catalog.upload([catalog_pb2.Product()]).value + len(list(products)) + len(opened.id)


async def wrong(caller: sb.SyncBridge) -> None:
    accounts = caller.client(accounts_sb.AccountsSyncClient, service="accounts")
    accounts.open("not a request")
    accounts.open(accounts_pb2.Account(), timeuot=3)
    catalog = caller.client(catalog_sb.CatalogSyncClient, service="catalog")
    catalog.upload(catalog_pb2.Product())
    await accounts.open(accounts_pb2.Account())
    caller.client(accounts_sb.AccountsClient, service="accounts")
"""


def test_mypy_reports_each_misuse_of_a_sync_client(corpus_package: Path) -> None:
    user = corpus_package.parent / "sync_user_code.py"
    user.write_text(SYNC_USER_CODE)
    result = run_mypy(user, cwd=corpus_package.parent)
    out = result.stdout
    assert result.returncode == 1, out
    assert 'Argument 1 to "open" of "AccountsSyncClient" has incompatible type "str"' in out
    assert 'Unexpected keyword argument "timeuot" for "open" of "AccountsSyncClient"' in out
    assert 'Argument 1 to "upload" of "CatalogSyncClient" has incompatible type "Product"' in out
    assert 'Incompatible types in "await" (actual type "Account"' in out  # not a coroutine
    assert 'Value of type variable "C" of "client" of "SyncBridge" cannot be' in out
    # The correct calls (lines 12 to 18) type-check: no error is reported on them.
    assert not [line for line in out.splitlines() if line.startswith("sync_user_code.py:1")], out
    assert "Found 5 errors" in out
