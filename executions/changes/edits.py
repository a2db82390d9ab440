"""Applying the coder's proposal to the base commit's files, before anything is published.

``apply`` turns a ``Proposal`` into a ``Change`` holding each file's whole new content:

- ``edit``: each search/replace pair applies in order to the file as the previous pairs left it.
  The search must match exactly once; with no exact match, a match that ignores a uniform
  difference in leading whitespace is allowed (``replace`` is re-indented the same way). Zero or
  several matches fail, naming the path and quoting the search's first line.
- ``edit``, ``rewrite`` or ``delete`` of a path the base does not hold, or ``create`` of one it
  does, fails the same way.
- A file whose result equals its base is dropped; a change with nothing left fails ("no changes").

Every failure is a ``ChangeRejected`` with one line a person can act on.
"""

from __future__ import annotations

import difflib
import json
import os

from executions.changes.coder import Proposal, ProposedFile
from executions.changes.validation import check_content
from executions.errors import ChangeRejected
from executions.gateways.base import Change, FileChange

MAX_DIFF_CHARS = 200_000


def apply(proposal: Proposal, base: dict[str, str | None], *, base_sha: str = "") -> Change:
    """``base``: the base content of every path the proposal touches that exists (``None`` for a
    file that exists but is not text); a path absent from ``base`` does not exist."""
    files = []
    for proposed in proposal.files:
        new = _result(proposed, base)
        old = base.get(proposed.path)
        if new == old:
            continue  # a no-op: nothing to publish for this file
        if new is not None:
            check_content("the result", proposed.path, new)
        added, removed = line_counts(old or "", new or "")
        files.append(FileChange(proposed.path, new or "", deleted=new is None, added=added, removed=removed))
    if not files:
        raise ChangeRejected(
            "The generated change has no changes: every file it touched equals its base content."
        )
    return Change(summary=proposal.summary, files=files, base_sha=base_sha)


def _result(proposed: ProposedFile, base: dict[str, str | None]) -> str | None:
    path, action = proposed.path, proposed.action
    exists = path in base
    if action == "create":
        if exists:
            raise ChangeRejected(
                f"The change creates {_show(path)}, but it already exists: it should edit it."
            )
        return proposed.content
    if not exists:
        raise ChangeRejected(
            f"The change wants to {action} {_show(path)}, but the base commit has no such file."
        )
    if action == "delete":
        return None
    if base[path] is None:
        raise ChangeRejected(f"The change wants to {action} {_show(path)}, which is not a text file.")
    if action == "rewrite":
        return proposed.content
    content = base[path]
    for n, edit in enumerate(proposed.edits, 1):
        content = apply_edit(content, edit.search, edit.replace, where=f"edit {n} of {_show(path)}")
    return content


def apply_edit(content: str, search: str, replace: str, *, where: str = "the edit") -> str:
    """``content`` with the one place ``search`` matches replaced by ``replace``."""
    places = _places(content, search)
    count = len(places)
    if count == 1:
        return content[: places[0]] + replace + content[places[0] + len(search) :]
    if count > 1:
        raise ChangeRejected(
            f"{where}: the search text matches {count} places (first line: {_first_line(search)}); it must match one."
        )
    hits = _indent_tolerant_matches(content, search)
    if len(hits) == 1:
        start, end, indent, search_indent = hits[0]
        lines = content.splitlines(keepends=True)
        return (
            "".join(lines[:start])
            + _reindent(replace, search_indent, indent, lines[end - 1])
            + "".join(lines[end:])
        )
    if hits:
        raise ChangeRejected(
            f"{where}: the search text matches {len(hits)} places once indentation is ignored "
            f"(first line: {_first_line(search)}); it must match one."
        )
    raise ChangeRejected(f"{where}: the search text was not found (first line: {_first_line(search)}).")


def _places(content: str, search: str) -> list[int]:
    """Where ``search`` starts in ``content``, overlapping places included ("aa" is twice in "aaa")."""
    places, at = [], content.find(search)
    while at != -1:
        places.append(at)
        at = content.find(search, at + 1)
    return places


def _indent_tolerant_matches(content: str, search: str) -> list[tuple[int, int, str, str]]:
    """Windows of whole lines equal to ``search`` once each side's common indentation is removed:
    ``(first line, end line, the window's indentation, the search's indentation)``."""
    wanted = search.splitlines()
    while wanted and not wanted[-1].strip():
        wanted.pop()
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    if not wanted:
        return []
    search_indent = _common_indent(wanted)
    target = [_strip_indent(line, search_indent) for line in wanted]
    lines = [line.rstrip("\r\n") for line in content.splitlines(keepends=True)]
    hits = []
    first = target[0].strip()
    for i in range(len(lines) - len(target) + 1):
        if lines[i].strip() != first:
            continue  # cheap pre-check
        window = lines[i : i + len(target)]
        indent = _common_indent(window)
        if [_strip_indent(line, indent) for line in window] == target:
            hits.append((i, i + len(target), indent, search_indent))
    return hits


def _common_indent(lines: list[str]) -> str:
    indents = [line[: len(line) - len(line.lstrip())] for line in lines if line.strip()]
    return os.path.commonprefix(indents) if indents else ""


def _strip_indent(line: str, indent: str) -> str:
    if not line.strip():
        return ""
    return line[len(indent) :].rstrip() if line.startswith(indent) else line.strip()


def _reindent(replace: str, search_indent: str, indent: str, last_line: str) -> str:
    out = []
    for line in replace.splitlines():
        if not line.strip():
            out.append("")
        else:
            out.append(
                indent + (line[len(search_indent) :] if line.startswith(search_indent) else line.lstrip())
            )
    text = "\n".join(out)
    return text + ("\n" if out and last_line.endswith("\n") else "")


def _first_line(search: str) -> str:
    line = next((line for line in search.splitlines() if line.strip()), search).strip()
    return json.dumps(line if len(line) <= 80 else line[:77] + "...", ensure_ascii=False)


def _show(path: str) -> str:
    return json.dumps(path if len(path) <= 120 else path[:117] + "...", ensure_ascii=False)


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
