"""Validating a generated change before anything is published.

``executions.changes.coder`` reads the coder's answer with these rules and ``executions.changes.edits`` checks the
files it produced with them again: 1–20 files, each path relative, normalised, inside the
repository, not ``.git`` or ``.gitmodules`` in any spelling, not (unless
``ALLOW_WORKFLOW_CHANGES``) what runs in CI (GitHub's workflows, actions and Dependabot file, and
the other CI systems' files), and each content free of NUL bytes and at most 200 KB of UTF-8.
Anything else raises ``ChangeRejected`` saying which rule and which file.

The path rules are the gateways' own (``executions.repositories.paths``): a gateway refuses an
unsafe path again before it writes.
"""

from __future__ import annotations

import json

from django.conf import settings

from executions.errors import ChangeRejected
from executions.repositories.paths import unsafe_path_reason
from notifications.text import storable

MAX_FILES = 20
MAX_FILE_BYTES = 200 * 1024


def check_content(where: str, path: str, content: str) -> None:
    """``ChangeRejected`` unless ``content`` is text a file may hold (see ``content_problem``)."""
    problem = content_problem(content)
    if problem:
        raise ChangeRejected(f"{where} ({path}): {problem}.")


def content_problem(content: str) -> str:
    """Why ``content`` may not be a file's text (a NUL byte, invalid Unicode, more than
    ``MAX_FILE_BYTES``), or "" when it may."""
    if "\x00" in content:
        return "the content holds a NUL byte (binary files are not allowed)"
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        return "the content is not valid Unicode text"
    if size > MAX_FILE_BYTES:
        return f"it is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"
    return ""


def check_path(where: str, path: str, *, allow_workflows: bool | None = None) -> None:
    if allow_workflows is None:
        allow_workflows = settings.ALLOW_WORKFLOW_CHANGES
    reason = unsafe_path_reason(path, allow_workflows=allow_workflows)
    if reason:
        raise ChangeRejected(f"{where}: unsafe path {show(path)}: {reason}.")


def check_distinct(paths: list[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise ChangeRejected(f"The generated change writes {show(path)} twice.")
        seen.add(path)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in seen:
                raise ChangeRejected(
                    f"The generated change writes {show('/'.join(parts[:depth]))} as a file and as a folder."
                )


def show(path: str) -> str:
    shown = path if len(path) <= 120 else path[:117] + "..."
    return json.dumps(storable(shown), ensure_ascii=False)
