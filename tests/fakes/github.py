"""A fake GitHub REST API on 127.0.0.1 that keeps real state, for PyGithub to talk to.

It holds one or more repositories with refs, blobs, trees (flat ``path -> blob sha`` maps, merged on
``base_tree`` and content-addressed like git's, so equal content gives an equal tree sha), commits
with parents, pull requests, labels, contents (from the default branch), and issues with their
labels and comments. Issues and pull requests share a repository's numbers, and the issues list
(``GET /repos/o/n/issues``: ``state``, ``labels``, ``since``, ``sort``, ``direction``, pages with a
``Link`` header) includes pull requests, as GitHub's does; it answers 304 to an ``If-None-Match``
of an unchanged listing. ``open_issue``, ``edit_issue``, ``label_issue``, ... change issues as a
person on GitHub would (each a second later than the last change, GitHub's clock), and
``issues_event`` is the ``issues`` webhook payload GitHub would send about it. A pull request's
conversation: check runs with their output and annotations (``add_check_run``, read a page at a
time), commit statuses, reviews and their comments (``add_review``), comments on the pull request
(``comment_on``) with each author's ``author_association``, the compare API (a patch per file), and
``push_commit``: a person pushing to a branch, at once or when a request arrives (``before_next``),
so a test can move a branch while a revision runs. ``*_event`` builds the webhook payload GitHub
sends for each. Every request is recorded (``requests``). Besides ``fail_next`` (any route), ``fail_on(method, path_suffix, ...)``
answers one route with a scripted status: 401, 403 with rate-limit headers, 404, 422, 502, ...

Tokens: ``tokens`` are accepted as ``token X``/``Bearer X``; GitHub App JWTs signed by
``app_public_key`` get installation tokens from ``POST /app/installations/{id}/access_tokens``.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import hashlib
import itertools
import json
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.fakes.server import FakeServer, Request, Response

GOOD_TOKEN = "ghp_fake_test_token_0123456789"


def _sha(kind: str, payload: object) -> str:
    return hashlib.sha1(f"{kind}:{json.dumps(payload, sort_keys=True)}".encode()).hexdigest()


@dataclass
class Route:
    method: str
    path_suffix: str
    response: Response
    times: int
    after_handling: bool = False  # do the work, then answer with ``response`` (a lost answer)


@dataclass
class FakeRepo:
    owner: str
    name: str
    default_branch: str = "main"
    permissions: dict = field(default_factory=lambda: {"admin": False, "push": True, "pull": True})
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha
    pulls: list[dict] = field(default_factory=list)
    labels: dict[str, dict] = field(default_factory=dict)
    issues: list[dict] = field(default_factory=list)  # not pull requests; deleted ones are removed
    comments: dict[int, list[dict]] = field(default_factory=dict)  # issue or PR number -> comments
    reviews: dict[int, list[dict]] = field(default_factory=dict)  # PR number -> its reviews
    review_comments: list[dict] = field(default_factory=list)  # comments on PRs' diffs
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))  # issues and PRs

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class FakeGitHub(FakeServer):
    def __init__(self, *, tokens: tuple[str, ...] = (GOOD_TOKEN,), app_public_key: bytes | None = None):
        super().__init__()
        # Headers and body go out in two writes; without TCP_NODELAY each answer waits ~40 ms for
        # a delayed ACK, and PyGithub makes a dozen requests per publish.
        self.httpd.RequestHandlerClass.disable_nagle_algorithm = True
        # stop() waits for the serving loop to notice; poll often so a test's teardown is quick.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.tokens = set(tokens)
        self.app_public_key = app_public_key
        self.routes: list[Route] = []
        self.repos: dict[str, FakeRepo] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, str]] = {}
        self.commits: dict[str, dict] = {}
        self._counter = itertools.count(1)
        self._last_change: dt.datetime | None = None
        self.check_runs: dict[str, list[dict]] = {}  # commit sha -> its check runs
        self.statuses: dict[str, list[dict]] = {}  # commit sha -> its commit statuses
        # Who the token belongs to, as comments it posts show it (a token of the repository's
        # owner posts as OWNER: the product must still know its own comments).
        self.token_user = {"login": "pr-orchestrator[bot]", "id": 8, "type": "Bot"}
        self.token_association = "NONE"
        self._before: list[tuple[str, str, object]] = []  # (method, path suffix, callback)

    # --- arranging state --------------------------------------------------------------------

    def add_repo(
        self, full_name: str = "octo/widgets", files: dict[str, str] | None = None, **kw
    ) -> FakeRepo:
        """A repository whose default branch holds one commit with ``files``."""
        owner, name = full_name.split("/")
        repo = FakeRepo(owner=owner, name=name, **kw)
        self.repos[full_name] = repo
        tree = self._make_tree({}, [{"path": p, "content": c} for p, c in (files or {}).items()])
        repo.refs[f"heads/{repo.default_branch}"] = self._make_commit("Initial commit", tree, [])
        return repo

    def fail_on(
        self,
        method: str,
        path_suffix: str,
        status: int,
        body: object = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        after_handling: bool = False,
    ) -> None:
        """Answer the next ``times`` requests to this route with ``status`` instead of handling them
        (``server.DROP``: close the connection without an answer, a reset).

        ``after_handling``: the request takes effect but its answer is replaced (a lost response).
        """
        response = Response(status, body, headers or {})
        with self.lock:
            self.routes.append(Route(method, path_suffix, response, times, after_handling))

    # --- reading state (for assertions) -------------------------------------------------------

    def repo(self, full_name: str = "octo/widgets") -> FakeRepo:
        return self.repos[full_name]

    def files_at(self, commit_sha: str) -> dict[str, str]:
        tree = self.trees[self.commits[commit_sha]["tree"]]
        return {path: self.blobs[sha].decode() for path, sha in tree.items()}

    def branch_head(self, branch: str, full_name: str = "octo/widgets") -> str | None:
        return self.repo(full_name).refs.get(f"heads/{branch}")

    def open_pulls(self, full_name: str = "octo/widgets") -> list[dict]:
        return [p for p in self.repo(full_name).pulls if p["state"] == "open"]

    # --- what happens to a pull request on GitHub (a reviewer, CI) -------------------------------

    def pull(self, number: int, full_name: str = "octo/widgets") -> dict:
        return next(p for p in self.repo(full_name).pulls if p["number"] == number)

    def merge_pull(self, number: int, full_name: str = "octo/widgets") -> dict:
        pull = self.pull(number, full_name)
        at = _now()
        pull.update(state="closed", merged=True, merged_at=at, closed_at=at)
        return pull

    def add_merged_pull(
        self,
        title: str,
        files: dict[str, str],
        *,
        body: str = "",
        author: str = "octocat",
        squash: bool = False,
        full_name: str = "octo/widgets",
    ) -> dict:
        """A pull request changing ``files``, already merged into the default branch: a merge
        commit (first parent: the branch's head before it), or with ``squash`` one commit."""
        repo = self.repo(full_name)
        main = f"heads/{repo.default_branch}"
        parent = repo.refs[main]
        tree = self._make_tree(
            self.trees[self.commits[parent]["tree"]], [{"path": p, "content": c} for p, c in files.items()]
        )
        number = next(repo.numbers)
        head = self._make_commit(f"{title} (work)", tree, [parent])
        merge = head if squash else self._make_commit(f"Merge pull request #{number}", tree, [parent, head])
        repo.refs[main] = merge
        at = self._stamp()
        pull = {
            "number": number,
            "state": "closed",
            "title": title,
            "body": body,
            "draft": False,
            "merged": True,
            "user": {"login": author, "id": 100 + number, "type": "Bot" if "[bot]" in author else "User"},
            "created_at": at,
            "updated_at": at,
            "merged_at": at,
            "closed_at": at,
            "merge_commit_sha": merge,
            "labels": [],
            "head": {"ref": f"topic-{number}", "sha": head},
            "base": {"ref": repo.default_branch, "sha": parent},
            "html_url": f"https://github.example/{repo.full_name}/pull/{number}",
        }
        repo.pulls.append(pull)
        return pull

    def close_pull(self, number: int, full_name: str = "octo/widgets") -> dict:
        pull = self.pull(number, full_name)
        pull.update(state="closed", merged=False, closed_at=_now())
        return pull

    def reopen_pull(self, number: int, full_name: str = "octo/widgets") -> dict:
        pull = self.pull(number, full_name)
        pull.update(state="open", closed_at=None)
        return pull

    def add_check_run(
        self,
        sha: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = "success",
        title: str | None = None,
        summary: str | None = None,
        annotations: list[dict] = (),
    ) -> dict:
        """A check run on ``sha`` with its output (``title``, ``summary``) and ``annotations``
        (``path``, ``start_line``, ``message``, ...); one of the same name is replaced (a re-run)."""
        runs = [r for r in self.check_runs.get(sha, []) if r["name"] != name]
        run = {
            "id": 5000 + next(self._counter),
            "name": name,
            "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "output": {"title": title, "summary": summary, "text": None},
            "annotations": [
                {
                    "path": a["path"],
                    "start_line": a.get("start_line", 1),
                    "end_line": a.get("end_line", a.get("start_line", 1)),
                    "start_column": None,
                    "end_column": None,
                    "annotation_level": a.get("annotation_level", "failure"),
                    "title": a.get("title", ""),
                    "message": a["message"],
                    "raw_details": a.get("raw_details"),
                    "blob_href": f"https://github.example/blob/{sha}/{a['path']}",
                }
                for a in annotations
            ],
        }
        runs.append(run)
        self.check_runs[sha] = runs
        return run

    def check_run_event(self, sha: str, name: str, full_name: str = "octo/widgets") -> dict:
        """The ``check_run`` ``completed`` webhook payload for the run ``name`` on ``sha``."""
        repo = self.repo(full_name)
        run = next(r for r in self.check_runs[sha] if r["name"] == name)
        return {
            "action": "completed",
            "check_run": self._check_run_json(f"{self.url}/repos/{full_name}", sha, run),
            "repository": self._repo_json(repo),
            "sender": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
        }

    def status_event(self, sha: str, context: str, full_name: str = "octo/widgets") -> dict:
        """The ``status`` webhook payload for the commit status ``context`` on ``sha``."""
        status = next(s for s in self.statuses[sha] if s["context"] == context)
        return {
            "id": 6000 + next(self._counter),
            "sha": sha,
            "name": full_name,
            "context": context,
            "state": status["state"],
            "description": status.get("description"),
            "target_url": "https://ci.example/build/1",
            "repository": self._repo_json(self.repo(full_name)),
            "sender": {"login": "ci-bot", "id": 9, "type": "Bot"},
        }

    # --- what people write on a pull request: reviews, review comments, comments ------------------

    def add_review(
        self,
        number: int,
        *,
        state: str = "CHANGES_REQUESTED",
        body: str = "",
        user: str = "reviewer",
        association: str = "COLLABORATOR",
        comments: list[dict] = (),
        full_name: str = "octo/widgets",
    ) -> dict:
        """A review submitted on pull request ``number`` with its ``comments`` (``path``, ``line``,
        ``body``; each gets a diff hunk as GitHub shows one)."""
        repo = self.repo(full_name)
        pull = self.pull(number, full_name)
        review = {
            "id": 7000 + next(self._counter),
            "node_id": "PRR_kw",
            "user": {"login": user, "id": 11, "type": "User"},
            "body": body,
            "state": state,
            "commit_id": pull["head"]["sha"],
            "submitted_at": self._stamp(),
            "author_association": association,
            "pull_number": number,
        }
        repo.reviews.setdefault(number, []).append(review)
        for comment in comments:
            self.comment_on_diff(
                number, comment["body"], path=comment["path"], line=comment.get("line", 1), review=review,
                user=user, association=association, full_name=full_name,
            )  # fmt: skip
        return review

    def comment_on_diff(
        self,
        number: int,
        body: str,
        *,
        path: str,
        line: int = 1,
        review: dict | None = None,
        user: str = "reviewer",
        association: str = "COLLABORATOR",
        full_name: str = "octo/widgets",
    ) -> dict:
        """A comment on a line of pull request ``number``'s diff. GitHub puts a lone comment in a
        review of its own (state ``COMMENTED``), as it does here."""
        repo = self.repo(full_name)
        pull = self.pull(number, full_name)
        if review is None:
            review = self.add_review(
                number, state="COMMENTED", user=user, association=association, full_name=full_name
            )
        lines = self.files_at(pull["head"]["sha"]).get(path, "").splitlines()
        hunk = "\n".join(f" {text}" for text in lines[max(line - 3, 0) : line])
        comment = {
            "id": 8000 + next(self._counter),
            "pull_request_review_id": review["id"],
            "pull_number": number,
            "diff_hunk": f"@@ -{max(line - 2, 1)},3 +{max(line - 2, 1)},3 @@\n{hunk}",
            "path": path,
            "line": line,
            "original_line": line,
            "side": "RIGHT",
            "commit_id": pull["head"]["sha"],
            "user": {"login": user, "id": 11, "type": "User"},
            "body": body,
            "created_at": self._stamp(),
            "author_association": association,
        }
        repo.review_comments.append(comment)
        return comment

    def comment_on(
        self,
        number: int,
        body: str,
        *,
        user: str = "maintainer",
        association: str = "OWNER",
        full_name: str = "octo/widgets",
    ) -> dict:
        """A person's comment on issue or pull request ``number`` (its conversation)."""
        repo = self.repo(full_name)
        base = f"{self.url}/repos/{full_name}"
        comment = self._comment_json(
            repo, base, number, body, {"login": user, "id": 12, "type": "User"}, association
        )
        repo.comments.setdefault(number, []).append(comment)
        return comment

    def pull_request_event(self, action: str, number: int, full_name: str = "octo/widgets") -> dict:
        """The ``pull_request`` webhook payload after ``action`` (``closed``, ``reopened``, ...) on
        pull request ``number`` as it is now."""
        repo = self.repo(full_name)
        return {
            "action": action,
            "number": number,
            "pull_request": self._pull_json(
                repo, f"{self.url}/repos/{full_name}", self.pull(number, full_name)
            ),
            "repository": self._repo_json(repo),
            "sender": {"login": "maintainer", "id": 7, "type": "User"},
        }

    def review_event(self, review: dict, full_name: str = "octo/widgets") -> dict:
        """The ``pull_request_review`` ``submitted`` webhook payload for ``review``."""
        repo = self.repo(full_name)
        return {
            "action": "submitted",
            "review": self._review_json(f"{self.url}/repos/{full_name}", review),
            "pull_request": self._pull_json(
                repo, f"{self.url}/repos/{full_name}", self.pull(review["pull_number"], full_name)
            ),
            "repository": self._repo_json(repo),
            "sender": review["user"],
        }

    def review_comment_event(self, comment: dict, full_name: str = "octo/widgets") -> dict:
        """The ``pull_request_review_comment`` ``created`` webhook payload for ``comment``."""
        repo = self.repo(full_name)
        base = f"{self.url}/repos/{full_name}"
        return {
            "action": "created",
            "comment": self._review_comment_json(base, comment),
            "pull_request": self._pull_json(repo, base, self.pull(comment["pull_number"], full_name)),
            "repository": self._repo_json(repo),
            "sender": comment["user"],
        }

    def issue_comment_event(self, number: int, comment: dict, full_name: str = "octo/widgets") -> dict:
        """The ``issue_comment`` ``created`` webhook payload for ``comment`` on ``number``."""
        repo = self.repo(full_name)
        base = f"{self.url}/repos/{full_name}"
        return {
            "action": "created",
            "issue": self._issue_json(repo, base, self.issue(number, full_name)),
            "comment": comment,
            "repository": self._repo_json(repo),
            "sender": comment["user"],
        }

    # --- a person pushing to a branch -------------------------------------------------------------

    def push_commit(
        self,
        branch: str,
        files: dict[str, str],
        *,
        message: str = "A fix pushed by hand",
        full_name: str = "octo/widgets",
    ) -> str:
        """A commit of ``files`` on top of ``branch``, as ``git push`` makes one; the open pull
        request of the branch follows it."""
        repo = self.repo(full_name)
        parent = repo.refs[f"heads/{branch}"]
        tree = self._make_tree(
            self.trees[self.commits[parent]["tree"]], [{"path": p, "content": c} for p, c in files.items()]
        )
        sha = self._make_commit(message, tree, [parent])
        repo.refs[f"heads/{branch}"] = sha
        for pull in repo.pulls:
            if pull["state"] == "open" and pull["head"]["ref"] == branch:
                pull["head"]["sha"] = sha
        return sha

    def before_next(self, method: str, path_suffix: str, callback) -> None:
        """Call ``callback()`` just before the next ``method`` request to a path ending in
        ``path_suffix`` is handled (a push landing while a revision runs)."""
        with self.lock:
            self._before.append((method, path_suffix, callback))

    # --- what happens to an issue on GitHub (a person) ---------------------------------------------

    def open_issue(
        self, title: str, body: str = "", *, labels: tuple[str, ...] = (), full_name: str = "octo/widgets"
    ) -> dict:
        repo = self.repo(full_name)
        at = self._stamp()
        issue = {
            "number": next(repo.numbers),
            "title": title,
            "body": body,
            "state": "open",
            "labels": [],
            "created_at": at,
            "updated_at": at,
            "closed_at": None,
        }
        with self.lock:
            repo.issues.append(issue)
            for name in labels:
                self._label(repo, issue, name)
        return issue

    def issue(self, number: int, full_name: str = "octo/widgets") -> dict:
        """Issue (or pull request) ``number``: on GitHub, every pull request is an issue too."""
        item = self._issue_or_pull(self.repo(full_name), number)
        assert item is not None, f"no issue #{number} in {full_name}"
        return item

    def edit_issue(self, number: int, full_name: str = "octo/widgets", **fields) -> dict:
        return self._change_issue(number, full_name, **fields)

    def close_issue(self, number: int, full_name: str = "octo/widgets") -> dict:
        return self._change_issue(number, full_name, state="closed", closed_at=self._stamp())

    def reopen_issue(self, number: int, full_name: str = "octo/widgets") -> dict:
        return self._change_issue(number, full_name, state="open", closed_at=None)

    def label_issue(self, number: int, name: str, full_name: str = "octo/widgets") -> dict:
        issue = self.issue(number, full_name)
        with self.lock:
            self._label(self.repo(full_name), issue, name)
        return self._change_issue(number, full_name)

    def unlabel_issue(self, number: int, name: str, full_name: str = "octo/widgets") -> dict:
        issue = self.issue(number, full_name)
        issue["labels"] = [label for label in issue["labels"] if label["name"] != name]
        return self._change_issue(number, full_name)

    def delete_issue(self, number: int, full_name: str = "octo/widgets") -> dict:
        issue = self.issue(number, full_name)
        self.repo(full_name).issues.remove(issue)
        return issue

    def issue_comments(self, number: int, full_name: str = "octo/widgets") -> list[dict]:
        return self.repo(full_name).comments.get(number, [])

    def issues_event(self, action: str, number: int, *, full_name: str = "octo/widgets", issue=None) -> dict:
        """The ``issues`` webhook payload GitHub sends after ``action`` on issue ``number`` (for a
        deleted one, pass the ``issue`` that ``delete_issue`` returned)."""
        repo = self.repo(full_name)
        issue = issue or self.issue(number, full_name)
        return {
            "action": action,
            "issue": self._issue_json(repo, f"{self.url}/repos/{repo.full_name}", issue),
            "repository": self._repo_json(repo),
            "sender": {"login": "maintainer", "id": 7, "type": "User"},
        }

    def _change_issue(self, number: int, full_name: str, **fields) -> dict:
        issue = self.issue(number, full_name)
        issue.update(fields, updated_at=self._stamp())
        return issue

    def _label(self, repo: FakeRepo, item: dict, name: str) -> None:
        if name not in repo.labels:  # GitHub creates an unknown label on the fly
            self._create_label(repo, f"{self.url}/repos/{repo.full_name}", {"name": name})
        if name not in [label["name"] for label in item["labels"]]:
            item["labels"].append(repo.labels[name])

    def _stamp(self) -> str:
        """GitHub's clock for ``updated_at``: whole seconds, each change later than the last."""
        at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if self._last_change is not None and at <= self._last_change:
            at = self._last_change + dt.timedelta(seconds=1)
        self._last_change = at
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_status(self, sha: str, context: str, state: str, description: str | None = None) -> None:
        """A commit status (the older statuses API): pending, success, failure or error."""
        self.statuses[sha] = [s for s in self.statuses.get(sha, []) if s["context"] != context]
        self.statuses[sha].append({"context": context, "state": state, "description": description})

    # --- git objects ----------------------------------------------------------------------------

    def _make_blob(self, content: bytes) -> str:
        sha = hashlib.sha1(b"blob:" + content).hexdigest()
        self.blobs[sha] = content
        return sha

    def _make_tree(self, base: dict[str, str], entries: list[dict]) -> str:
        paths = dict(base)
        for entry in entries:
            if entry.get("content") is not None:
                paths[entry["path"]] = self._make_blob(entry["content"].encode())
            elif entry.get("sha"):
                paths[entry["path"]] = entry["sha"]
            else:
                paths.pop(entry["path"], None)  # sha null deletes the path
        sha = _sha("tree", sorted(paths.items()))
        self.trees[sha] = paths
        return sha

    def _make_commit(self, message: str, tree: str, parents: list[str]) -> str:
        # Like git, a commit's sha depends on its time too: the same tree twice is two commits.
        sha = _sha("commit", [message, tree, parents, next(self._counter)])
        self.commits[sha] = {"message": message, "tree": tree, "parents": parents}
        return sha

    # --- HTTP -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            due = next(
                (b for b in self._before if b[0] == request.method and request.path.endswith(b[1])), None
            )
            if due is not None:
                self._before.remove(due)
        if due is not None:
            due[2]()
        route = self._scripted_route(request)
        if route and not route.after_handling:
            return route.response
        response = self._handle(request)
        return route.response if route else response

    def _scripted_route(self, request: Request) -> Route | None:
        with self.lock:
            for route in self.routes:
                if route.method == request.method and request.path.endswith(route.path_suffix):
                    route.times -= 1
                    if route.times <= 0:
                        self.routes.remove(route)
                    return route
        return None

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/app/installations/"):
            return self._installation_token(request)
        if not self._authorised(request):
            return _error(401, "Bad credentials")
        match = re.match(r"^/repos/([^/]+)/([^/]+)(/.*)?$", request.path)
        repo = self.repos.get(f"{match[1]}/{match[2]}") if match else None
        if repo is None:
            return _error(404, "Not Found")
        with self.lock:
            return self._repo_route(repo, request, match[3] or "")

    def _authorised(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("token", "bearer") and value in self.tokens

    def _installation_token(self, request: Request) -> Response:
        import jwt  # PyJWT, a PyGithub dependency

        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            assert scheme == "Bearer" and self.app_public_key
            jwt.decode(value, self.app_public_key, algorithms=["RS256"])
        except Exception:
            return _error(401, "A JSON web token could not be decoded")
        token = f"ghs_installation_{next(self._counter)}"
        self.tokens.add(token)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return Response(201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def _repo_route(self, repo: FakeRepo, request: Request, rest: str) -> Response:
        base = f"{self.url}/repos/{repo.full_name}"
        method = request.method
        if rest == "" and method == "GET":
            return Response(200, self._repo_json(repo))
        if m := re.match(r"^/git/ref/(.+)$", rest):
            sha = repo.refs.get(m[1])
            return Response(200, _ref_json(base, m[1], sha)) if sha else _error(404, "Not Found")
        if rest == "/git/refs" and method == "POST":
            return self._create_ref(repo, base, request.json)
        if (m := re.match(r"^/git/refs/(.+)$", rest)) and method == "PATCH":
            return self._update_ref(repo, base, m[1], request.json)
        if rest == "/git/trees" and method == "POST":
            data = request.json
            base_tree = self.trees.get(data.get("base_tree") or "", {})
            sha = self._make_tree(base_tree, data["tree"])
            return Response(201, self._tree_json(base, sha, recursive=True))
        if m := re.match(r"^/git/trees/(.+)$", rest):
            sha = self._resolve_tree(repo, m[1])
            return (
                Response(200, self._tree_json(base, sha, "recursive" in request.query))
                if sha
                else _error(404, "Not Found")
            )
        if m := re.match(r"^/git/blobs/([0-9a-f]+)$", rest):
            if m[1] not in self.blobs:
                return _error(404, "Not Found")
            content = self.blobs[m[1]]
            return Response(
                200,
                {
                    "sha": m[1],
                    "node_id": f"B_{m[1][:8]}",
                    "size": len(content),
                    "url": f"{base}/git/blobs/{m[1]}",
                    "content": base64.encodebytes(content).decode(),  # GitHub wraps at 60 columns
                    "encoding": "base64",
                },
            )
        if rest == "/git/commits" and method == "POST":
            data = request.json
            if data["tree"] not in self.trees or any(p not in self.commits for p in data.get("parents", [])):
                return _error(422, "Tree SHA does not exist")
            sha = self._make_commit(data["message"], data["tree"], data.get("parents", []))
            return Response(201, self._commit_json(base, sha))
        if m := re.match(r"^/git/commits/([0-9a-f]+)$", rest):
            return (
                Response(200, self._commit_json(base, m[1]))
                if m[1] in self.commits
                else _error(404, "Not Found")
            )
        if rest == "/pulls" and method == "GET":
            return _page(request, base + rest, self._list_pulls(repo, base, request.query))
        if rest == "/pulls" and method == "POST":
            return self._create_pull(repo, base, request.json)
        if m := re.match(r"^/pulls/(\d+)$", rest):
            return self._one_pull(repo, base, int(m[1]), request)
        if m := re.match(r"^/labels/(.+)$", rest):
            label = repo.labels.get(_unquote(m[1]))
            return Response(200, label) if label else _error(404, "Not Found")
        if rest == "/labels" and method == "POST":
            return self._create_label(repo, base, request.json)
        if (m := re.match(r"^/issues/(\d+)/labels$", rest)) and method == "POST":
            return self._add_labels(repo, base, int(m[1]), request.json)
        if rest == "/issues" and method == "GET":
            return self._list_issues(repo, base, request)
        if m := re.match(r"^/issues/(\d+)$", rest):
            item = self._issue_or_pull(repo, int(m[1]))
            return Response(200, self._issue_json(repo, base, item)) if item else _error(404, "Not Found")
        if m := re.match(r"^/issues/(\d+)/comments$", rest):
            return self._comments(repo, base, int(m[1]), request)
        if (m := re.match(r"^/commits/([^/]+)/check-runs$", rest)) and method == "GET":
            runs = [self._check_run_json(base, m[1], r) for r in self.check_runs.get(m[1], [])]
            return Response(200, {"total_count": len(runs), "check_runs": runs})
        if (m := re.match(r"^/check-runs/(\d+)/annotations$", rest)) and method == "GET":
            run = next((r for runs in self.check_runs.values() for r in runs if r["id"] == int(m[1])), None)
            if run is None:
                return _error(404, "Not Found")
            return _page(request, base + rest, run["annotations"])
        if (m := re.match(r"^/commits/([^/]+)/status$", rest)) and method == "GET":
            return Response(200, _combined_status_json(base, m[1], self.statuses.get(m[1], [])))
        if m := re.match(r"^/compare/([0-9a-f]+)\.\.\.([0-9a-f]+)$", rest):
            return self._compare(base, m[1], m[2])
        if m := re.match(r"^/pulls/(\d+)/reviews/(\d+)$", rest):
            review = next((r for r in repo.reviews.get(int(m[1]), []) if r["id"] == int(m[2])), None)
            return Response(200, self._review_json(base, review)) if review else _error(404, "Not Found")
        if m := re.match(r"^/pulls/(\d+)/reviews/(\d+)/comments$", rest):
            if not any(r["id"] == int(m[2]) for r in repo.reviews.get(int(m[1]), [])):
                return _error(404, "Not Found")
            found = [c for c in repo.review_comments if c["pull_request_review_id"] == int(m[2])]
            return _page(request, base + rest, [self._review_comment_json(base, c) for c in found])
        if rest == "/readme":
            return self._contents(repo, base, _readme_path(self._default_files(repo)), request.query)
        if m := re.match(r"^/contents/(.+)$", rest):
            return self._contents(repo, base, _unquote(m[1]), request.query)
        return _error(404, "Not Found")

    # --- refs, trees, commits ---------------------------------------------------------------------

    def _create_ref(self, repo: FakeRepo, base: str, data: dict) -> Response:
        name = data["ref"].removeprefix("refs/")
        if name in repo.refs:
            return _error(422, "Reference already exists")
        if data["sha"] not in self.commits:
            return _error(422, "Object does not exist")
        repo.refs[name] = data["sha"]
        return Response(201, _ref_json(base, name, data["sha"]))

    def _update_ref(self, repo: FakeRepo, base: str, name: str, data: dict) -> Response:
        if name not in repo.refs:
            return _error(422, "Reference does not exist")
        if not data.get("force") and not self._is_ancestor(repo.refs[name], data["sha"]):
            return _error(422, "Update is not a fast forward")
        repo.refs[name] = data["sha"]
        for pull in repo.pulls:
            if pull["state"] == "open" and f"heads/{pull['head']['ref']}" == name:
                pull["head"]["sha"] = data["sha"]
        return Response(200, _ref_json(base, name, data["sha"]))

    def _is_ancestor(self, ancestor: str, sha: str) -> bool:
        todo = [sha]
        while todo:
            current = todo.pop()
            if current == ancestor:
                return True
            todo.extend(self.commits.get(current, {}).get("parents", []))
        return False

    def _resolve_tree(self, repo: FakeRepo, ref: str) -> str | None:
        ref = _unquote(ref)
        commit = repo.refs.get(f"heads/{ref}") or (ref if ref in self.commits else None)
        if commit:
            return self.commits[commit]["tree"]
        return ref if ref in self.trees else None

    def _tree_json(self, base: str, sha: str, recursive: bool) -> dict:
        entries, dirs = [], set()
        for path, blob in sorted(self.trees[sha].items()):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                dirs.add("/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                entries.append(
                    {
                        "path": path,
                        "mode": "100644",
                        "type": "blob",
                        "sha": blob,
                        "size": len(self.blobs[blob]),
                        "url": f"{base}/git/blobs/{blob}",
                    }
                )
        for path in sorted(dirs):
            if recursive or "/" not in path:
                entries.append(
                    {
                        "path": path,
                        "mode": "040000",
                        "type": "tree",
                        "sha": _sha("dir", path),
                        "url": f"{base}/git/trees/{_sha('dir', path)}",
                    }
                )
        return {"sha": sha, "url": f"{base}/git/trees/{sha}", "tree": entries, "truncated": False}

    def _commit_json(self, base: str, sha: str) -> dict:
        commit = self.commits[sha]
        return {
            "sha": sha,
            "url": f"{base}/git/commits/{sha}",
            "message": commit["message"],
            "tree": {"sha": commit["tree"], "url": f"{base}/git/trees/{commit['tree']}"},
            "parents": [{"sha": p, "url": f"{base}/git/commits/{p}"} for p in commit["parents"]],
            "author": {"name": "bot", "email": "bot@example.com", "date": "2026-11-24T12:00:00Z"},
        }

    # --- pulls and labels -------------------------------------------------------------------------

    def _list_pulls(self, repo: FakeRepo, base: str, query: dict) -> list[dict]:
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        into = query.get("base", [None])[0]
        found = [
            p
            for p in repo.pulls
            if (state == "all" or p["state"] == state)
            and (head is None or head == f"{repo.owner}:{p['head']['ref']}")
            and (into is None or into == p["base"]["ref"])
        ]
        if query.get("sort", [""])[0] == "updated":  # GitHub's default order is by creation
            found.sort(key=lambda p: p.get("updated_at") or p["created_at"])
        if query.get("direction", [""])[0] == "desc":
            found.reverse()
        return [self._pull_json(repo, base, p) for p in found]

    def _create_pull(self, repo: FakeRepo, base: str, data: dict) -> Response:
        head_ref, base_ref = data["head"].split(":")[-1], data["base"]
        head_sha, base_sha = repo.refs.get(f"heads/{head_ref}"), repo.refs.get(f"heads/{base_ref}")
        if head_sha is None or base_sha is None:
            return _validation("PullRequest", "invalid", f"head or base does not exist: {data['head']}")
        if any(p["state"] == "open" and p["head"]["ref"] == head_ref for p in repo.pulls):
            return _validation(
                "PullRequest", "custom", f"A pull request already exists for {repo.owner}:{head_ref}."
            )
        if self._is_ancestor(head_sha, base_sha):
            return _validation("PullRequest", "custom", f"No commits between {base_ref} and {head_ref}")
        pull = {
            "number": next(repo.numbers),
            "state": "open",
            "title": data["title"],
            "body": data.get("body"),
            "draft": bool(data.get("draft")),
            "merged": False,
            "created_at": _now(),
            "merged_at": None,
            "closed_at": None,
            "labels": [],
            "head": {"ref": head_ref, "sha": head_sha},
            "base": {"ref": base_ref, "sha": base_sha},
        }
        pull["html_url"] = f"https://github.example/{repo.full_name}/pull/{pull['number']}"
        repo.pulls.append(pull)
        return Response(201, self._pull_json(repo, base, pull))

    def _one_pull(self, repo: FakeRepo, base: str, number: int, request: Request) -> Response:
        pull = next((p for p in repo.pulls if p["number"] == number), None)
        if pull is None:
            return _error(404, "Not Found")
        if request.method == "PATCH":
            for key in ("title", "body", "state"):
                if key in request.json:
                    pull[key] = request.json[key]
        body = self._pull_json(repo, base, pull)
        etag = f'W/"{_sha("pull", body)}"'  # like GitHub: a conditional GET of an unchanged PR is a 304
        if request.method == "GET" and request.headers.get("if-none-match") == etag:
            return Response(304, None, {"ETag": etag})
        return Response(200, body, {"ETag": etag})

    def _pull_json(self, repo: FakeRepo, base: str, pull: dict) -> dict:
        number = pull["number"]
        return {
            **pull,
            "id": 1000 + number,
            "url": f"{base}/pulls/{number}",
            "issue_url": f"{base}/issues/{number}",
            "head": {**pull["head"], "label": f"{repo.owner}:{pull['head']['ref']}"},
            "base": {**pull["base"], "label": f"{repo.owner}:{pull['base']['ref']}"},
        }

    def _check_run_json(self, base: str, sha: str, run: dict) -> dict:
        output = run.get("output") or {}
        return {
            "id": run["id"],
            "name": run["name"],
            "head_sha": sha,
            "status": run["status"],
            "conclusion": run["conclusion"],
            "url": f"{base}/check-runs/{run['id']}",
            "html_url": f"https://github.example/runs/{run['id']}",
            "output": {
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": len(run.get("annotations", [])),
                "annotations_url": f"{base}/check-runs/{run['id']}/annotations",
            },
            "app": {"id": 1, "slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [],
        }

    def _review_json(self, base: str, review: dict) -> dict:
        number = review["pull_number"]
        return {
            **{k: v for k, v in review.items() if k != "pull_number"},
            "html_url": f"https://github.example/pull/{number}#pullrequestreview-{review['id']}",
            "pull_request_url": f"{base}/pulls/{number}",
        }

    def _review_comment_json(self, base: str, comment: dict) -> dict:
        return {
            **{k: v for k, v in comment.items() if k != "pull_number"},
            "url": f"{base}/pulls/comments/{comment['id']}",
            "pull_request_url": f"{base}/pulls/{comment['pull_number']}",
        }

    def _compare(self, base: str, base_sha: str, head_sha: str) -> Response:
        """GitHub's compare (``base...head``): every changed file with its counts and its patch (the
        hunks, without the ``---``/``+++`` lines), as GitHub gives them."""
        if base_sha not in self.commits or head_sha not in self.commits:
            return _error(404, "Not Found")
        old, new = self.files_at(base_sha), self.files_at(head_sha)
        files = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            before, after = old.get(path, ""), new.get(path, "")
            patch = "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=3)).split(
                "\n", 2
            )[-1]
            files.append(
                {
                    "sha": _sha("blob", after),
                    "filename": path,
                    "status": "added" if path not in old else "removed" if path not in new else "modified",
                    "additions": sum(1 for line in patch.splitlines() if line.startswith("+")),
                    "deletions": sum(1 for line in patch.splitlines() if line.startswith("-")),
                    "changes": 0,
                    "patch": patch.rstrip("\n"),
                    "blob_url": f"https://github.example/blob/{head_sha}/{path}",
                    "raw_url": f"https://github.example/raw/{head_sha}/{path}",
                    "contents_url": f"{base}/contents/{path}?ref={head_sha}",
                }
            )
        ahead = 0
        todo = head_sha
        while todo and todo != base_sha:
            ahead += 1
            parents = self.commits[todo]["parents"]
            todo = parents[0] if parents else None
        return Response(
            200,
            {
                "url": f"{base}/compare/{base_sha}...{head_sha}",
                "html_url": f"https://github.example/compare/{base_sha}...{head_sha}",
                "status": "ahead" if ahead else "identical",
                "ahead_by": ahead,
                "behind_by": 0,
                "total_commits": ahead,
                "base_commit": {"sha": base_sha},
                "merge_base_commit": {"sha": base_sha},
                "commits": [],
                "files": files,
            },
        )

    def _create_label(self, repo: FakeRepo, base: str, data: dict) -> Response:
        if data["name"] in repo.labels:
            return _validation("Label", "already_exists", "")
        repo.labels[data["name"]] = {
            "name": data["name"],
            "color": data.get("color", "ededed"),
            "description": data.get("description"),
            "url": f"{base}/labels/{data['name']}",
        }
        return Response(201, repo.labels[data["name"]])

    def _add_labels(self, repo: FakeRepo, base: str, number: int, data: dict) -> Response:
        item = self._issue_or_pull(repo, number)
        if item is None:
            return _error(404, "Not Found")
        names = data["labels"] if isinstance(data, dict) else data  # GitHub takes both shapes
        for name in names:
            self._label(repo, item, name)
        return Response(200, item["labels"])

    # --- issues -----------------------------------------------------------------------------------

    def _issue_or_pull(self, repo: FakeRepo, number: int) -> dict | None:
        return next((i for i in [*repo.issues, *repo.pulls] if i["number"] == number), None)

    def _issue_json(self, repo: FakeRepo, base: str, item: dict) -> dict:
        """An issue as the issues API shows it; a pull request is one too, with ``pull_request``."""
        number = item["number"]
        web = f"https://github.example/{repo.full_name}"
        data = {
            "id": 3000 + number,
            "node_id": f"I_{number:08d}",
            "url": f"{base}/issues/{number}",
            "repository_url": base,
            "comments_url": f"{base}/issues/{number}/comments",
            "html_url": f"{web}/issues/{number}",
            "number": number,
            "state": item["state"],
            "state_reason": "completed" if item["state"] == "closed" else None,
            "title": item["title"],
            "body": item.get("body"),
            "user": {"login": "maintainer", "id": 7, "type": "User"},
            "labels": [{"id": 100 + i, "default": False, **label} for i, label in enumerate(item["labels"])],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "comments": len(repo.comments.get(number, [])),
            "created_at": item["created_at"],
            "updated_at": item.get("updated_at") or item["created_at"],
            "closed_at": item.get("closed_at"),
            "author_association": "OWNER",
        }
        if item in repo.pulls:
            data["pull_request"] = {
                "url": f"{base}/pulls/{number}",
                "html_url": item["html_url"],
                "merged_at": item.get("merged_at"),
            }
        return data

    def _list_issues(self, repo: FakeRepo, base: str, request: Request) -> Response:
        """GitHub's ``GET /repos/o/n/issues``: pull requests included, 30 a page by default."""
        query = {key: values[0] for key, values in request.query.items()}
        state, wanted = query.get("state", "open"), {n for n in query.get("labels", "").split(",") if n}
        since = query.get("since")
        items = [
            i
            for i in [*repo.issues, *repo.pulls]
            if (state == "all" or i["state"] == state)
            and wanted <= {label["name"] for label in i["labels"]}
            and (since is None or (i.get("updated_at") or i["created_at"]) >= since)
        ]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        items.sort(key=lambda i: (i.get(key) or i["created_at"], i["number"]))
        if query.get("direction", "desc") == "desc":
            items.reverse()
        per_page, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        shown = [self._issue_json(repo, base, i) for i in items[(page - 1) * per_page : page * per_page]]
        headers = {"ETag": f'W/"{_sha("issues", shown)}"'}
        if page * per_page < len(items):
            following = {**query, "page": str(page + 1)}
            headers["Link"] = (
                f'<{base}/issues?{"&".join(f"{k}={v}" for k, v in following.items())}>; rel="next"'
            )
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(304, None, headers)  # unchanged: costs no rate limit on GitHub
        return Response(200, shown, headers)

    def _comments(self, repo: FakeRepo, base: str, number: int, request: Request) -> Response:
        if self._issue_or_pull(repo, number) is None:
            return _error(404, "Not Found")
        comments = repo.comments.setdefault(number, [])
        if request.method == "GET":
            return Response(200, comments)
        if not (request.json or {}).get("body"):
            return _validation("IssueComment", "missing_field", "body is missing")
        comment = self._comment_json(
            repo, base, number, request.json["body"], self.token_user, self.token_association
        )
        comments.append(comment)
        return Response(201, comment)

    def _comment_json(
        self, repo: FakeRepo, base: str, number: int, body: str, user: dict, association: str
    ) -> dict:
        comment_id = 9000 + next(self._counter)
        return {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{base}/issues/comments/{comment_id}",
            "html_url": f"https://github.example/{repo.full_name}/issues/{number}#issuecomment-{comment_id}",
            "issue_url": f"{base}/issues/{number}",
            "body": body,
            "user": dict(user),
            "created_at": _now(),
            "updated_at": _now(),
            "author_association": association,
        }

    # --- contents -----------------------------------------------------------------------------------

    def _default_files(self, repo: FakeRepo, ref: str | None = None) -> dict[str, str]:
        sha = repo.refs.get(f"heads/{ref or repo.default_branch}") or (ref if ref in self.commits else None)
        return self.trees[self.commits[sha]["tree"]] if sha else {}

    def _contents(self, repo: FakeRepo, base: str, path: str | None, query: dict) -> Response:
        files = self._default_files(repo, query.get("ref", [None])[0])
        if path is None or path not in files:
            return _error(404, "Not Found")
        content = self.blobs[files[path]]
        return Response(
            200,
            {
                "type": "file",
                "encoding": "base64",
                "size": len(content),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": files[path],
                "url": f"{base}/contents/{path}",
                "content": base64.b64encode(content).decode(),
            },
        )

    def _repo_json(self, repo: FakeRepo) -> dict:
        return {
            "id": 1,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "owner": {"login": repo.owner, "id": 2, "type": "Organization"},
            "default_branch": repo.default_branch,
            "permissions": repo.permissions,
            "url": f"{self.url}/repos/{repo.full_name}",
            "html_url": f"https://github.example/{repo.full_name}",
        }


def _page(request: Request, url: str, items: list) -> Response:
    """One page of a list (``per_page``, default 30; ``page``), with GitHub's ``Link`` header."""
    per_page = min(int(request.query.get("per_page", ["30"])[0]), 100)
    page = int(request.query.get("page", ["1"])[0])
    headers = {}
    if page * per_page < len(items):
        kept = "".join(f"&{k}={v[0]}" for k, v in request.query.items() if k not in ("per_page", "page"))
        headers["Link"] = f'<{url}?per_page={per_page}&page={page + 1}{kept}>; rel="next"'
    return Response(200, items[(page - 1) * per_page : page * per_page], headers)


def _ref_json(base: str, name: str, sha: str) -> dict:
    return {
        "ref": f"refs/{name}",
        "url": f"{base}/git/refs/{name}",
        "object": {"type": "commit", "sha": sha, "url": f"{base}/git/commits/{sha}"},
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _combined_status_json(base: str, sha: str, statuses: list[dict]) -> dict:
    """GitHub's combined status: failure if any failed or errored, pending if any is pending or
    none exists, else success."""
    states = [s["state"] for s in statuses]
    if any(state in ("failure", "error") for state in states):
        state = "failure"
    elif not states or "pending" in states:
        state = "pending"
    else:
        state = "success"
    return {
        "state": state,
        "sha": sha,
        "total_count": len(statuses),
        "statuses": [
            {
                "context": s["context"],
                "state": s["state"],
                "description": s.get("description"),
                "url": f"{base}/statuses/{sha}",
                "id": i + 1,
            }
            for i, s in enumerate(statuses)
        ],
        "url": f"{base}/commits/{sha}/status",
    }


def _readme_path(files: dict[str, str]) -> str | None:
    return next((p for p in sorted(files) if "/" not in p and p.lower().startswith("readme")), None)


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def _error(status: int, message: str) -> Response:
    return Response(
        status,
        {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)},
    )


def _validation(resource: str, code: str, message: str) -> Response:
    error = {"resource": resource, "code": code}
    if message:
        error["message"] = message
    return Response(
        422,
        {
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": "https://docs.github.com/rest",
        },
    )


def rate_limited(seconds_to_reset: int = 1800) -> tuple[int, dict, dict[str, str]]:
    """A primary rate-limit 403 as GitHub sends it: (status, body, headers)."""
    reset = int(time.time()) + seconds_to_reset
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Used": "5000",
        "X-RateLimit-Reset": str(reset),
        "X-RateLimit-Resource": "core",
    }
    return (
        403,
        {
            "message": "API rate limit exceeded for user ID 1.",
            "documentation_url": "https://docs.github.com/rest/rate-limit",
        },
        headers,
    )


# --- test setup ------------------------------------------------------------------------------------

SEED_FILES = {
    "README.md": "# Widgets\n\nA small Django service that sells widgets.\n\n## Development\n\nRun `make test`.\n",
    "app/__init__.py": "",
    "app/views.py": "from django.http import HttpResponse\n\n\ndef index(request):\n    return HttpResponse('hi')\n",
    "docs/TODO.md": "- [ ] Add health check endpoint\n- [x] Ship the first widget\n",
}


@contextmanager
def serving_github(settings, **fake_options):
    """A started fake with ``octo/widgets`` (SEED_FILES on ``main``); the settings point at it.

    Use it in a fixture: ``with serving_github(settings) as fake: yield fake``.
    """
    with FakeGitHub(**fake_options) as fake:
        fake.add_repo("octo/widgets", files=SEED_FILES)
        settings.GITHUB_API_URL = fake.url
        settings.GITHUB_TOKEN = GOOD_TOKEN
        settings.GITHUB_REPOSITORY = "octo/widgets"
        settings.GITHUB_BASE_BRANCH = ""
        # tests/conftest.py's environment comes after Django read its settings: set them here.
        settings.GITHUB_SECONDS_BETWEEN_REQUESTS = 0
        settings.GITHUB_SECONDS_BETWEEN_WRITES = 0
        settings.GITHUB_RETRIES = 2  # kept on, but without pauses: retries are part of the story
        settings.GITHUB_RETRY_BACKOFF = 0
        settings.GITHUB_MAX_RATE_LIMIT_WAIT = 2
        yield fake


def make_execution(
    title: str = "Add health check endpoint",
    *,
    files: dict[str, str] | None = None,
    task=None,
    simulated: bool = False,
    plan: str = "1. Add a view.\n2. Route it.\n",
):
    """A finished-looking execution of ``title`` whose two model calls were charged to the ledger."""
    from budget import ledger
    from budget.periods import current_period
    from budget.pricing import Usage, cost_nanos, price_for
    from executions.changes.edits import line_counts
    from executions.models import Execution, ModelCall, Task
    from executions.repositories.base import Change, FileChange

    files = (
        files
        if files is not None
        else {
            "app/health.py": "from django.http import JsonResponse\n\n\ndef health(request):\n"
            "    return JsonResponse({'ok': True})\n",
            "app/urls.py": "from django.urls import path\n\nfrom app.health import health\n\n"
            "urlpatterns = [path('health/', health)]\n",
        }
    )
    change = Change(
        summary="Adds a /health/ endpoint returning {'ok': true}.",
        files=[
            FileChange(path, content, added=line_counts("", content)[0]) for path, content in files.items()
        ],
    )
    task = task or Task.objects.create(title=title, description="Load balancers need a cheap probe.")
    period = current_period()
    reservation = ledger.reserve(50_000_000, label=f"task {task.pk}", period=period)
    execution = Execution.objects.create(
        task=task,
        period=period,
        reservation=reservation,
        status=Execution.Status.PUBLISHING,
        simulated=simulated,
        plan=plan,
        change=change.as_json(),
        summary=change.summary,
        reserved_nanos=reservation.amount_nanos,
    )
    calls = [
        ("analysis", "anthropic", "claude-sonnet-4-5", Usage(input_tokens=2000, output_tokens=1500)),
        (
            "codegen",
            "openai",
            "gpt-4o-mini",
            Usage(input_tokens=2000, output_tokens=4000, cache_read_tokens=500),
        ),
    ]
    for step, provider, model, usage in calls:
        price = price_for(model)
        cost = cost_nanos(price, usage)
        ledger.charge(reservation, cost, model_name=model, provider=provider, usage=usage)
        ModelCall.objects.create(
            execution=execution,
            step=step,
            provider=provider,
            requested_model=model,
            model=model,
            price=price,
            cost_nanos=cost,
            simulated=simulated,
            **usage.as_dict(),
        )
        execution.cost_nanos += cost
    execution.save(update_fields=["cost_nanos"])
    return execution, change
