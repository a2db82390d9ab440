"""What a source file says besides its definitions, kept in the per-commit index: its string
literals (error messages, option and setting names, CLI flags) and the names it uses. What they
lead to for a task is ``executions.context.signals``.

Extraction is by regular expression over the raw bytes, for every language alike: it runs over
every source file when a commit is indexed, so it must stay cheap (docs/context.md: cold build).
"""

from __future__ import annotations

import re
from bisect import bisect_right

MIN_LITERAL, MAX_LITERAL = 6, 200  # characters of a string literal worth keeping
MAX_LITERALS_PER_FILE = 400
_LITERAL = re.compile(
    rb'"((?:[^"\\\n]|\\.){6,200})"|\'((?:[^\'\\\n]|\\.){6,200})\'|`((?:[^`\\\n]|\\.){6,200})`'
)
# Names worth an exact lookup: with an inner underscore, a capital after a lower-case letter, or
# an upper-case constant (``DEFAULT_AUTO_FIELD``, ``bulk_create``, ``QuerySet``). Plain words go
# through BM25 instead: ``name`` or ``get`` would match every file.
_NAME = re.compile(rb"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]{2,60}(?![A-Za-z0-9_])")
DISTINCT_NAME = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|[a-z][A-Z]|^[A-Z][A-Za-z0-9]*[a-z]|^__\w+__$")


def literals(raw: bytes) -> list[list]:
    """``[[line, text], ...]``: the file's string literals of 6 to 200 characters holding a letter."""
    newlines = [m.start() for m in re.finditer(b"\n", raw)]
    found, seen = [], set()
    for m in _LITERAL.finditer(raw):
        value = next(g for g in m.groups() if g is not None).decode("utf-8", "replace")
        if value in seen or not re.search(r"[A-Za-z]", value):
            continue
        seen.add(value)
        found.append([bisect_right(newlines, m.start()) + 1, value])
        if len(found) >= MAX_LITERALS_PER_FILE:
            break
    return found


def names_used(raw: bytes) -> str:
    """The distinctive names the file mentions, space-separated (one string keeps the cache small)."""
    names = {n.decode("ascii") for n in _NAME.findall(raw)}
    return " ".join(sorted(n for n in names if DISTINCT_NAME.search(n)))
