"""Files and folders only their owner may read: the outbox, the broker's state, the data dir.

Event payloads are business data, so everything the runtime writes to disk is created 0600 and
every folder it creates 0700 (the umask can only make these stricter). Modes are set when the
path is created; an existing path the user made keeps the mode they gave it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700 folders; return it."""
    missing: list[Path] = []
    at = path
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for folder in reversed(missing):
        # exist_ok: another process may create it at the same moment.
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 unless it exists (SQLite gives its -wal/-shm the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    return path


def open_private(path: Path) -> IO[bytes]:
    """``open(path, "ab")`` that creates the file 0600 (lock files held while in use)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE), "ab")


def write_private(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text``, creating it 0600."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "w") as f:
        f.write(text)
