"""The ServiceBridge reference vectors of jobs, read from tests/reference/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def vectors(file: str) -> list[dict[str, Any]]:
    # UTF-8 explicitly: the canonical vectors hold raw U+2028/U+2029 and DEL.
    data: list[dict[str, Any]] = json.loads((REFERENCE / file).read_text(encoding="utf-8"))[
        "vectors"
    ]
    return data
