"""What the index's literals and names lead to for a task (``executions.context.references``
extracts them when a commit is indexed): the definitions holding a quoted literal or a phrase of
the title, the files using a named setting or calling a named function, the files referring to (or
referred to by) a file, the files that changed together with a file in the repository's recent
history, and how often each file changed there.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from executions.context.references import DISTINCT_NAME

if TYPE_CHECKING:
    from executions.context.repoindex import RepoIndex

# A placeholder inside a message: the task quotes the message rendered, the code has the template.
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sdrfi]|\{[^{}]*\}|\$\{[^{}]*\}|%v|%q|%w")
MIN_FRAGMENT = 8  # characters of a literal's fixed part that must appear in the task's quote
MAX_COMMIT_FILES = 20  # a commit touching more files says little about which belong together


def literal_hits(index: RepoIndex, quotes: list[str]) -> list[tuple[str, int]]:
    """``(path, line)`` of each literal a quote of the task matches: the literal holds the quote,
    or a fixed part of the literal (at least ``MIN_FRAGMENT`` characters, between placeholders)
    is in the quote. Literals found in many files (a common word) are not a lead."""
    hits = []
    literals = _literals(index)
    for quote in quotes:
        q = quote.strip().lower()
        if len(q) < 3:
            continue
        found = [
            (path, line)
            for path, line, value, fragments in literals
            if q in value or any(f in q for f in fragments)
        ]
        if 0 < len({p for p, _ in found}) <= 5:
            hits.extend(found)
    return hits


MAX_PHRASE_FILES = 3


def phrase_hits(index: RepoIndex, phrases: list[str]) -> list[tuple[str, int]]:
    """``(path, line)`` of the literals holding a phrase of the task as written ("100 continue" in
    ``b"HTTP/1.1 100 Continue"``, ``tasknames.phrases``). A phrase found in more than a few files
    is no lead."""
    hits = []
    literals = _literals(index)
    for phrase in phrases:
        found = [(path, line) for path, line, value, _fragments in literals if phrase in value]
        if 0 < len({p for p, _ in found}) <= MAX_PHRASE_FILES:
            hits.extend(found)
    return hits


_lowered: dict[str, list[tuple[str, int, str, list[str]]]] = {}


def _literals(index: RepoIndex) -> list[tuple[str, int, str, list[str]]]:
    """Every literal lower-cased with its fixed parts worth matching, kept for the commit."""
    if index.commit_sha not in _lowered:
        if len(_lowered) >= 4:
            _lowered.pop(next(iter(_lowered)))
        _lowered[index.commit_sha] = [
            (path, line, v, [f for f in _fragments(v) if len(f) >= MIN_FRAGMENT])
            for path, items in index.literals.items()
            for line, value in items
            for v in (value.lower(),)
        ]
    return _lowered[index.commit_sha]


def _fragments(literal: str) -> list[str]:
    return [f.strip() for f in _PLACEHOLDER.split(literal)]


def users_of(index: RepoIndex, names: set[str], *, most: int = 8) -> dict[str, int]:
    """Files using any of ``names`` -> how many of them, for each name used by at most ``most``
    files (a name used everywhere is no lead)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    if not names:
        return {}
    for path, used in _uses(index).items():
        for name in names.intersection(used):
            by_name[name].append(path)
    counts: Counter = Counter()
    for _name, paths in by_name.items():
        if len(paths) <= most:
            counts.update(paths)
    return dict(counts)


def neighbours(index: RepoIndex, path: str, definers: dict[str, set[str]]) -> set[str]:
    """Files referring to a definition of ``path``, and files defining what ``path`` uses (a name
    defined in at most two files: ``definers`` maps a name to the files defining it)."""
    own = {
        s[2]
        for s in index.symbols.get(path, [])
        if len(definers.get(s[2], ())) <= 2 and DISTINCT_NAME.search(s[2])
    }
    uses = _uses(index)
    used = uses.get(path, set())
    callers = {p for p, names in uses.items() if p != path and not own.isdisjoint(names)}
    callees = {p for name in used if len(definers.get(name, ())) <= 2 for p in definers.get(name, ())} - {
        path
    }
    return callers | callees


_split: dict[str, dict[str, set[str]]] = {}


def _uses(index: RepoIndex) -> dict[str, set[str]]:
    """Each file's names as a set, kept for the commit (split once, not once per task)."""
    if index.commit_sha not in _split:
        if len(_split) >= 4:
            _split.pop(next(iter(_split)))
        _split[index.commit_sha] = {path: set(used.split(" ")) for path, used in index.uses.items()}
    return _split[index.commit_sha]


def definers_of(index: RepoIndex) -> dict[str, set[str]]:
    """Each definition's name -> the files defining it."""
    found: dict[str, set[str]] = defaultdict(set)
    for path, symbols in index.symbols.items():
        for symbol in symbols:
            found[symbol[2]].add(path)
    return found


def changed_with(index: RepoIndex, paths: list[str]) -> Counter:
    """Files that changed in the same recent commits as any of ``paths`` -> in how many."""
    wanted, together = set(paths), Counter()
    for commit in index.history:
        if len(commit) <= MAX_COMMIT_FILES and wanted.intersection(commit):
            together.update(p for p in commit if p not in wanted)
    return together


def change_counts(index: RepoIndex) -> Counter:
    """How many of the recent commits (of at most ``MAX_COMMIT_FILES`` files) changed each file:
    where a repository's work has been lately, the best guess for a task that names nothing."""
    counts: Counter = Counter()
    for commit in index.history:
        if len(commit) <= MAX_COMMIT_FILES:
            counts.update(commit)
    return counts
