"""The repository gateway's interface: the target repository's base commit and its files (what
the models are shown, see ``executions.context.repomap``), and where a generated change is published; with
the helpers both gateways share (branch name, file listing, commit message).
``executions.repositories.gateways.get_gateway()`` picks the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.crypto import salted_hmac
from django.utils.text import slugify

if TYPE_CHECKING:
    from executions.models import Execution


# A check's conclusion (check runs and suites) or a commit status's state that fails a commit's checks.
FAILED_CONCLUSIONS = frozenset(
    {"failure", "error", "timed_out", "cancelled", "action_required", "startup_failure"}
)


class PublishError(Exception):
    """Publishing failed; the message says what to fix and never contains a secret."""


class RepositoryUnavailable(PublishError):
    """The repository itself is missing or refused (GitHub answered 404 or 403): its tasks wait
    until it answers again (``executions.repositories.standing``)."""


class GitHubTrouble(PublishError):
    """GitHub itself failed (a 5xx, a rate limit, a timeout, no connection): nothing is wrong with
    the work or the repository; it is tried again later."""


class BranchMoved(PublishError):
    """A revision's commit was not made: its branch no longer points at the commit it was made on
    (someone pushed meanwhile). Nothing was written; ``head`` is where the branch is now."""

    def __init__(self, branch: str, head: str):
        super().__init__(
            f"The branch {branch} moved to {head[:12]} while the revision ran: its commit was not made "
            "(never a force push)"
        )
        self.head = head


class BranchGone(PublishError):
    """A revision's branch no longer exists (deleted on GitHub, or by hand)."""


@dataclass(frozen=True)
class FileChange:
    """One file's new state: its whole new content, or deleted. ``added``/``removed`` count the
    lines that differ from the base commit (``executions.changes.edits`` fills them in)."""

    path: str
    content: str
    deleted: bool = False
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class Change:
    """A change applied to the base commit's files (see ``executions.changes.edits``), ready to publish.

    ``base_sha``: the commit the change was made against; publishers build on it when it is set,
    so a file written in full never undoes a commit that landed after the snapshot was read."""

    summary: str
    files: list[FileChange]
    base_sha: str = ""

    @classmethod
    def from_json(cls, data: dict) -> Change:
        """The change ``as_json`` recorded (an execution's ``change``)."""
        files = [
            FileChange(
                path=f.get("path", ""),
                content=f.get("content") or "",
                deleted=bool(f.get("deleted")),
                added=f.get("added", 0),
                removed=f.get("removed", 0),
            )
            for f in data.get("files", [])
            if isinstance(f, dict)
        ]
        return cls(summary=data.get("summary", ""), files=files, base_sha=data.get("base_sha", ""))

    def as_json(self) -> dict:
        return {
            "summary": self.summary,
            "base_sha": self.base_sha,
            "files": [
                {
                    "path": f.path,
                    "content": None if f.deleted else f.content,
                    "deleted": f.deleted,
                    "added": f.added,
                    "removed": f.removed,
                }
                for f in self.files
            ],
        }


@dataclass(frozen=True)
class Snapshot:
    """The repository's base commit. Its files: ``gateway.list_files(commit_sha)`` and
    ``gateway.read_files(commit_sha, paths)``; ``executions.context.repomap`` turns them into what the
    models see, once per commit."""

    name: str
    default_branch: str
    commit_sha: str


@dataclass(frozen=True)
class PublishResult:
    branch: str
    commit_sha: str
    pr_number: int | None = None
    pr_url: str = ""
    opened_pr: bool = False  # True only when this call opened a new pull request


class RepositoryGateway(Protocol):
    name: str  # "local-git" or "github"

    def publish(self, execution: Execution, change: Change, *, pr_body: str) -> PublishResult:
        """Commit ``change`` on the task's branch and, where the gateway has pull requests, open
        (or update) one with ``pr_body`` as its description (built by the pipeline)."""
        ...

    def read_file(self, path: str) -> str | None:
        """A file of the default branch, or None when it does not exist."""
        ...

    def snapshot(self) -> Snapshot:
        """The default branch's head commit (cheap: the file list is read once per commit)."""
        ...

    def list_files(self, commit_sha: str) -> dict[str, int]:
        """Every file (blob) of ``commit_sha`` with its size in bytes."""
        ...

    def read_files(self, commit_sha: str, paths: list[str]) -> dict[str, bytes]:
        """The raw content of ``paths`` at ``commit_sha``; a path that is not a file there is absent."""
        ...

    # --- revisions: follow-up commits on a branch the product published ----------------------

    def branch_head(self, branch: str) -> str | None:
        """The commit ``branch`` points at now; None when there is no such branch."""
        ...

    def diff(self, base_sha: str, head_sha: str, *, max_bytes: int) -> str:
        """What ``head_sha`` changed since ``base_sha``, as a unified diff cut to ``max_bytes``."""
        ...

    def commit_on_branch(self, branch: str, change: Change, *, parent: str, message: str) -> str:
        """One commit holding ``change`` on top of ``parent``, and ``branch`` moved to it only if it
        still points at ``parent`` (a fast-forward, never a force push); the new commit's sha.
        Raises ``BranchMoved`` when the branch moved, ``BranchGone`` when it is gone."""
        ...


def cut_diff(diff: bytes, max_bytes: int) -> str:
    """A diff as text within ``max_bytes`` of UTF-8, cut on a line with a note saying how much is left out."""
    if len(diff) <= max_bytes:
        return diff.decode("utf-8", "replace")
    note = f"\n[The diff is cut here: {len(diff):,} bytes in all, over the {max_bytes:,} shown.]\n"
    kept = diff[: max(max_bytes - len(note.encode()), 0)].decode("utf-8", "ignore")
    return kept.rsplit("\n", 1)[0] + note


def branch_name(task_id: int, title: str) -> str:
    """Deterministic per task, so a retry reuses its branch: ``<prefix>/<task id>-<slug>``."""
    slug = slugify(title)[:40].strip("-") or "task"
    return f"{branch_prefix()}/{task_id}-{slug}"


def branch_prefix() -> str:
    """``BRANCH_PREFIX``, or by default ``ai-`` and 8 hex digits unique to this deployment.

    Two deployments publishing to one repository must not reuse each other's branches (nor their
    pull requests). The default digits are an HMAC keyed by SECRET_KEY: stable for the deployment,
    different between deployments, and revealing nothing of the key. Rotating SECRET_KEY changes
    them; set BRANCH_PREFIX to keep branch names across a rotation.
    """
    if settings.BRANCH_PREFIX:
        return settings.BRANCH_PREFIX
    return "ai-" + salted_hmac("executions.repositories.gateways.branch_prefix", "deployment").hexdigest()[:8]


def commit_message(execution: Execution, change: Change) -> str:
    """The task's title, the change's summary, and which execution of which task generated it."""
    summary = (change.summary or execution.summary).strip()
    body = f"\n\n{summary[:2000]}" if summary else ""
    mode = "simulated execution" if execution.simulated else "execution"
    return (
        f"{execution.task.title[:72]}{body}\n\nGenerated by {mode} {execution.pk} (task {execution.task_id})."
    )
