"""Publishing to a git repository on disk (``LOCAL_REPO_PATH``), when GitHub is not configured.

One branch per task (``<BRANCH_PREFIX>/<task id>-<slug>``, ``gateways.base.branch_name``) and one commit per execution on top of it. Commits
are written with ``git fast-import`` straight into the object store: the working tree and the
checked-out branch are never touched, so a person can browse the repository while workers publish,
and a lock file next to the repository serialises publishers. The repository is created (with a
README on ``main``) the first time it is needed. Only the ``git`` command-line tool is used.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from executions.repositories.base import (
    BranchGone,
    BranchMoved,
    Change,
    PublishError,
    PublishResult,
    Snapshot,
    branch_name,
    commit_message,
    cut_diff,
)
from executions.repositories.paths import unsafe_path_reason

if TYPE_CHECKING:
    from executions.models import Execution, Repository

AUTHOR = ("PR Orchestrator", "orchestrator@localhost")
DEFAULT_BRANCH = "main"
README = """\
# Sandbox repository

The PR orchestrator publishes here when GitHub is not configured: one branch per task
(`<prefix>/<task id>-<title>`), one commit per execution. Browse them with:

    git log --all --oneline
"""


class LocalGitGateway:
    name = "local-git"

    def __init__(self, path: str | Path, *, base_branch: str = ""):
        self.path = Path(path).expanduser().resolve()
        self._branch: str | None = base_branch or None

    @classmethod
    def from_settings(cls) -> LocalGitGateway:
        return cls(settings.LOCAL_REPO_PATH)

    @classmethod
    def for_repository(cls, repository: Repository) -> LocalGitGateway:
        return cls(repository.name, base_branch=repository.base_branch.strip())

    # --- what the analyst sees ----------------------------------------------------------------

    def read_file(self, path: str) -> str | None:
        """A file of the default branch, or None when it does not exist (or is not a file).

        ``<branch>:<path>`` names an object of the branch's tree, so git never reads outside the
        commit (``..``, absolute paths and ``.git/`` are refused by git itself)."""
        branch = self.default_branch()
        result = self._run("cat-file", "blob", f"{branch}:{path}", check=False)
        return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None

    def check_access(self) -> None:
        """Raise ``PublishError`` unless the repository and its base branch are there."""
        self.snapshot()

    def snapshot(self) -> Snapshot:
        branch = self.default_branch()
        sha = self._git("rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}").decode().strip()
        return Snapshot(name=self.path.name, default_branch=branch, commit_sha=sha)

    def list_files(self, commit_sha: str) -> dict[str, int]:
        """Every blob of the commit with its size: one ``ls-tree``."""
        listed = self._git("ls-tree", "-r", "-l", "-z", commit_sha).decode("utf-8", "replace")
        sizes = {}
        for entry in filter(None, listed.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, _sha, size = meta.split()
            if kind == "blob" and size.isdigit():  # submodules ("commit") have no size
                sizes[path] = int(size)
        return sizes

    def recent_changes(self, commit_sha: str, *, commits: int = 300) -> list[list[str]]:
        """The files each of the last ``commits`` commits up to ``commit_sha`` changed (merges left
        out): one ``git log``, for the index's co-change signal. A history git cannot walk (a
        shallow or partial clone) gives none: co-change is a hint, never a reason to fail."""
        out = self._run(
            "log", "-n", str(commits), "--no-merges", "--name-only", "--format=%x00", commit_sha, check=False
        )
        if out.returncode != 0:
            return []
        text = out.stdout.decode("utf-8", "replace")
        return [c.strip("\n").split("\n") for c in text.split("\0") if c.strip()]

    def read_files(self, commit_sha: str, paths: list[str]) -> dict[str, bytes]:
        """Many files of one commit through one ``git cat-file --batch``."""
        wanted = [p for p in dict.fromkeys(paths) if not unsafe_path_reason(p, allow_workflows=True)]
        if not wanted:
            return {}
        out = self._git("cat-file", "--batch", input="".join(f"{commit_sha}:{p}\n" for p in wanted).encode())
        found, at = {}, 0
        for path in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                found[path] = out[at : at + size]
                at += size + 1
            elif len(header) == 3:  # a tree or a submodule: its body follows, skip it
                at += int(header[2]) + 1
        return found

    def read_history(self, *args: str) -> str:
        """The output of a git command that only reads (``log``, ``diff``): backtests read the
        history of merged changes (``executions.backtest.local_history``)."""
        return self._git(*args).decode("utf-8", "replace")

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, execution: Execution, change: Change, *, pr_body: str) -> PublishResult:
        """Commit on the task's branch. A local repository has no pull requests: ``pr_body`` is not
        used (the execution keeps its plan, summary and costs)."""
        task = execution.task
        branch = branch_name(task.id, task.title)
        base_branch = self.default_branch()
        with self._lock():
            heads = self._heads(base_branch, branch)
            if change.base_sha:
                # One commit on the base the change was made against, whatever the branch held:
                # the commit shows exactly this change (a retry replaces an earlier attempt).
                head = heads.get(branch)
                if head and self._same_change(head, change):
                    return PublishResult(branch=branch, commit_sha=head)  # a retry of the same change
                parent = change.base_sha
            else:
                parent = heads.get(branch) or heads[base_branch]
            if self._unchanged(parent, change):
                if branch in heads and not change.base_sha:
                    return PublishResult(branch=branch, commit_sha=parent)  # a retry of the same change
                raise PublishError(
                    f"Nothing to publish: the generated files are identical to {base_branch} (no file changed)."
                )
            stream = _fast_import_stream(branch, parent, commit_message(execution, change), change)
            sha = self._git("fast-import", "--quiet", "--force", input=stream).decode().strip()
        return PublishResult(branch=branch, commit_sha=sha)

    # --- revisions: follow-up commits on a task's branch --------------------------------------

    def branch_head(self, branch: str) -> str | None:
        """The commit ``branch`` points at; None when there is no such branch."""
        self.ensure_repository()
        found = self._run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
        return found.stdout.decode().strip() if found.returncode == 0 else None

    def diff(self, base_sha: str, head_sha: str, *, max_bytes: int) -> str:
        """``git diff base head``, cut to ``max_bytes`` (on a character, with a note)."""
        out = self._git("diff", "--no-color", "--no-ext-diff", "--no-renames", base_sha, head_sha)
        return cut_diff(out, max_bytes)

    def commit_on_branch(self, branch: str, change: Change, *, parent: str, message: str) -> str:
        """One commit on ``parent`` holding ``change``, ``branch`` moved to it only if it still
        points at ``parent``: a fast-forward (``fast-import`` without ``--force`` refuses anything
        else). ``BranchMoved`` when the branch moved, ``BranchGone`` when it was deleted."""
        with self._lock():
            head = self.branch_head(branch)
            if head is None:
                raise BranchGone(f"The branch {branch} no longer exists in {self.path}")
            if head != parent:
                if self._same_change(head, change):
                    return head  # a retry of the same change, committed before
                raise BranchMoved(branch, head)
            if self._unchanged(parent, change):
                raise PublishError(f"Nothing to commit: the revision's files are identical to {branch}.")
            stream = _fast_import_stream(branch, parent, message, change)
            return self._git("fast-import", "--quiet", input=stream).decode().strip()

    def _same_change(self, head: str, change: Change) -> bool:
        """True when ``head`` is one commit on the change's base holding exactly this change."""
        if self._git("rev-parse", f"{head}^").decode().strip() != change.base_sha:
            return False
        touched = self._git("diff", "--name-only", "-z", "--no-renames", change.base_sha, head).decode(
            "utf-8", "replace"
        )
        return set(filter(None, touched.split("\0"))) == {f.path for f in change.files} and self._unchanged(
            head, change
        )

    def _heads(self, *branches: str) -> dict[str, str]:
        refs = [f"refs/heads/{b}" for b in branches]
        listed = self._git("for-each-ref", "--format=%(refname) %(objectname)", *refs).decode()
        heads = {}
        for line in listed.splitlines():
            ref, sha = line.rsplit(" ", 1)
            heads[ref.removeprefix("refs/heads/")] = sha
        if branches[0] not in heads:
            raise PublishError(f"The local repository {self.path} has no branch {branches[0]}: recreate it.")
        return heads

    def _unchanged(self, parent: str, change: Change) -> bool:
        """True when every file already has this content (a deleted one is absent); refuses a file
        that would replace a folder."""
        wanted = {f.path: None if f.deleted else _blob_sha(f.content.encode("utf-8")) for f in change.files}
        prefixes = {"/".join(p.split("/")[:i]) for p in wanted for i in range(1, p.count("/") + 1)}
        listed = self._git("ls-tree", "-t", "-z", parent, "--", *wanted, *prefixes).decode("utf-8", "replace")
        present = {}
        for entry in filter(None, listed.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, sha = meta.split()
            if (path in wanted and kind != "blob") or (path in prefixes and kind != "tree"):
                raise PublishError(
                    f"The change writes {path!r} as a {'file' if path in wanted else 'folder'}, "
                    f"but the repository has a {'folder' if kind == 'tree' else 'file'} there."
                )
            present[path] = sha
        return all(present.get(path) == sha for path, sha in wanted.items())

    # --- the repository ----------------------------------------------------------------------

    def default_branch(self) -> str:
        """The repository's base branch (its checked-out branch unless one was named)."""
        self.ensure_repository()
        if self._branch is None:
            self._branch = self._git("symbolic-ref", "--short", "HEAD").decode().strip() or DEFAULT_BRANCH
        return self._branch

    def ensure_repository(self) -> None:
        """Create the repository with a README commit on ``main`` unless it exists."""
        if (self.path / ".git").exists():
            return
        with self._lock():
            if (self.path / ".git").exists():
                return  # another process created it while we waited
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--initial-branch", DEFAULT_BRANCH)
            (self.path / "README.md").write_text(README)
            self._git("add", "README.md")
            self._git(
                "-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", "Initial commit"
            )

    @contextmanager
    def _lock(self):
        """An exclusive lock beside the repository, held while a branch moves."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f".{self.path.name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _git(self, *args: str, input: bytes | None = None) -> bytes:
        return self._run(*args, input=input).stdout

    def _run(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        try:
            result = subprocess.run(
                ["git", "-C", str(self.path), *args], input=input, capture_output=True, env=_git_env()
            )
        except FileNotFoundError:
            raise PublishError("The git command was not found: install git to publish locally.") from None
        if check and result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise PublishError(
                f"git {args[0]} failed in {self.path}: {detail[-1] if detail else f'exit {result.returncode}'}"
            )
        return result


def _git_env() -> dict[str, str]:
    name, email = AUTHOR
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_LITERAL_PATHSPECS": "1",  # a path is a path, never a glob
    }


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _quote(path: str) -> str:
    # fast-import's C-style quoting; validation already refused control characters.
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _data(text: str) -> bytes:
    payload = text.encode("utf-8")
    return b"data %d\n%s\n" % (len(payload), payload)


def _fast_import_stream(branch: str, parent: str, message: str, change: Change) -> bytes:
    name, email = AUTHOR
    lines = [
        b"feature done\nfeature get-mark\n",
        f"commit refs/heads/{branch}\nmark :1\n".encode(),
        f"committer {name} <{email}> {int(time.time())} +0000\n".encode(),
        _data(message),
        f"from {parent}\n".encode(),
    ]
    for f in change.files:
        if f.deleted:
            lines.append(f"D {_quote(f.path)}\n".encode())
            continue
        lines.append(f"M 100644 inline {_quote(f.path)}\n".encode())
        lines.append(_data(f.content))
    lines.append(b"\nget-mark :1\ndone\n")
    return b"".join(lines)
