"""Row locks on PostgreSQL, seen from another connection: for tests that make one writer wait on
another's lock on purpose, then check that neither deadlocks."""

from __future__ import annotations

import time

from django.db import connection


def lock_waiters() -> int:
    """How many sessions of the test database are waiting for a lock now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def wait_for_a_lock_waiter(timeout: float = 10.0) -> None:
    """Return once some session waits for a lock; fail the test if none does within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_waiters():
            return
        time.sleep(0.01)
    raise AssertionError(f"no session waited for a lock within {timeout:g} s")
