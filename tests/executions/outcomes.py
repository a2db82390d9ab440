"""Helpers for the pull request outcome tests: signed GitHub deliveries and their payloads."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json

from executions.repositories.base import BranchMoved, PublishResult, Snapshot, branch_name

SECRET = "whsec-test-0123456789abcdef"
_deliveries = itertools.count(1)


def sign(body: bytes, secret: str = SECRET) -> str:
    """What GitHub puts in X-Hub-Signature-256, computed here independently of the product."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    client,
    event: str,
    payload: object,
    *,
    secret: str | None = SECRET,
    delivery: str | None = None,
    body: bytes | None = None,
    signature: str | None = None,
):
    """POST one delivery to /webhooks/github/ the way GitHub does; returns (response, delivery id)."""
    body = json.dumps(payload).encode() if body is None else body
    delivery = delivery or f"72d3162e-cc78-11e3-81ab-{next(_deliveries):012d}"
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": delivery}
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    elif secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = sign(body, secret)
    response = client.post("/webhooks/github/", data=body, content_type="application/json", **headers)
    return response, delivery


def pull_request_event(
    pr, action: str, *, merged: bool = False, head_sha: str | None = None, at: str = "2026-11-16T09:30:00Z"
) -> dict:
    """A ``pull_request`` delivery's payload for the PullRequest row ``pr`` (the fields we read,
    plus some we do not, as GitHub sends them)."""
    closed = action == "closed"
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{pr.repository}/pulls/{pr.number}",
            "html_url": pr.url,
            "number": pr.number,
            "state": "closed" if closed else "open",
            "title": pr.task.title,
            "merged": merged,
            "merged_at": at if merged else None,
            "closed_at": at if closed else None,
            "head": {"ref": pr.head_branch, "sha": head_sha or pr.head_sha},
            "base": {"ref": "main", "sha": "0" * 40},
        },
        "repository": {"full_name": pr.repository, "name": pr.repository.split("/")[1]},
        "sender": {"login": "reviewer"},
    }


def check_event(kind: str, pr, *, name: str, conclusion: str | None, sha: str | None = None) -> dict:
    """A ``check_run`` or ``check_suite`` ``completed`` delivery for ``pr``'s head commit."""
    check = {
        "head_sha": sha or pr.head_sha,
        "status": "completed",
        "conclusion": conclusion,
        "app": {"slug": name if kind == "check_suite" else "github-actions"},
        "pull_requests": [{"number": pr.number}],
    }
    if kind == "check_run":
        check["name"] = name
    return {"action": "completed", kind: check, "repository": {"full_name": pr.repository}}


class OpensPullRequests:
    """A repository gateway that opens a pull request for every change (#41, #42, ...), in memory."""

    name = "github"

    def __init__(self):
        self.numbers = itertools.count(41)

    def snapshot(self) -> Snapshot:
        return Snapshot(name="octo/widgets", default_branch="main", commit_sha="b" * 40)

    def list_files(self, commit_sha):
        return {"README.md": 9}

    def read_files(self, commit_sha, paths):
        return {"README.md": b"# Widgets"} if "README.md" in paths else {}

    def read_file(self, path):
        return None

    def publish(self, execution, change, *, pr_body) -> PublishResult:
        number = next(self.numbers)
        return PublishResult(
            branch=branch_name(execution.task_id, execution.task.title),
            commit_sha=f"{number:040x}",
            pr_number=number,
            pr_url=f"https://github.com/octo/widgets/pull/{number}",
            opened_pr=True,
        )


class RevisesPullRequests(OpensPullRequests):
    """``OpensPullRequests`` whose branches take revisions: each commit on a branch moves its head
    (in memory), fast-forward only, and a pull request's body can be edited."""

    def __init__(self):
        super().__init__()
        self.heads: dict[str, str] = {}
        self.bodies: dict[int, str] = {}
        self.commits = itertools.count(1)

    def publish(self, execution, change, *, pr_body) -> PublishResult:
        published = super().publish(execution, change, pr_body=pr_body)
        self.heads[published.branch] = published.commit_sha
        return published

    def branch_head(self, branch):
        return self.heads.get(branch)

    def diff(self, base_sha, head_sha, *, max_bytes):
        return "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# Widgets\n+# Widgets!\n"

    def commit_on_branch(self, branch, change, *, parent, message):
        if self.heads.get(branch) != parent:
            raise BranchMoved(branch, self.heads.get(branch) or "")
        self.heads[branch] = f"{next(self.commits):040x}"[::-1]
        return self.heads[branch]

    def edit_pull_request_body(self, number, body):
        self.bodies[number] = body
