"""Instructions a process executes over a stretch of its run, counted by callgrind (valgrind).

The process runs under ``wrapper(out)`` with instrumentation off, so start-up and warm-up cost
nothing but valgrind's slower execution. ``Counter.on()`` switches it on, ``Counter.off()``
switches it off, dumps (which resets the counters) and returns the dump's total: the
instructions of every thread of the process between the two, nothing else.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

INSTALL = "apt-get install valgrind"


def require() -> None:
    """Exit with how to install valgrind when it or ``callgrind_control`` is missing."""
    missing = [name for name in ("valgrind", "callgrind_control") if shutil.which(name) is None]
    if missing:
        raise SystemExit(
            f"python -m bench instructions counts instructions with callgrind, and "
            f"{' and '.join(missing)} is not on PATH: {INSTALL}"
        )


def wrapper(out: Path) -> list[str]:
    """The command prefix that runs a process under callgrind, instrumentation off, dumping to
    ``out.<n>``."""
    return [
        "valgrind",
        "--quiet",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
    ]


@dataclass(frozen=True, slots=True)
class Counter:
    """Switches callgrind in process ``pid`` (started under ``wrapper(out)``) on and off."""

    pid: int
    out: Path

    def on(self) -> None:
        self._control("--instr=on")

    def off(self) -> int:
        """Instrumentation off; the instructions counted since ``on()``.

        Reads and deletes the dump: a later process under the same ``out`` numbers its dumps
        from 1 again, and must not find this one's.
        """
        self._control("--instr=off")
        self._control("--dump")
        dumps = list(self.out.parent.glob(f"{self.out.name}.*"))
        if not dumps:
            raise RuntimeError(f"callgrind wrote no dump {self.out}.<n> for process {self.pid}")
        total = sum(_total(path) for path in dumps)
        for path in dumps:
            path.unlink()
        return total

    def _control(self, command: str) -> None:
        done = subprocess.run(
            ["callgrind_control", command, str(self.pid)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or "OK." not in done.stdout:
            raise RuntimeError(
                f"callgrind_control {command} {self.pid} failed: {done.stdout}{done.stderr}"
            )


def _total(path: Path) -> int:
    with path.open(encoding="utf-8") as dump:
        for line in dump:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"{path}: a callgrind dump without a totals line")
