"""Applying the coder's proposal to the base commit's files, before anything is published.

``apply`` turns a ``Proposal`` into a ``Change`` holding each file's whole new content, or raises
``EditsFailed`` listing every failure of the answer (each an ``EditFailure``: path, edit number,
reason and, where they help a second try, the file's actual lines, numbered):

- ``edit``: each search/replace pair applies in order to the file as the previous pairs left it,
  by the rules of ``executions.changes.matching`` (one place, or refused); a pair that fails is
  reported and the next pairs still tried, so one answer reports all its misses.
- ``rewrite``: only for a file of at most ``REWRITE_MAX_LINES`` lines, and never with an elision
  marker line (``# ... rest unchanged ...``) the base does not hold; the content takes the base's
  BOM and line endings (each line kept as it was keeps its own, in a file that mixes CRLF and LF).
- ``edit``, ``rewrite`` or ``delete`` of a path the base does not hold, ``create`` of one it does,
  or an edit of a binary file fails.
- Every file written must still parse when its base did (``executions.changes.syntax``) and be
  text a file may hold (``executions.changes.validation``).
- A file whose result equals its base is dropped; a change with nothing left fails ("no changes").
"""

from __future__ import annotations

import difflib
import json
from collections import Counter

from django.conf import settings

from executions.changes import matching, syntax
from executions.changes.proposal import EditFailure, Proposal, ProposedFile
from executions.changes.validation import content_problem
from executions.context.excerpts import numbered
from executions.errors import ChangeRejected
from executions.repositories.base import Change, FileChange

MAX_DIFF_CHARS = 200_000
SYNTAX_CONTEXT_LINES = 3  # shown around the line where a result stops parsing


class EditsFailed(ChangeRejected):
    """The answer does not apply; ``failures`` lists every reason, in the answer's order."""

    def __init__(self, failures: list[EditFailure]):
        self.failures = failures
        lines = [f.line() for f in failures]
        super().__init__(lines[0] if len(lines) == 1 else f"{len(lines)} problems: " + "; ".join(lines))


def apply(proposal: Proposal, base: dict[str, str | None], *, base_sha: str = "") -> Change:
    """``base``: the base content of every path the proposal touches that exists (``None`` for a
    file that exists but is not text); a path absent from ``base`` does not exist."""
    files, failures = [], []
    for proposed in proposal.files:
        path, old = proposed.path, base.get(proposed.path)
        new, failed = _result(proposed, base)
        if not failed and new is not None and new != old:
            failed = _unwritable(path, old, new)
        failures += failed
        if failed or new == old:
            continue  # a no-op: nothing to publish for this file
        added, removed = line_counts(old or "", new or "")
        files.append(FileChange(path, new or "", deleted=new is None, added=added, removed=removed))
    if failures:
        raise EditsFailed(failures)
    if not files:
        raise EditsFailed(
            [
                EditFailure(
                    "", "The generated change has no changes: every file it touched equals its base content."
                )
            ]
        )
    return Change(summary=proposal.summary, files=files, base_sha=base_sha)


def _result(proposed: ProposedFile, base: dict[str, str | None]) -> tuple[str | None, list[EditFailure]]:
    path, action = proposed.path, proposed.action
    exists = path in base
    if action == "create":
        if exists:
            return None, [EditFailure(path, "the change creates it, but it already exists: edit it instead")]
        return proposed.content, []
    if not exists:
        return None, [
            EditFailure(path, f"the change wants to {action} it, but the base commit has no such file")
        ]
    if action == "delete":
        return None, []
    content = base[path]
    if content is None:
        return None, [EditFailure(path, f"the change wants to {action} it, but it is not a text file")]
    if action == "rewrite":
        return _rewritten(path, content, proposed.content)
    failures = []
    for n, edit in enumerate(proposed.edits, 1):
        try:
            content = matching.replace_once(content, edit.search, edit.replace)
        except matching.Miss as miss:
            failures.append(EditFailure(path, miss.reason, n, miss.lines))
    return content, failures


def _rewritten(path: str, base: str, content: str) -> tuple[str | None, list[EditFailure]]:
    count = _line_count(base)
    if count > settings.REWRITE_MAX_LINES:
        return None, [
            EditFailure(
                path,
                f"it has {count:,} lines and a rewrite may replace at most {settings.REWRITE_MAX_LINES:,}: "
                "edit it with search/replace pairs instead",
            )
        ]
    had = Counter(line.strip() for line in base.split("\n") if matching.is_elision(line))
    for n, line in enumerate(content.split("\n"), 1):
        if matching.is_elision(line):
            if had[line.strip()] <= 0:
                return None, [
                    EditFailure(
                        path,
                        f"line {n} of the rewritten content is an elision marker ({json.dumps(line.strip()[:60])}): "
                        "a rewrite must hold the whole file",
                    )
                ]
            had[line.strip()] -= 1
    return matching.in_style_of(content, base), []


def _line_count(text: str) -> int:
    return text.count("\n") + (not text.endswith("\n") and bool(text))


def _unwritable(path: str, old: str | None, new: str) -> list[EditFailure]:
    """Why ``new`` may not be published as ``path``'s content: not text a file may hold, or it
    no longer parses where ``old`` did."""
    problem = content_problem(new)
    if problem:
        return [EditFailure(path, f"the result is not a file the product may write: {problem}")]
    broken = syntax.regression(path, old, new)
    if broken is None:
        return []
    lines = new.split("\n")[: _line_count(new)]
    start = max(1, broken.line - SYNTAX_CONTEXT_LINES)
    around = [line.removesuffix("\r") for line in lines[start - 1 : broken.line + SYNTAX_CONTEXT_LINES]]
    return [EditFailure(path, broken.describe(), lines=numbered(around, start))]


def apply_edit(content: str, search: str, replace: str, *, where: str = "the edit") -> str:
    """``content`` with the one place ``search`` means replaced by ``replace`` (``ChangeRejected``
    saying ``where`` and why otherwise)."""
    try:
        return matching.replace_once(content, search, replace)
    except matching.Miss as miss:
        raise ChangeRejected(f"{where}: {miss.reason}") from None


def line_counts(old: str, new: str) -> tuple[int, int]:
    """Lines added and removed going from ``old`` to ``new`` (as ``git diff --numstat`` counts)."""
    added = removed = 0
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def unified_diff(change: Change, base: dict[str, str | None]) -> str:
    """The change as a unified diff against its base, for people to read (cut to a size)."""
    parts = []
    for f in change.files:
        old = base.get(f.path) or ""
        new = "" if f.deleted else f.content
        for line in difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{f.path}" if f.path in base else "/dev/null",
            tofile="/dev/null" if f.deleted else f"b/{f.path}",
        ):
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    text = "".join(parts)
    return (
        text
        if len(text) <= MAX_DIFF_CHARS
        else text[:MAX_DIFF_CHARS] + "\n… (diff cut; the commit holds it all)\n"
    )
