"""Where a service's event state lives: its outbox files and the embedded broker.

One per-user location by default, so every process of a user on a machine finds the same
embedded broker whatever its working directory: ``$SB_DATA_DIR`` when set, else
``$XDG_STATE_HOME/servicebridge``, else ``~/.local/state/servicebridge``. The ``data_dir=``
option of a bridge wins over all of them. Each service keeps its own outbox file inside.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SB_DATA_DIR"


def resolve_data_dir(option: str | Path | None = None) -> Path:
    """The absolute data dir for ``option`` (the ``data_dir=`` a bridge was given, or None)."""
    if option is not None and str(option):
        return Path(option).expanduser().absolute()
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().absolute()
    # The XDG spec: a relative $XDG_STATE_HOME is invalid and ignored.
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "servicebridge"
