"""Where event state lives: the per-user default, its overrides, the shared embedded broker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runtime_lib._errors import ConfigError
from runtime_lib._events.data_dir import ENV_VAR, resolve_data_dir
from runtime_lib._events.embedded import EmbeddedNats
from runtime_lib._nats_server import NatsServer, free_port

REPO = Path(__file__).parents[2]


def test_data_dir_option_then_env_then_xdg_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir("relative") == tmp_path / "relative"  # absolute: a chdir won't move it
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv(ENV_VAR)
    assert resolve_data_dir() == tmp_path / "xdg" / "servicebridge"
    monkeypatch.setenv("XDG_STATE_HOME", "not/absolute")  # invalid per the XDG spec: ignored
    assert resolve_data_dir() == tmp_path / "home" / ".local" / "state" / "servicebridge"


def test_processes_in_different_folders_meet_on_one_embedded_broker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME="", PYTHONPATH=str(REPO))
    folders = [tmp_path / "service-a", tmp_path / "service-b"]
    for folder in folders:
        folder.mkdir()
    module = "tests.events.proc_embedded"
    subscriber = subprocess.Popen(
        [sys.executable, "-m", module, "subscribe"],
        cwd=folders[0],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert subscriber.stdout is not None
        assert subscriber.stdout.readline().strip() == "ready"
        published = subprocess.run(
            [sys.executable, "-m", module, "publish", "o-42"],
            cwd=folders[1],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,  # a hang guard, not a speed check
            check=False,
        )
        assert published.stdout.strip() == "published", published.stderr
        out, err = subscriber.communicate(timeout=120)
        assert out.strip() == "got o-42", err
    finally:
        subscriber.kill()
        subscriber.wait()
    state = tmp_path / "home" / ".local" / "state" / "servicebridge"
    assert (state / "nats").is_dir() and not any(any(f.iterdir()) for f in folders)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_embedded_broker_state_is_private(tmp_path: Path) -> None:
    embedded = EmbeddedNats(tmp_path / "sb")
    embedded.acquire()
    try:
        root = tmp_path / "sb" / "nats"
        assert _mode(tmp_path / "sb") == _mode(root) == _mode(root / "store") == 0o700
        assert _mode(root / "users") == 0o700
        assert _mode(root / "server.json") == _mode(root / "server.lock") == 0o600
        assert all(_mode(user) == 0o600 for user in (root / "users").iterdir())
    finally:
        embedded.release()


def test_a_broker_that_does_not_answer_is_named_not_replaced(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    # server.json names a live nats-server, on an address where nothing answers.
    root = tmp_path / "sb" / "nats"
    root.mkdir(parents=True)
    assert nats_server.process is not None
    port = free_port()
    state = {"pid": nats_server.process.pid, "host": "127.0.0.1", "port": port}
    (root / "server.json").write_text(json.dumps(state))
    with pytest.raises(ConfigError) as caught:
        EmbeddedNats(tmp_path / "sb").acquire()
    message = str(caught.value)
    assert str(root / "server.json") in message and f"127.0.0.1:{port}" in message
    assert json.loads((root / "server.json").read_text()) == state  # no second broker started
