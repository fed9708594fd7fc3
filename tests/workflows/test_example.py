"""examples/checkout-saga/run.py runs as documented in its README."""

from __future__ import annotations

import subprocess
import sys

from tests.workflows.saga import EXAMPLE


def test_checkout_saga_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "o-1 shipped: tracking t-o-1" in out
    assert "step 'ship' failed: TOO_HEAVY: at most 100 items per parcel" in out
    assert "charge=compensated" in out and "reserve=compensated" in out
    effects = out.split("effects: ", 1)[1].splitlines()[0].split(", ")
    assert effects[-2:] == ["refund o-2", "release o-2"]  # newest first
    assert sorted(effects) == sorted(
        f"{what} {order}"
        for order, whats in (
            ("o-1", ["reserve", "charge", "notify", "ship"]),
            ("o-2", ["reserve", "charge", "notify", "refund", "release"]),
        )
        for what in whats
    )
    assert out.count("checkout: workflow checkout") == 2  # sb-trace: one trace per run
