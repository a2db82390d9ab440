"""Everything the product asks of GitHub's REST API, through PyGithub, for one repository:
its files (what the models see), publishing (one commit per change, one branch and one open PR per
task), what became of a pull request, its issues (``list_issues``) and comments on them, and
revisions: a branch's head, the diff so far, the feedback (failed checks with their annotations, a
review's comments) and one fast-forward commit on an existing branch (``commit_on_branch``).

``publish`` is idempotent per task: the branch name is deterministic (``<BRANCH_PREFIX>/<task id>-<slug>``), a
branch head that already holds the same tree on the same base is reused instead of committed
again, and an open pull request for the branch is updated instead of a second one being opened.
Every GitHub failure becomes a ``PublishError`` whose text says what to fix and holds no secret;
one that says the repository itself is missing or refused (404, or a 403 that is not a rate limit)
is a ``RepositoryUnavailable``, reported to ``on_unavailable`` (``executions.repositories.gateways.get_gateway`` marks the
repository, so its tasks wait). Publishing never calls a model, so a retry is never charged twice.
A write whose outcome is unknown (GitHub answered 5xx, timed out or dropped the connection: it
may have applied it) is read back before it fails (the branch's head, the open pull request,
the comment), and a write that landed is done (``_landed``).
One method per GitHub write: a new kind of write is a new method.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import requests
from django.conf import settings
from github import Auth, Github, GithubException, GithubRetry, InputGitTreeElement, UnknownObjectException

from executions.repositories.base import (
    FAILED_CONCLUSIONS,
    BranchGone,
    BranchMoved,
    Change,
    GitHubTrouble,
    PublishError,
    PublishResult,
    RepositoryUnavailable,
    Snapshot,
    branch_name,
    commit_message,
    cut_diff,
)
from executions.repositories.untrusted import untrusted, untrusted_data
from notifications.secrets import mask_secrets

if TYPE_CHECKING:
    from github.GitRef import GitRef
    from github.PullRequest import PullRequest
    from github.Repository import Repository

    from executions import models
    from executions.models import Execution

log = logging.getLogger(__name__)

LABEL_COLOR = "6f42c1"
LABEL_DESCRIPTION = "Opened by the budget-capped PR automation; review before merging."


@dataclass(frozen=True)
class PullSnapshot:
    """A pull request as GitHub reports it (``GitHubGateway.pull_request``)."""

    number: int
    state: str  # open, merged or closed (without merging)
    head_sha: str
    merged_at: dt.datetime | None
    closed_at: dt.datetime | None
    etag: str


@dataclass(frozen=True)
class IssuePage:
    """The issues ``GitHubGateway.list_issues`` read: GitHub's JSON objects, oldest update first
    (pull requests included: GitHub lists them as issues too); None when unchanged since the ETag."""

    issues: list[dict] | None
    etag: str
    complete: bool  # False when the page cap cut the listing: the rest comes next time


class BoundedGithubRetry(GithubRetry):
    """PyGithub's retry, but a ``Retry-After`` never holds a worker longer than the rate-limit wait cap;
    past the cap the last answer comes back and the execution fails saying when to retry."""

    def sleep_for_retry(self, response=None) -> bool:
        retry_after = self.get_retry_after(response) if response is not None else None
        if not retry_after:
            return False
        cap = self.max_rate_limit_wait
        time.sleep(retry_after if cap is None else min(retry_after, cap))
        return True


class GitHubGateway:
    name = "github"

    def __init__(
        self,
        *,
        client: Github,
        repository: str,
        auth: Auth.Auth,
        auth_hint: str,
        secrets: tuple[str, ...] = (),
        base_branch: str = "",
        draft: bool = False,
        labels: tuple[str, ...] = ("ai-generated",),
        api_url: str = "",
        where: str = "GITHUB_REPOSITORY",
        on_unavailable: Callable[[str], None] | None = None,
        single_try_client: Github | None = None,
    ):
        self.client = client
        # For writes a repeat would duplicate (a comment): PyGithub's retries repeat a POST after a
        # 5xx, which GitHub may have acted on. The caller retries instead, checking first.
        self.single_try_client = single_try_client or client
        self.repository = repository
        self.auth = auth
        self.auth_hint = auth_hint  # which settings to check when GitHub rejects the credentials
        self.secrets = tuple(s for s in secrets if s)
        self.base_branch = base_branch
        self.draft = draft
        self.labels = tuple(label for label in labels if label)
        self.api_url = api_url
        self.where = where  # where the repository's name and base branch are set
        self.on_unavailable = on_unavailable
        self._blob_shas: dict[str, dict[str, tuple[str, int]]] = {}  # commit -> path -> (blob, size)

    @classmethod
    def from_settings(cls, repository: str = "") -> GitHubGateway:
        """``repository`` (default: GITHUB_REPOSITORY) with the settings' credentials and options."""
        repository = (repository or settings.GITHUB_REPOSITORY).strip()
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise PublishError(f"GITHUB_REPOSITORY must look like owner/name, not {repository!r}.")
        return cls._build(repository, base_branch=settings.GITHUB_BASE_BRANCH.strip())

    @classmethod
    def for_repository(
        cls, repository: models.Repository, *, on_unavailable: Callable[[str], None] | None = None
    ) -> GitHubGateway:
        """The gateway of a ``Repository`` row: its name, base branch and labels. A 404 or 403 for
        it, or a name that cannot be one, is told to ``on_unavailable`` (the caller marks the row:
        ``executions.repositories.gateways.get_gateway``) and raised as ``RepositoryUnavailable``."""
        name = repository.name.strip()
        if name.count("/") != 1 or not all(name.split("/")):
            reason = f"Repository {name!r} must look like owner/name: correct it in the admin."
            if on_unavailable is not None:
                on_unavailable(reason)  # its tasks wait, the others go on
            raise RepositoryUnavailable(reason)
        return cls._build(
            name,
            base_branch=repository.base_branch.strip(),
            labels=tuple(repository.labels),
            where="its name and base branch under Repositories in the admin",
            on_unavailable=on_unavailable,
        )

    @classmethod
    def _build(cls, repository: str, **options) -> GitHubGateway:
        auth, hint, secrets = _auth_from_settings()
        retry = None
        if settings.GITHUB_RETRIES > 0:
            # Retries 5xx and rate-limit 403s; a reset further away than the wait cap raises at once.
            retry = BoundedGithubRetry(
                total=settings.GITHUB_RETRIES,
                backoff_factor=settings.GITHUB_RETRY_BACKOFF,
                max_rate_limit_wait=settings.GITHUB_MAX_RATE_LIMIT_WAIT,
                raise_on_status=False,  # the last 5xx comes back as a GithubException with its status
            )
        client_options = {
            "auth": auth,
            "base_url": settings.GITHUB_API_URL.rstrip("/"),
            "timeout": settings.GITHUB_TIMEOUT,
            "seconds_between_requests": settings.GITHUB_SECONDS_BETWEEN_REQUESTS or None,
            "seconds_between_writes": settings.GITHUB_SECONDS_BETWEEN_WRITES or None,
        }
        return cls(
            client=Github(**client_options, retry=retry),
            single_try_client=Github(**client_options, retry=None),
            repository=repository,
            auth=auth,
            auth_hint=hint,
            secrets=secrets,
            draft=settings.GITHUB_DRAFT_PRS,
            api_url=settings.GITHUB_API_URL,
            **{"labels": (settings.GITHUB_PR_LABEL,), **options},
        )

    # --- what the analyst sees ----------------------------------------------------------------

    def read_file(self, path: str) -> str | None:
        """A file of the default branch, or None when it does not exist (or is a directory)."""
        with self._errors(f"reading {path}"):
            try:
                contents = self.client.withLazy(True).get_repo(self.repository).get_contents(path)
            except UnknownObjectException:
                self._repo()  # a missing repository is a configuration error, not a missing file
                return None
            if isinstance(contents, list) or contents.type != "file":
                return None
            return contents.decoded_content.decode("utf-8", errors="replace")

    def snapshot(self) -> Snapshot:
        """The base branch's head commit."""
        repo = self._repo()
        branch = self.base_branch or repo.default_branch
        ref = self._ref(repo, branch, what=f"reading the base branch {branch}")
        if ref is None:
            raise self._no_base_branch(branch)
        return Snapshot(name=self.repository, default_branch=branch, commit_sha=ref.object.sha)

    def list_files(self, commit_sha: str) -> dict[str, int]:
        """Every blob of the commit with its size: one recursive tree request."""
        self._blob_shas[commit_sha] = self._tree_of(self._repo(), commit_sha)
        return {path: size for path, (_blob, size) in self._blob_shas[commit_sha].items()}

    def read_files(self, commit_sha: str, paths: list[str]) -> dict[str, bytes]:
        """Files of one commit through the git blob API (one request per file)."""
        repo = self.client.withLazy(True).get_repo(self.repository)
        if commit_sha not in self._blob_shas:
            self._blob_shas[commit_sha] = self._tree_of(self._repo(), commit_sha)
        blobs = self._blob_shas[commit_sha]
        found = {}
        for path in dict.fromkeys(paths):
            if path not in blobs:
                continue
            with self._errors(f"reading {path} at {commit_sha[:12]}"):
                blob = repo.get_git_blob(blobs[path][0])
            found[path] = (
                base64.b64decode(blob.content) if blob.encoding == "base64" else blob.content.encode()
            )
        return found

    def _tree_of(self, repo: Repository, commit_sha: str) -> dict[str, tuple[str, int]]:
        with self._errors(f"listing the files of {commit_sha[:12]}"):
            tree = repo.get_git_tree(commit_sha, recursive=True)
        if tree.raw_data.get("truncated"):
            log.warning(
                "GitHub truncated the tree of %s at %s; the context sees part of it",
                self.repository,
                commit_sha,
            )
        blobs = {e.path: (e.sha, e.size or 0) for e in tree.tree if e.type == "blob"}
        # A file name is GitHub text too: one that would not be shown as it is (it quotes a secret)
        # is left out of what the models see, rather than shown under a name that does not exist.
        hidden = [path for path in blobs if untrusted(path) != path]
        if hidden:
            log.warning(
                "%s file name(s) of %s at %s are not shown: they quote a secret",
                len(hidden),
                self.repository,
                commit_sha,
            )
        return {path: blob for path, blob in blobs.items() if path not in hidden}

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, execution: Execution, change: Change, *, pr_body: str) -> PublishResult:
        task = execution.task
        branch = branch_name(task.id, task.title)
        repo = self._writable()
        base = self.base_branch or repo.default_branch
        commit_sha = self._commit(repo, base, branch, change, message=commit_message(execution, change))
        try:
            pull, opened = self._pull_request(repo, base, branch, title=task.title[:256], body=pr_body)
        except PublishError as exc:
            # Say where the work is: the branch stays, and a retry reuses it instead of starting over.
            raise PublishError(
                f"{exc} The commit {commit_sha[:12]} is on branch {branch}; a retry reuses it."
            ) from None
        self._add_labels(repo, pull)
        log.info(
            "published execution %s as %s on %s (PR #%s)", execution.pk, commit_sha[:12], branch, pull.number
        )
        return PublishResult(
            branch=branch,
            commit_sha=commit_sha,
            pr_number=pull.number,
            pr_url=pull.html_url,
            opened_pr=opened,
        )

    def _commit(self, repo: Repository, base: str, branch: str, change: Change, *, message: str) -> str:
        """The branch's head after pointing it at one commit holding every file on top of ``base``."""
        base_ref = self._ref(repo, base, what=f"reading the base branch {base}")
        if base_ref is None:
            raise self._no_base_branch(base)
        # A change made against a snapshot is committed on that snapshot's commit.
        base_sha = change.base_sha or base_ref.object.sha
        with self._errors("creating the commit", repository_level=True):
            base_commit = repo.get_git_commit(base_sha)
            tree = repo.create_git_tree(_tree_elements(change), base_tree=base_commit.tree)
        if tree.sha == base_commit.tree.sha:
            raise PublishError(
                f"Nothing to publish: the generated files are identical to {base} (no file changed)."
            )
        head_ref = self._ref(repo, branch, what=f"reading the branch {branch}")
        if head_ref is not None:
            with self._errors(f"reading the branch {branch}"):
                head = repo.get_git_commit(head_ref.object.sha)
            if head.tree.sha == tree.sha and [p.sha for p in head.parents] == [base_sha]:
                return head.sha  # a retry of the same change: no second commit of the same content
        with self._errors("creating the commit", repository_level=True):
            commit = repo.create_git_commit(message, tree, [base_commit])
        self._point_branch(repo, branch, head_ref, commit.sha)
        return commit.sha

    def _point_branch(self, repo: Repository, branch: str, ref: GitRef | None, sha: str) -> None:
        with self._errors(f"moving the branch {branch}", repository_level=True):
            try:
                if ref is not None:
                    ref.edit(sha, force=True)
                    return
                try:
                    repo.create_git_ref(f"refs/heads/{branch}", sha)
                except GithubException as exc:
                    if exc.status != 422 or "already exists" not in _message(exc).lower():
                        raise
                    # Created meanwhile (another worker, or a retry after a lost answer): move it.
                    repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)
            except (GithubException, requests.RequestException) as exc:
                if not self._landed(exc, lambda: self.branch_head(branch) == sha):
                    raise

    def _pull_request(
        self, repo: Repository, base: str, branch: str, *, title: str, body: str
    ) -> tuple[PullRequest, bool]:
        """The open PR of ``branch`` (its body refreshed), or a new one; True when opened now."""
        pull = self._open_pull(repo, branch)
        if pull is not None:
            if pull.body != body:
                self._best_effort(f"updating pull request #{pull.number}", lambda: pull.edit(body=body))
            return pull, False
        with self._errors("opening the pull request", repository_level=True):
            try:
                return repo.create_pull(
                    base=base, head=branch, title=title, body=body, draft=self.draft
                ), True
            except requests.RequestException as exc:
                if (pull := self._landed(exc, lambda: self._open_pull(repo, branch))) is None:
                    raise
                return pull, True
            except GithubException as exc:
                if (pull := self._landed(exc, lambda: self._open_pull(repo, branch))) is not None:
                    return pull, True  # GitHub opened it and lost its answer
                text = _message(exc).lower()
                if exc.status != 422:
                    raise
                if "already exists" in text and (pull := self._open_pull(repo, branch)) is not None:
                    return pull, False  # opened meanwhile: reuse it
                if "no commits between" in text:
                    raise PublishError(
                        f"GitHub found no commits between {base} and {branch}: the change is already "
                        f"in {base}, so there is nothing to review."
                    ) from None
                if "draft" in text and self.draft:
                    log.warning(
                        "draft pull requests are not available in %s; opening a ready one", self.repository
                    )
                    return repo.create_pull(base=base, head=branch, title=title, body=body), True
                raise

    def _open_pull(self, repo: Repository, branch: str) -> PullRequest | None:
        owner = self.repository.split("/")[0]
        with self._errors("looking for an open pull request"):
            return next(iter(repo.get_pulls(state="open", head=f"{owner}:{branch}")), None)

    def _add_labels(self, repo: Repository, pull: PullRequest) -> None:
        """Best effort: the PR is what matters, and it is already recorded by the caller."""
        present = {label.name for label in pull.labels}
        missing = [name for name in self.labels if name not in present]
        if not missing:
            return

        def label() -> None:
            for name in missing:
                try:
                    repo.get_label(name)
                except UnknownObjectException:
                    try:
                        repo.create_label(name, LABEL_COLOR, LABEL_DESCRIPTION)
                    except GithubException as exc:
                        if exc.status != 422:  # 422: created meanwhile
                            raise
            pull.add_to_labels(*missing)

        self._best_effort(f"labelling pull request #{pull.number}", label)

    # --- what became of a pull request (executions.github.pull_requests) ---------------------------------

    def pull_request(self, number: int, *, etag: str = "") -> PullSnapshot | None:
        """The pull request's state and head now; None when it is unchanged since ``etag``.

        A conditional request (PyGithub's ``update`` with ``If-None-Match``): GitHub answers an
        unchanged PR with 304, which does not count against the rate limit.
        """
        with self._errors(f"reading pull request #{number}"):
            pull = self._lazy_repo().get_pull(number)  # lazy: no request yet
            if not pull.update(additional_headers={"If-None-Match": etag} if etag else None):
                return None
            state = "merged" if pull.merged else "open" if pull.state == "open" else "closed"
            return PullSnapshot(
                number=number,
                state=state,
                head_sha=(pull.head.sha if pull.head else None) or "",
                merged_at=pull.merged_at,
                closed_at=pull.closed_at,
                etag=pull.etag or "",
            )

    def check_results(self, sha: str) -> dict[str, str | None]:
        """Each check run's conclusion (``pending`` while it runs) and each commit status's state on
        ``sha``, by name: what GitHub shows as the commit's checks."""
        with self._errors(f"reading the checks of {sha[:12]}"):
            commit = self._lazy_repo().get_commit(sha)  # lazy: no request yet
            results: dict[str, str | None] = {
                untrusted(f"check_run:{run.name}"): run.conclusion if run.status == "completed" else "pending"
                for run in commit.get_check_runs()
            }
            for status in commit.get_combined_status().statuses:
                results[untrusted(f"status:{status.context}")] = status.state
        return results

    # --- revisions: follow-up commits on a pull request's branch (executions.revisions.lifecycle) ----------

    def branch_head(self, branch: str) -> str | None:
        """The commit ``branch`` points at; None when the branch is gone."""
        with self._errors(f"reading the branch {branch}"):
            try:
                return self._lazy_repo().get_git_ref(f"heads/{branch}").object.sha  # lazy: read here
            except UnknownObjectException:
                return None

    def diff(self, base_sha: str, head_sha: str, *, max_bytes: int) -> str:
        """What ``head_sha`` changed since ``base_sha`` (GitHub's compare: each file's patch), as a
        unified diff cut to ``max_bytes``. A file GitHub gives no patch for (binary, or too large)
        is named with its counts."""
        with self._errors(f"comparing {base_sha[:12]} with {head_sha[:12]}"):
            files = self._lazy_repo().compare(base_sha, head_sha).files
        parts = []
        for f in files:
            old = "/dev/null" if f.status == "added" else f"a/{f.previous_filename or f.filename}"
            new = "/dev/null" if f.status == "removed" else f"b/{f.filename}"
            body = f.patch or f"[no patch shown by GitHub: +{f.additions} −{f.deletions}]"
            parts.append(f"--- {old}\n+++ {new}\n{body}\n")
        return cut_diff(untrusted("".join(parts)).encode("utf-8"), max_bytes)

    # --- history: merged pull requests (``executions.backtest``) -------------------------------

    def merged_pull_requests(self, *, since: dt.date | None = None, max_read: int = 1000) -> Iterator[dict]:
        """The pull requests merged into the base branch (GitHub's JSON), from ``since`` on, by
        their last update, newest first (a pull request is updated when it is merged, so none merged
        after ``since`` comes after one updated before it); read a page at a time, as the caller
        takes them, and at most ``max_read`` closed pull requests."""
        repo = self._repo()
        branch = self.base_branch or repo.default_branch
        with self._errors("listing the merged pull requests", repository_level=True):
            pulls = repo.get_pulls(state="closed", base=branch, sort="updated", direction="desc")
            for n, pull in enumerate(pulls):
                data = pull.raw_data
                updated = _date_of(data.get("updated_at"))
                if n >= max_read or (since and updated and updated < since):
                    return
                merged = _date_of(data.get("merged_at"))
                if merged and data.get("merge_commit_sha") and not (since and merged < since):
                    yield untrusted_data(data)  # titles, bodies and branch names are anyone's text

    def first_parent(self, sha: str) -> str | None:
        """The first parent of commit ``sha`` (a merge's: the branch it was merged into)."""
        with self._errors(f"reading the commit {sha[:12]}"):
            parents = self._lazy_repo().get_git_commit(sha).parents
        return parents[0].sha if parents else None

    def changed_files(self, base_sha: str, head_sha: str) -> list[tuple[str, str, str]]:
        """``(path, status, patch)`` of each file ``head_sha`` changed since ``base_sha`` (GitHub's
        compare; ``patch``: the hunks, "" when GitHub shows none)."""
        with self._errors(f"comparing {base_sha[:12]} with {head_sha[:12]}"):
            files = self._lazy_repo().compare(base_sha, head_sha).files
        return [(untrusted(f.filename), f.status, untrusted(f.patch or "")) for f in files]

    def issue_text(self, number: int) -> tuple[str, str] | None:
        """The title and body of issue ``number``; None when it is a pull request or is gone."""
        with self._errors(f"reading the issue #{number}"):
            try:
                data = self._lazy_repo().get_issue(number).raw_data
            except UnknownObjectException:
                return None
        if data.get("pull_request") is not None:
            return None
        return untrusted(data.get("title") or ""), untrusted(data.get("body") or "")

    def commit_on_branch(self, branch: str, change: Change, *, parent: str, message: str) -> str:
        """One commit on ``parent`` holding ``change``; ``branch`` moved to it only if it still
        points at ``parent`` (``force: false``: GitHub refuses anything but a fast-forward).
        ``BranchMoved`` when it moved, ``BranchGone`` when it was deleted."""
        repo = self._writable()
        ref = self._ref(repo, branch, what=f"reading the branch {branch}")
        if ref is None:
            raise BranchGone(f"The branch {branch} no longer exists in {self.repository}")
        with self._errors("creating the commit", repository_level=True):
            parent_commit = repo.get_git_commit(parent)
            tree = repo.create_git_tree(_tree_elements(change), base_tree=parent_commit.tree)
        if tree.sha == parent_commit.tree.sha:
            raise PublishError(f"Nothing to commit: the revision's files are identical to {branch}.")
        if ref.object.sha != parent:
            with self._errors(f"reading the branch {branch}"):
                head = repo.get_git_commit(ref.object.sha)
            if head.tree.sha == tree.sha and [p.sha for p in head.parents] == [parent]:
                return head.sha  # a retry of the same change, committed before
            raise BranchMoved(branch, ref.object.sha)
        with self._errors("creating the commit", repository_level=True):
            commit = repo.create_git_commit(message, tree, [parent_commit])
        try:
            ref.edit(commit.sha, force=False)
        except (GithubException, requests.RequestException) as exc:
            if self._landed(exc, lambda: self.branch_head(branch) == commit.sha):
                pass  # GitHub moved the branch and lost its answer: the commit is made
            elif not isinstance(exc, GithubException) or exc.status != 422:
                raise PublishError(self.explain(exc, f"moving the branch {branch}")) from None
            else:
                moved_to = self.branch_head(branch)  # 422: not a fast-forward, or the branch is gone
                if moved_to is None:
                    raise BranchGone(f"The branch {branch} no longer exists in {self.repository}") from None
                raise BranchMoved(branch, moved_to) from None
        log.info("committed %s on %s (a revision)", commit.sha[:12], branch)
        return commit.sha

    def edit_pull_request_body(self, number: int, body: str) -> None:
        """Replace pull request ``number``'s description (its cost lines after a revision)."""
        with self._errors(f"updating pull request #{number}"):
            self._lazy_repo().get_pull(number).edit(body=self._scrub(body))

    def failed_checks(self, sha: str, *, max_annotations: int) -> list[dict]:
        """The failed check runs and commit statuses of ``sha``: each run's name, conclusion,
        output title and summary, and up to ``max_annotations`` of its annotations (path, line,
        message; pages are read only while more are wanted); each status's context, state and
        description."""
        failed: list[dict] = []
        with self._errors(f"reading the checks of {sha[:12]}"):
            commit = self._lazy_repo().get_commit(sha)  # lazy: no request yet
            for run in commit.get_check_runs():
                if run.status != "completed" or run.conclusion not in FAILED_CONCLUSIONS:
                    continue
                output = run.output
                annotations = []
                if output is not None and output.annotations_count:
                    for note in run.get_annotations():
                        if len(annotations) >= max_annotations:
                            break
                        annotations.append(
                            {"path": note.path or "", "line": note.start_line, "message": note.message or ""}
                        )
                failed.append(
                    {
                        "name": run.name or "",
                        "conclusion": run.conclusion,
                        "title": (output.title if output is not None else "") or "",
                        "summary": (output.summary if output is not None else "") or "",
                        "annotations": annotations,
                    }
                )
            for status in commit.get_combined_status().statuses:
                if status.state in FAILED_CONCLUSIONS:
                    failed.append(
                        {
                            "name": status.context or "",
                            "conclusion": status.state,
                            "title": status.description or "",
                        }
                    )
        return untrusted_data(failed)

    def review(self, number: int, review_id: int) -> dict:
        """A review of pull request ``number``: its state, author and text."""
        with self._errors(f"reading review {review_id} of pull request #{number}"):
            review = self._lazy_repo().get_pull(number).get_review(review_id)
            return untrusted_data(
                {
                    "state": (review.state or "").lower(),
                    "author": review.user.login if review.user else "",
                    "body": review.body or "",
                }
            )

    def review_comments(self, number: int, review_id: int, *, max_comments: int) -> list[dict]:
        """Up to ``max_comments`` of a review's comments: each one's path, line, diff hunk and text."""
        found: list[dict] = []
        with self._errors(f"reading review {review_id} of pull request #{number}"):
            for comment in self._lazy_repo().get_pull(number).get_single_review_comments(review_id):
                if len(found) >= max_comments:
                    break
                found.append(
                    {
                        "path": comment.path,
                        "line": comment.line or comment.original_line,
                        "diff_hunk": comment.diff_hunk or "",
                        "body": comment.body or "",
                    }
                )
        return untrusted_data(found)

    # --- access, issues and comments (executions.github.issues, executions.repositories.comments) ------

    def check_access(self) -> None:
        """Raise ``RepositoryUnavailable`` unless the repository, its base branch and write access
        are there: what its tasks need before they may run again."""
        repo = self._writable()
        branch = self.base_branch or repo.default_branch
        if self._ref(repo, branch, what=f"reading the base branch {branch}") is None:
            raise self._no_base_branch(branch)

    def list_issues(
        self, *, since: dt.datetime | None, etag: str = "", label: str = "", max_pages: int = 10
    ) -> IssuePage:
        """Issues (and pull requests) updated at or after ``since``, oldest update first, open and
        closed; without ``since``, the open ones carrying ``label``. The first page is a conditional
        request (``If-None-Match``): GitHub answers an unchanged listing with 304, which costs no
        rate limit. At most ``max_pages`` pages of 100."""
        parameters = {"sort": "updated", "direction": "asc", "per_page": 100}
        if since is not None:
            parameters |= {"state": "all", "since": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        else:
            parameters |= {"state": "open", **({"labels": label} if label else {})}
        url = f"{self._lazy_repo().url}/issues"
        requester = self.client.requester
        issues: list[dict] = []
        with self._errors("listing the issues", repository_level=True):
            headers, data = requester.requestJsonAndCheck(
                "GET", url, parameters=parameters, headers={"If-None-Match": etag} if etag else None
            )
            if data is None:  # 304: nothing changed since the ETag
                return IssuePage(issues=None, etag=etag, complete=True)
            first_etag = headers.get("etag", "")
            for page in range(1, max_pages + 1):
                issues.extend(item for item in data if isinstance(item, dict))
                next_url = _next_link(headers.get("link", ""))
                if not next_url:
                    return IssuePage(issues=issues, etag=first_etag, complete=True)
                if page == max_pages:
                    break  # the cap: the rest comes with the next poll
                headers, data = requester.requestJsonAndCheck("GET", next_url)
        return IssuePage(issues=issues, etag="", complete=False)

    def comment_on_issue(self, number: int, body: str) -> int:
        """Post ``body`` as a comment on issue (or pull request) ``number``; its comment id. Tried
        once: after a failure whose outcome is unknown the comments are read back, and a comment
        with this exact body is taken as posted (its id); a later retry checks again
        (``issue_comment_bodies``)."""
        body = self._scrub(body)
        with self._errors(f"commenting on #{number}"):
            self._authenticate()
            issue = self.single_try_client.withLazy(True).get_repo(self.repository).get_issue(number)
            try:
                return issue.create_comment(body).id
            except (GithubException, requests.RequestException) as exc:
                posted = self._landed(
                    exc, lambda: next((c.id for c in issue.get_comments() if _same_text(c.body, body)), None)
                )
                if posted is None:
                    raise
                return posted

    def issue_comment_bodies(self, number: int) -> list[str]:
        """The text of every comment on issue (or pull request) ``number``. Tried once, like the
        post it checks for: with retries it could outlast the poster's hold on the comment."""
        with self._errors(f"reading the comments of #{number}"):
            self._authenticate()
            issue = self.single_try_client.withLazy(True).get_repo(self.repository).get_issue(number)
            return [comment.body or "" for comment in issue.get_comments()]

    def _lazy_repo(self) -> Repository:
        self._authenticate()
        return self.client.withLazy(True).get_repo(self.repository)

    # --- helpers ----------------------------------------------------------------------------------

    def _repo(self) -> Repository:
        with self._errors("reading the repository", repository_level=True):
            self._authenticate()
            return self.client.get_repo(self.repository)

    def _writable(self) -> Repository:
        """The repository, refused (``RepositoryUnavailable``) when the credentials cannot push."""
        repo = self._repo()
        if repo.permissions is not None and not repo.permissions.push:
            raise self._unavailable(
                f"The GitHub credentials can read {self.repository} but not push to it: "
                f"grant write access to contents and pull requests ({self.auth_hint})."
            )
        return repo

    def _no_base_branch(self, branch: str) -> RepositoryUnavailable:
        hint = "GITHUB_BASE_BRANCH" if self.where == "GITHUB_REPOSITORY" else self.where
        return self._unavailable(f"Base branch {branch!r} does not exist in {self.repository}: check {hint}.")

    def _unavailable(self, reason: str) -> RepositoryUnavailable:
        """The repository itself is missing or refused: say so to ``on_unavailable``."""
        reason = self._scrub(reason)
        if self.on_unavailable is not None:
            self.on_unavailable(reason)
        return RepositoryUnavailable(reason)

    def _authenticate(self) -> None:
        """App installation auth fetches its token lazily; fetch it here so its errors are named."""
        if not isinstance(self.auth, Auth.AppInstallationAuth):
            return
        try:
            self.auth.token  # noqa: B018 - the property requests (or reuses) the installation token
        except GithubException as exc:
            if exc.status == 404:
                raise PublishError(
                    f"GitHub App installation {self.auth.installation_id} was not found (404): "
                    "check GITHUB_APP_INSTALLATION_ID and that the app is installed on the repository."
                ) from None
            raise
        except (ValueError, TypeError, jwt.PyJWTError):
            # Never echo the key or the library's text about it.
            raise PublishError(
                "GITHUB_APP_PRIVATE_KEY is not a usable RSA private key (PEM): check it."
            ) from None

    def _ref(self, repo: Repository, branch: str, *, what: str) -> GitRef | None:
        with self._errors(what):
            try:
                return repo.get_git_ref(f"heads/{branch}")
            except UnknownObjectException:
                return None

    def _landed(self, exc: Exception, read_back: Callable[[], object]) -> object | None:
        """After a write failed with ``exc``: what ``read_back()`` finds (truthy) when GitHub may
        have applied the write all the same (a 5xx, a timeout, a reset connection: the request
        may have arrived, its answer did not) and did; None when the failure stands."""
        if not _outcome_unknown(exc):
            return None
        try:
            found = read_back()
        except (GithubException, requests.RequestException, PublishError):
            return None  # cannot tell: the failure stands, and a retry checks before it writes
        if not found:
            return None
        what = exc.status if isinstance(exc, GithubException) else type(exc).__name__
        log.warning(
            "GitHub answered %s to a write in %s that landed all the same: done", what, self.repository
        )
        return found

    def _best_effort(self, action: str, step) -> None:
        try:
            step()
        except (GithubException, requests.RequestException) as exc:
            log.warning("GitHub: %s", self.explain(exc, action))

    @contextmanager
    def _errors(self, action: str, *, repository_level: bool = False):
        """GitHub's failures as ``PublishError``. ``repository_level``: ``action`` needs nothing but
        the repository and its access, so a 404 or a 403 (not a rate limit) says the repository is
        unavailable (a 404 elsewhere may be a missing issue or commit)."""
        try:
            yield
        except PublishError:
            raise
        except (GithubException, requests.RequestException) as exc:
            reason = self.explain(exc, action)
            if repository_level and _refused(exc):
                raise self._unavailable(reason) from None
            raise (GitHubTrouble if _troubled(exc) else PublishError)(reason) from None

    def explain(self, exc: Exception, action: str) -> str:
        """One line saying what went wrong while doing ``action`` and what to fix; no secret in it."""
        return self._scrub(
            _explanation(
                exc,
                action,
                repository=self.repository,
                auth_hint=self.auth_hint,
                api_url=self.api_url,
                where=self.where,
            )
        )

    def _scrub(self, text: str) -> str:
        return mask_secrets(text, extra=self.secrets)


def _tree_elements(change: Change) -> list[InputGitTreeElement]:
    return [
        InputGitTreeElement(f.path, "100644", "blob", sha=None)  # sha None: delete the path
        if f.deleted
        else InputGitTreeElement(f.path, "100644", "blob", content=f.content)
        for f in change.files
    ]


def _troubled(exc: Exception) -> bool:
    """GitHub failing (a 5xx, a rate limit) or out of reach: nothing the request itself did."""
    if not isinstance(exc, GithubException):
        return isinstance(exc, requests.RequestException)
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    rate_limited = exc.status == 429 or (exc.status == 403 and _is_rate_limit(_message(exc), headers))
    return exc.status is not None and (exc.status >= 500 or rate_limited)


def _outcome_unknown(exc: Exception) -> bool:
    """A failed write GitHub may have applied: a 5xx, a timeout or a lost connection."""
    if isinstance(exc, GithubException):
        return exc.status is not None and exc.status >= 500
    return isinstance(exc, (requests.Timeout, requests.ConnectionError))


def _same_text(posted: str | None, sent: str) -> bool:
    """A comment's text as GitHub keeps it is the text sent (line endings aside)."""
    return (posted or "").replace("\r\n", "\n").strip() == sent.replace("\r\n", "\n").strip()


def _refused(exc: Exception) -> bool:
    """A 404, or a 403 that is not a rate limit."""
    if not isinstance(exc, GithubException):
        return False
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    return exc.status == 404 or (exc.status == 403 and not _is_rate_limit(_message(exc), headers))


def _explanation(
    exc: Exception, action: str, *, repository: str, auth_hint: str, api_url: str, where: str
) -> str:
    if isinstance(exc, requests.RequestException):
        return (
            f"Could not reach GitHub at {api_url} while {action} ({type(exc).__name__}): "
            "check GITHUB_API_URL and the network, then retry."
        )
    status, message = exc.status, _message(exc)
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    if status == 401:
        what = "token" if auth_hint == "GITHUB_TOKEN" else "GitHub App credentials"
        return f"GitHub rejected the {what} (401): check {auth_hint}."
    if status == 429 or (status == 403 and _is_rate_limit(message, headers)):
        return f"GitHub rate limit reached ({status}) while {action}: {_when_it_resets(headers)}, then retry."
    if status == 403:
        return (
            f"GitHub refused {action} (403: {message}): the credentials need write access to "
            f"contents and pull requests of {repository}."
        )
    if status == 404:
        return (
            f"GitHub repository {repository} was not found or is not visible to these credentials "
            f"(404 while {action}): check {where} and the access of {auth_hint}."
        )
    if status == 422:
        return f"GitHub could not complete {action} (422: {message})."
    if status >= 500:
        return f"GitHub failed while {action} ({status}, also after retries): GitHub is having trouble; retry later."
    return f"GitHub answered {status} while {action}: {message}"


def _date_of(stamp: object) -> dt.date | None:
    """The day of a GitHub timestamp ("2026-11-24T12:00:00Z"), None when there is none."""
    return dt.date.fromisoformat(stamp[:10]) if isinstance(stamp, str) and len(stamp) >= 10 else None


def _next_link(link: str) -> str:
    """The ``rel="next"`` address of a ``Link`` header; empty on the last page."""
    for part in link.split(","):
        address, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return address.strip().strip("<>")
    return ""


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    parts = [str(data.get("message") or exc.message or "no message")]
    for error in data.get("errors") or []:
        detail = error.get("message") or error.get("code") if isinstance(error, dict) else error
        if detail:
            parts.append(str(detail))
    return mask_secrets("; ".join(parts))[:300]  # masked before it is cut


def _is_rate_limit(message: str, headers: dict[str, str]) -> bool:
    return headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()


def _when_it_resets(headers: dict[str, str]) -> str:
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        at = dt.datetime.fromtimestamp(int(reset), dt.UTC)
        minutes = max(0, round((at - dt.datetime.now(dt.UTC)).total_seconds() / 60))
        return f"it resets at {at:%Y-%m-%d %H:%M} UTC (in about {minutes} min)"
    if (retry_after := headers.get("retry-after", "")).isdigit():
        return f"GitHub asks to wait {retry_after} s"
    return "wait a few minutes"


def _auth_from_settings() -> tuple[Auth.Auth, str, tuple[str, ...]]:
    """PyGithub auth from a token, else from GitHub App credentials; the settings to check; the secrets."""
    if settings.GITHUB_TOKEN:
        return Auth.Token(settings.GITHUB_TOKEN), "GITHUB_TOKEN", (settings.GITHUB_TOKEN,)
    hint = "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID"
    key = settings.GITHUB_APP_PRIVATE_KEY.strip()
    if key and not key.startswith("-----") and Path(key).is_file():
        key = Path(key).read_text()  # a path to the .pem file GitHub let you download
    key = key.replace("\\n", "\n")  # a PEM squeezed into one environment line
    installation = settings.GITHUB_APP_INSTALLATION_ID.strip()
    if not key or not installation.isdigit():
        raise PublishError(f"GitHub App auth needs {hint} (the installation id is a number).")
    app_auth = Auth.AppAuth(settings.GITHUB_APP_ID, key)
    return app_auth.get_installation_auth(int(installation)), hint, (key,)
