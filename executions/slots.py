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
from django.db import connection

# The first key of the two-key advisory locks; the slot number is the second.
ADVISORY_LOCK_CLASS = 0x0E5C  # "exec"


@contextlib.contextmanager
def run_slot() -> Iterator[int | None]:
    """Hold a free slot (its number) for the ``with`` block, or yield None when all are taken."""
    slots = max(settings.MAX_CONCURRENT_EXECUTIONS, 0)
    hold = _advisory_slot if connection.vendor == "postgresql" else _file_slot
    for number in range(slots):
        with hold(number) as held:
            if held:
                yield number
                return
    yield None


@contextlib.contextmanager
def _advisory_slot(number: int) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, number])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_CLASS, number])


@contextlib.contextmanager
def _file_slot(number: int) -> Iterator[bool]:
    path = Path(f"{connection.settings_dict['NAME']}.run-slot-{number}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
