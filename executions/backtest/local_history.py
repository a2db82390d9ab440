"""Cases from a local git repository: the first-parent history of its default branch, each merge
or squash commit against its first parent (the branch it was merged into, as the product would
have read it)."""

from __future__ import annotations

import datetime as dt
import re

from executions.backtest.cases import (
    Case,
    changed_definitions,
    from_commit_message,
    is_source,
    task_text,
    touched_lines,
    why_not,
)
from executions.repositories.local_git import LocalGitGateway

FIELD, RECORD = "\x1f", "\x1e"
GITHUB_REMOTE = re.compile(r"github\.com[:/](?P<repository>[\w.-]+/[\w.-]+?)(?:\.git)?(?:\s|$)")
DIFF = ("diff", "--no-color", "--no-ext-diff", "--no-renames")
MAX_SCANNED = 2_000  # commits read at most to find the cases (a long history of docs-only commits)


def local_cases(
    gateway: LocalGitGateway, *, last: int, since: dt.date | None = None, skipped: list | None = None
) -> list[Case]:
    """The newest ``last`` cases of the default branch (newest first), from ``since`` on.
    ``skipped`` collects ``(sha, why)`` for the merges that are not cases."""
    branch = gateway.default_branch()
    args = [
        "log",
        "--first-parent",
        f"--max-count={MAX_SCANNED}",
        f"--format=%H{FIELD}%P{FIELD}%cI{FIELD}%an <%ae>{FIELD}%B{RECORD}",
    ]
    found: list[Case] = []
    pulls = pull_request_url_base(gateway)
    for record in gateway.read_history(*args, branch).split(RECORD):
        if len(found) >= last:
            break
        if not record.strip():
            continue
        sha, parents, committed, author, message = record.strip("\n").split(FIELD, 4)
        if not parents.split():
            continue  # the root commit has no base
        if since and dt.date.fromisoformat(committed[:10]) < since:
            continue  # merged before ``since`` (the day it landed on the branch, as git recorded it)
        case, why = _case(gateway, sha, parents.split()[0], author, message, pulls)
        if case is None:
            if skipped is not None:
                skipped.append((sha, why))
            continue
        found.append(case)
    return found


def pull_request_url_base(gateway: LocalGitGateway) -> str:
    """``https://github.com/owner/name/pull/`` when the clone's ``origin`` is on GitHub, else ""."""
    for line in gateway.read_history("remote", "-v").splitlines():
        if line.startswith("origin\t") and (found := GITHUB_REMOTE.search(line)):
            return f"https://github.com/{found['repository']}/pull/"
    return ""


def _case(
    gateway: LocalGitGateway, sha: str, base: str, author: str, message: str, pulls: str = ""
) -> tuple[Case | None, str]:
    number, title, body = from_commit_message(message)
    listed = gateway.read_history("diff", "--name-status", "--no-renames", "-z", base, sha)
    fields = listed.split("\0")
    modified = [path for status, path in zip(fields[::2], fields[1::2], strict=False) if status in ("M", "D")]
    sources = [path for path in modified if is_source(path)]
    if why := why_not(subject=title, message=message, author=author, source_files=sources):
        return None, why
    # A merge's author is who pressed the button: a bot's pull request shows in its commits' authors.
    authors = gateway.read_history("log", "--format=%an <%ae>", f"{base}..{sha}")
    why = why_not(subject=title, message=message, author=authors, source_files=sources)
    if why:
        return None, why
    diff = gateway.read_history(*DIFF, "-U0", base, sha, "--", *sources)
    contents = gateway.read_files(base, sources)
    definitions = []
    for path, patch in _per_file(diff).items():
        if path in contents:
            definitions += changed_definitions(path, contents[path], touched_lines(patch))
    title, description = task_text(title, body, what="commit", rest=f"in commit {sha[:12]}")
    full_diff = gateway.read_history(*DIFF, base, sha, "--", *sources)
    return (
        Case(
            number=number,
            url=f"{pulls}{number}" if pulls and number else "",
            merge_sha=sha,
            base_sha=base,
            title=title,
            description=description,
            files=sources,
            definitions=definitions,
            diff=full_diff,
        ),
        "",
    )


def _per_file(diff: str) -> dict[str, str]:
    """A multi-file diff split per file (``a/`` path), each with its hunks."""
    files: dict[str, str] = {}
    for part in filter(None, diff.split("\ndiff --git ")):
        header, _, rest = part.partition("\n")
        path = header.removeprefix("diff --git ").split(" b/", 1)[0].removeprefix("a/")
        files[path] = rest
    return files
