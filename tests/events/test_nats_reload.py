"""``reload_config`` on a real nats-server: it returns once the server applied its new config
file, and says why when the server refused it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from runtime_lib import ConfigError
from runtime_lib._nats_server import NatsServer, reload_config

pytestmark = pytest.mark.timeout(60)


def users(*names: str) -> str:
    entries = ", ".join(f"{{user: {n}, password: pw-{n}}}" for n in names)
    return f"authorization {{ users = [ {entries} ] }}\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    config = tmp_path / "nats.conf"
    config.write_text(users("first"))
    running = NatsServer(
        store_dir=tmp_path / "store", config_file=config, log_file=tmp_path / "nats.log"
    ).start()
    try:
        yield running
    finally:
        running.stop()


def pid(server: NatsServer) -> int:
    assert server.process is not None
    return server.process.pid


async def connects(server: NatsServer, user: str) -> bool:
    try:
        nc = await nats.connect(
            f"nats://{user}:pw-{user}@{server.host}:{server.port}", allow_reconnect=False
        )
    except (nats.errors.Error, OSError):
        return False
    await nc.close()
    return True


async def test_a_user_added_to_the_config_connects_once_reload_returns(
    server: NatsServer, tmp_path: Path
) -> None:
    assert not await connects(server, "second")
    (tmp_path / "nats.conf").write_text(users("first", "second"))
    reload_config(pid(server), tmp_path / "nats.log")
    assert await connects(server, "second")
    assert await connects(server, "first")


async def test_a_config_the_server_refuses_is_an_error_with_its_reason(
    server: NatsServer, tmp_path: Path
) -> None:
    (tmp_path / "nats.conf").write_text("authorization { users = [ {user: second \n")
    with pytest.raises(ConfigError, match=r"refused its new config.*[Pp]arse error"):
        reload_config(pid(server), tmp_path / "nats.log")
    assert await connects(server, "first")  # still running with the config it had


def test_a_server_without_a_log_cannot_be_reloaded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no log at .*restart it"):
        reload_config(1, tmp_path / "missing.log")
