"""Run slots: at most MAX_CONCURRENT_EXECUTIONS scheduled executions at once, across every cluster.

Counting running executions alone is a race (two clusters both count zero, both start). A slot
is a lock held for the whole execution: a PostgreSQL session advisory lock, or on SQLite (one
machine) an ``flock`` on a file beside the database. Both are released by the database or the
kernel when the holder's connection or process dies, so a killed worker never leaks a slot.
A slot is not a transaction: nothing is locked in a table, and no row waits on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

# The first key of the two-key advisory locks; the slot number is the second.
ADVISORY_LOCK_CLASS = 0x0E5C  # any constant no other code of this database uses


@contextlib.contextmanager
def run_slot() -> Iterator[int | None]:
    """Hold a free slot (its number) for the ``with`` block, or yield None when all are taken."""
    slots = range(max(settings.MAX_CONCURRENT_EXECUTIONS, 0))
    hold = _advisory_slot if connection.vendor == "postgresql" else _file_slot
    with hold(slots) as number:
        yield number


@contextlib.contextmanager
def _advisory_slot(slots: range) -> Iterator[int | None]:
    # A session of its own, not Django's connection: that one may be closed and reopened during
    # an execution (``close_old_connections``), which would drop a lock taken on it. Closing
    # this session at the end is what releases the lock; a dead worker's session ends by itself.
    session = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        held = None
        with session.cursor() as cursor:
            for number in slots:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, number])
                if cursor.fetchone()[0]:
                    held = number
                    break
        yield held
    finally:
        session.close()


@contextlib.contextmanager
def _file_slot(slots: range) -> Iterator[int | None]:
    for number in slots:
        path = Path(f"{connection.settings_dict['NAME']}.run-slot-{number}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield number
        finally:
            os.close(fd)  # closing the file releases its lock
        return
    yield None
