"""Row locks on PostgreSQL, seen from another connection: for tests that make one writer wait on
another's lock on purpose, then check that neither deadlocks."""

from __future__ import annotations

import threading
import time

from django.db import connection, connections

from executions.github.dispatch import handle_webhook


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


class DeliveryHeldBeforeCommit:
    """``handle_webhook`` of ``payload`` in another thread, paused right after its transaction
    inserted a row into ``table`` (before it commits) until the test sets ``go_on``."""

    def __init__(self, event: str, payload: dict, *, table: str):
        self.event, self.payload, self.insert = event, payload, f'INSERT INTO "{table}"'
        self.inserted, self.go_on = threading.Event(), threading.Event()
        self.outcome, self.errors = None, []
        self.thread = threading.Thread(target=self.deliver)

    def deliver(self):
        try:
            with connection.execute_wrapper(self.pause_after_the_insert):
                self.outcome = handle_webhook(
                    event=self.event, delivery_id="delivery-1", payload=self.payload
                )
        except Exception as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            connections.close_all()

    def pause_after_the_insert(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith(self.insert):
            self.inserted.set()
            assert self.go_on.wait(10), "the test never let the delivery go on"
        return result
