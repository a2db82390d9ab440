"""Cases from GitHub: the pull requests merged into the repository's base branch (the pulls API,
newest first), each against the first parent of its merge commit (for a squash or rebase merge,
the commit before it on the branch). The task is the issue it closes ("Closes #12") when there
is one, else the pull request's own title and body."""

from __future__ import annotations

import datetime as dt

from executions.backtest.cases import (
    Case,
    changed_definitions,
    closed_issue,
    is_source,
    task_text,
    touched_lines,
    why_not,
)
from executions.repositories.github import GitHubGateway

MODIFIED = ("modified", "removed", "changed")


def github_cases(
    gateway: GitHubGateway, *, last: int, since: dt.date | None = None, skipped: list | None = None
) -> list[Case]:
    """The newest ``last`` cases (newest first). ``skipped`` collects ``(number, why)``."""
    found: list[Case] = []
    for pull in gateway.merged_pull_requests(since=since):  # a page at a time, as they are taken
        if len(found) >= last:
            break
        case, why = _case(gateway, pull)
        if case is None:
            if skipped is not None:
                skipped.append((pull["number"], why))
            continue
        found.append(case)
    return found


def _case(gateway: GitHubGateway, pull: dict) -> tuple[Case | None, str]:
    title, body = pull.get("title") or "", pull.get("body") or ""
    author = (pull.get("user") or {}).get("login", "")
    merge_sha = pull["merge_commit_sha"]
    base = gateway.first_parent(merge_sha)
    if base is None:
        return None, "its merge commit has no parent"
    changed = gateway.changed_files(base, merge_sha)
    sources = [path for path, status, _patch in changed if status in MODIFIED and is_source(path)]
    if why := why_not(subject=title, message=body, author=author, source_files=sources):
        return None, why
    number = pull["number"]
    what, rest = "pull request", f"on GitHub, pull request #{number}"
    if (issue := closed_issue(f"{title}\n{body}")) and (text := gateway.issue_text(issue)):
        (title, body), what, rest = text, "issue", f"on GitHub, issue #{issue}"
    contents = gateway.read_files(base, sources)
    definitions, diff = [], []
    for path, _status, patch in changed:
        if path in sources and path in contents:
            definitions += changed_definitions(path, contents[path], touched_lines(patch))
            diff.append(f"--- a/{path}\n+++ b/{path}\n{patch}\n")
    title, description = task_text(title, body, what=what, rest=rest)
    return (
        Case(
            number=number,
            url=pull.get("html_url") or "",
            merge_sha=merge_sha,
            base_sha=base,
            title=title,
            description=description,
            files=sources,
            definitions=definitions,
            diff="".join(diff),
        ),
        "",
    )
