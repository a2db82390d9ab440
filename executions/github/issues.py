"""GitHub issues become tasks: an open issue carrying GITHUB_TASK_LABEL in an enabled repository
is a pending task (its title and body; source ``github_issue``, keyed by repository and number, so
it is never imported twice).

Issues arrive two ways, both through ``follow_issue``: the signed webhook's ``issues`` events
(``on_issue``, a handler of ``executions.github.dispatch``) and polling for deployments GitHub
cannot reach (``sync_issues``: the command and the ``sync-issues`` schedule). Both read the issue
as it is now (a webhook payload carries the whole issue), so a second sight of the same issue
changes nothing, and a view older than the one the task last followed (``updated_at``) is ignored:

- open and labelled: a new task; a pending task takes the new title, body and priority (an edit
  never changes a task that has started); a task skipped because its issue was closed or lost
  its label is pending again;
- closed, unlabelled, deleted or transferred: a pending task is skipped; a running one finishes,
  and is not retried (``standing.runnable_tasks`` leaves it out, the poll skips it);
- pull requests, issues of repositories that are not configured and issues without the label
  change nothing.

Issue text is untrusted: it only ever reaches the prompts, as a task's does. A body over
ISSUE_BODY_MAX_BYTES is cut with a note, not refused.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from executions.backlog.checklist import MAX_TITLE
from executions.backlog.services import create_task
from executions.github.payloads import WebhookPayloadError, dig, ignored_event, text, when
from executions.github.payloads import number as payload_number
from executions.github.pull_requests import NotConfigured, github_configured
from executions.models import Repository, Task
from executions.repositories import standing
from executions.repositories.base import PublishError
from executions.repositories.comments import post_due
from notifications.secrets import mask_secrets
from notifications.text import storable

log = logging.getLogger(__name__)

IssueState = Task.IssueState
GONE_ACTIONS = ("deleted", "transferred")
HANDLED_ACTIONS = ("opened", "edited", "labeled", "unlabeled", "closed", "reopened", *GONE_ACTIONS)
# The first poll of a repository has no ``since``; later ones ask from the last update seen. With
# nothing seen yet, from a little before the poll (GitHub's clock and ours may differ).
CLOCK_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Issue:
    """An issue as GitHub shows it (a webhook's ``issue``, or an item of the issues list)."""

    number: int
    title: str
    body: str
    open: bool
    labels: frozenset[str]  # case-folded: GitHub's label names are case-insensitive
    updated_at: dt.datetime | None
    pull_request: bool  # GitHub lists pull requests as issues too

    @classmethod
    def from_json(cls, data: object) -> Issue:
        number = payload_number(dig(data, "number"), "issue.number")
        labels = dig(data, "labels")
        names = [
            text(dig(label, "name")) if isinstance(label, dict) else text(label) for label in labels or []
        ]
        return cls(
            number=number,
            title=text(dig(data, "title")),
            body=text(dig(data, "body")),
            open=dig(data, "state") == "open",
            labels=frozenset(name.casefold() for name in names if name),
            updated_at=when(dig(data, "updated_at")),
            pull_request=dig(data, "pull_request") is not None,
        )

    @property
    def labelled(self) -> bool:
        return settings.GITHUB_TASK_LABEL.casefold() in self.labels


def issue_key(repository: Repository, number: int) -> str:
    """The task's ``source_key``: the repository's id (a rename keeps it) and the issue's number."""
    return f"github_issue:{repository.pk}#{number}"


# --- following one issue -------------------------------------------------------------------------


def follow_issue(
    repository: Repository, issue: Issue, *, gone: bool = False, now: dt.datetime | None = None
) -> str:
    """Bring the task of ``issue`` to what the issue says now (``gone``: deleted or transferred);
    a one-line outcome, starting with ``ignored`` when nothing changed."""
    at = now or timezone.now()
    state = _state_of(issue, gone)
    where = f"{repository.name}#{issue.number}"
    with transaction.atomic():
        task = Task.objects.select_for_update().filter(source_key=issue_key(repository, issue.number)).first()
        if task is None:
            if state != IssueState.OPEN or not repository.enabled:
                return f"ignored: {where} is not an open issue labelled {settings.GITHUB_TASK_LABEL}"
            task = create_task(
                **_task_text(issue),
                source=Task.Source.GITHUB_ISSUE,
                source_key=issue_key(repository, issue.number),
                repository=repository,
                issue_number=issue.number,
                issue_state=state,
                issue_updated_at=issue.updated_at,
            )
            if task.issue_updated_at == issue.updated_at:
                log.info("issue %s became task %s", where, task.pk)
                return f"created task {task.pk} from {where}"
            # Another process created it meanwhile from another view of the issue: follow this one.
            task = Task.objects.select_for_update().get(pk=task.pk)
        return _follow(task, issue, state, where, gone=gone, at=at)


def _state_of(issue: Issue, gone: bool) -> str:
    if gone:
        return IssueState.DELETED
    if not issue.open:
        return IssueState.CLOSED
    return IssueState.OPEN if issue.labelled else IssueState.UNLABELED


def _follow(task: Task, issue: Issue, state: str, where: str, *, gone: bool, at: dt.datetime) -> str:
    if not gone and _older(issue.updated_at, task.issue_updated_at):
        return f"ignored: an older view of {where}"
    changes: dict = {"issue_state": state}
    if issue.updated_at and not _older(issue.updated_at, task.issue_updated_at):
        changes["issue_updated_at"] = issue.updated_at
    outcome = f"ignored: task {task.pk} unchanged"
    left_by_its_issue = task.status == Task.Status.SKIPPED and task.issue_state != IssueState.OPEN
    if state == IssueState.OPEN and (task.status == Task.Status.PENDING or left_by_its_issue):
        changes |= _task_text(issue)
        if left_by_its_issue:
            changes["status"] = Task.Status.PENDING
            outcome = f"pending again: task {task.pk} ({where} is open and labelled)"
        elif any(getattr(task, name) != value for name, value in _task_text(issue).items()):
            outcome = f"updated task {task.pk} from {where}"
    elif state != IssueState.OPEN and task.status == Task.Status.PENDING:
        changes["status"] = Task.Status.SKIPPED
        outcome = f"skipped task {task.pk}: {where} is {state}"
    Task.objects.filter(pk=task.pk).update(**changes, updated_at=at)
    if not outcome.startswith("ignored"):
        log.info("%s", outcome)
    return outcome


def _older(seen: dt.datetime | None, followed: dt.datetime | None) -> bool:
    return seen is not None and followed is not None and seen < followed


def _task_text(issue: Issue) -> dict:
    """The task's title, description and priority from the issue."""
    title = " ".join(issue.title.split())[:MAX_TITLE] or f"Issue #{issue.number}"
    return {"title": title, "description": _cut(issue.body.strip(), issue), "priority": _priority(issue)}


def _cut(body: str, issue: Issue) -> str:
    return cut_description(body, what="issue", rest=f"on GitHub, issue #{issue.number}")


def cut_description(body: str, *, what: str, rest: str) -> str:
    """A task's description as the product keeps it: at most ISSUE_BODY_MAX_BYTES, cut with a
    note saying whose text it is and where the rest is (``executions.backtest`` cuts a pull
    request's or a commit's text the same way as an issue's)."""
    cap = settings.ISSUE_BODY_MAX_BYTES
    encoded = body.encode("utf-8")
    if len(encoded) <= cap:
        return body
    kept = encoded[:cap].decode("utf-8", errors="ignore").rstrip()
    return (
        f"{kept}\n\n[The {what}'s text was cut here: it is longer than {cap:,} bytes "
        f"(ISSUE_BODY_MAX_BYTES). The rest is {rest}.]"
    )


def _priority(issue: Issue) -> int:
    """The highest priority its labels give (ISSUE_PRIORITY_LABELS); 0 when none does."""
    values = [
        value for label, value in settings.ISSUE_PRIORITY_LABELS.items() if label.casefold() in issue.labels
    ]
    return max(values, default=0)


# --- the webhook (a handler of ``executions.github.dispatch``) -------------------------------------


def on_issue(event: str, payload: dict):
    """An ``issues`` delivery: the issue's task follows it, in a configured repository only."""
    action = payload.get("action")
    if action not in HANDLED_ACTIONS:
        return ignored_event(event, action)
    name = text(dig(payload, "repository", "full_name"))
    repository = Repository.objects.filter(kind=Repository.Kind.GITHUB, name__iexact=name).first()
    if repository is None:
        return f"ignored: {name or 'the repository'} is not a configured repository"
    issue = Issue.from_json(dig(payload, "issue"))
    if issue.pull_request:
        return "ignored: a pull request"
    return lambda at: follow_issue(repository, issue, gone=action in GONE_ACTIONS, now=at)


# --- polling -------------------------------------------------------------------------------------


@dataclass
class IssuesReport:
    lines: list[str]  # one per repository
    errors: list[str]
    comments_posted: int = 0


def sync_issues(*, now: dt.datetime | None = None) -> IssuesReport:
    """Read every enabled GitHub repository's issues updated since its last poll and follow them;
    skip the pending tasks of issues that are gone; post the comments that are due. One
    repository's failure is reported (a 404 or 403 marks it) and the others are still read.
    Raises ``NotConfigured`` when GitHub repositories are enabled but no credentials are set."""
    at = now or timezone.now()
    enabled = list(Repository.objects.filter(kind=Repository.Kind.GITHUB, enabled=True).order_by("name"))
    if enabled and not github_configured():
        raise NotConfigured(
            "Issues cannot be read: GitHub is not configured (set GITHUB_TOKEN or the GitHub App settings)."
        )
    report = IssuesReport(lines=[], errors=[])
    for repository in enabled:
        try:
            report.lines.append(f"{repository.name}: {sync_repository(repository, now=at)}")
        except PublishError as exc:
            report.errors.append(f"{repository.name}: {exc}")
        except Exception as exc:  # whatever went wrong with one repository, the others are read
            log.exception("issues of %s not read", repository.name)
            report.errors.append(f"{repository.name}: {mask_secrets(storable(str(exc)))[:300]}")
    skipped = Task.objects.filter(
        status=Task.Status.PENDING, source=Task.Source.GITHUB_ISSUE, issue_state__in=standing.ISSUE_GONE
    ).update(status=Task.Status.SKIPPED, updated_at=at)
    if skipped:
        report.lines.append(f"skipped {skipped} task(s) whose issue is gone (back from a failed try)")
    report.comments_posted = post_due(now=at).posted
    return report


def sync_repository(repository: Repository, *, now: dt.datetime | None = None) -> str:
    """Follow ``repository``'s issues updated since its last poll; a one-line outcome. Raises
    ``PublishError`` (``RepositoryUnavailable`` for a 404 or 403, which marks the repository)."""
    from executions.repositories.gateways import get_gateway

    at = now or timezone.now()
    recovered = ""
    gateway = get_gateway(repository)
    if repository.problem:
        gateway.check_access()  # raises while GitHub still refuses it
        standing.mark_available(repository)
        recovered = "available again; "
    page = gateway.list_issues(
        since=repository.issues_since, etag=repository.issues_etag, label=settings.GITHUB_TASK_LABEL
    )
    if page.issues is None:
        Repository.objects.filter(pk=repository.pk).update(issues_synced_at=at)
        return f"{recovered}no issue changed"
    outcomes: Counter[str] = Counter()
    skipped: list[str] = []
    since = repository.issues_since
    for data in page.issues:
        try:
            issue = Issue.from_json(data)
        except WebhookPayloadError:
            outcomes["unreadable"] += 1
            continue
        if issue.updated_at and (since is None or issue.updated_at > since):
            since = issue.updated_at
        if issue.pull_request:
            continue
        try:
            outcomes[_kind_of(follow_issue(repository, issue, now=at))] += 1
        except Exception as exc:  # one bad issue, whatever is wrong with it, must not stop the poll
            outcomes["skipped"] += 1
            skipped.append(f"#{issue.number} skipped: {mask_secrets(storable(str(exc)))[:300]}")
            log.warning("issue %s#%s skipped: %s", repository.name, issue.number, exc)
    since = since or at - CLOCK_MARGIN
    # The ETag answers for this exact listing (its ``since``): kept only while that is asked again.
    etag = page.etag if page.complete and since == repository.issues_since else ""
    Repository.objects.filter(pk=repository.pk).update(
        issues_since=since, issues_etag=etag, issues_synced_at=at
    )
    counted = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
    line = f"{recovered}{len(page.issues)} issue(s) read" + (f": {counted}" if counted else "")
    return line + (f" ({'; '.join(skipped)})" if skipped else "")


def _kind_of(outcome: str) -> str:
    first = outcome.split(" ")[0].rstrip(":")
    return {"pending": "pending again", "ignored": "unchanged"}.get(first, first)
