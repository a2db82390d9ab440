"""The test clock, shared by the fixtures and the subprocesses the tests start.

``TEST_CLOCK_SHIFT_DAYS`` (bin/test's year-ahead pass) moves the clock of every test that does not
pin its own. A ``manage.py`` subprocess started through ``manage_py`` sees the clock of the test
that started it (shifted or pinned), so a date cannot differ between the two processes.

Run as a script, this file is that subprocess's wrapper:
``python tests/clock.py EPOCH_SECONDS manage.py ARGS...`` runs manage.py with the clock at
EPOCH_SECONDS, ticking.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import time_machine

CLOCK_SHIFT_DAYS = int(os.environ.get("TEST_CLOCK_SHIFT_DAYS") or 0)
MANAGE = Path(__file__).resolve().parent.parent / "manage.py"


def manage_py(*args: str) -> list[str]:
    """The argv of ``python manage.py ARGS`` in a process whose clock reads what this one's does."""
    if not (CLOCK_SHIFT_DAYS or time_machine.escape_hatch.is_travelling()):
        return [sys.executable, str(MANAGE), *args]
    return [sys.executable, __file__, repr(time.time()), str(MANAGE), *args]


if __name__ == "__main__":
    import runpy

    epoch, script, *rest = sys.argv[1:]
    sys.argv = [script, *rest]
    sys.path[0] = str(Path(script).resolve().parent)
    with time_machine.travel(float(epoch), tick=True):
        runpy.run_path(script, run_name="__main__")
