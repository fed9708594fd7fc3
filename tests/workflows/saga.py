"""The checkout-saga example's code for tests: generated into a temp folder and imported.

``load(root)`` runs sb-gen on examples/checkout-saga/checkout.proto into ``root/gen`` and puts
``root`` and the example folder on ``sys.path``, so the example's own modules
(``checkout_saga``, ``checkout_services``) import as they do when the example runs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from generator.pipeline import build_package
from generator.write import write_atomically

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "checkout-saga"


def generate(root: Path) -> Path:
    write_atomically(root / "gen", build_package([EXAMPLE / "checkout.proto"], [EXAMPLE]))
    return root


def load(root: Path) -> SimpleNamespace:
    """The example's modules: ``saga`` (graph), ``services`` (handlers), ``sb`` and ``pb``."""
    # root ends up first: its fresh gen/ wins over one that run.py left in the example folder.
    for path in (str(EXAMPLE), str(root)):
        if path not in sys.path:
            sys.path.insert(0, path)
    modules: dict[str, Any] = {
        "pb": importlib.import_module("gen.checkout_pb2"),
        "sb": importlib.import_module("gen.checkout_sb"),
        "saga": importlib.import_module("checkout_saga"),
        "services": importlib.import_module("checkout_services"),
    }
    return SimpleNamespace(**modules)
