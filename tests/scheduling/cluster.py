"""Real ``python manage.py qcluster`` subprocesses on the test database, stopped as a deploy would.

Each cluster runs in a session of its own, so a test can prove that SIGTERM left no process
behind (the sentinel, the pusher, the monitor and the workers are all children of the command).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

from tests.clock import manage_py
from tests.executions.test_two_processes import test_database_url

# The cluster runs its scheduler once per 30 s of guard cycles: with a 30 s cycle that is at its
# first cycle, right after it starts, and then every 30 s.
GUARD_CYCLE = "30"


class Cluster:
    def __init__(self, settings, name: str = "sched-test", **env: str):
        self.env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "Q_CLUSTER_NAME": name,
            "Q_WORKERS": "2",
            "Q_GUARD_CYCLE": GUARD_CYCLE,
            "LOCAL_REPO_PATH": settings.LOCAL_REPO_PATH,
            "ORCHESTRATOR_MODE": "simulated",
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.log = ""

    def start(self) -> Cluster:
        self.process = subprocess.Popen(
            manage_py("qcluster"),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as ``docker stop`` sends it; the exit code. Running tasks finish first."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.log, _ = self.process.communicate(timeout=timeout)
        finally:
            self.kill_leftovers()
        return self.process.returncode

    def leftovers(self) -> bool:
        """Whether any process of the cluster's session is still alive."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill_leftovers(self) -> None:
        if self.process is not None and self.leftovers():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
        self.kill_leftovers()


def wait_for(condition: Callable[[], object], timeout: float, what: str, clusters: tuple[Cluster, ...] = ()):
    """Poll ``condition`` until it is true; fail saying ``what`` did not happen (and why, if a cluster died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        for cluster in clusters:
            if cluster.process.poll() is not None:
                raise AssertionError(f"the cluster stopped before {what}:\n{cluster.process.stdout.read()}")
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")
