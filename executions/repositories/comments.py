"""Comments the product owes GitHub issues: one when a task's pull request opens (a link and its
cost), one when a task fails for good (the reason); and pull requests (``executions.revisions.lifecycle``):
what a revision changed and cost, why one failed, that a PR had its revisions.

A comment is owed in the transaction of the fact it reports (``owe``): an ``IssueComment`` row
whose ``key`` names that fact, unique, so it is owed once however often the fact is recorded. It
is posted right after that transaction commits and, if GitHub cannot take it then, by the next
``post_due`` (the ``sync-issues`` schedule runs it), with a growing pause between tries, until
COMMENT_MAX_ATTEMPTS. A retry after an answer that was lost first looks for the comment's hidden
marker on the issue, so it is never posted twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from budget.money import format_usd
from executions.models import Execution, IssueComment, PullRequest, Repository, Task
from executions.repositories.base import PublishError, RepositoryGateway

log = logging.getLogger(__name__)

COMMENT_MAX_ATTEMPTS = 8
RETRY_BASE = dt.timedelta(minutes=1)
RETRY_MAX = dt.timedelta(hours=1)
HOLD = dt.timedelta(minutes=2)  # a poster's claim: longer than one post can take


MARKER_PREFIX = "<!-- pr-orchestrator:"


def marker(key: str) -> str:
    """Hidden in the comment's text: how a retry recognises a comment that was posted already (and
    a webhook, the product's own comment)."""
    return f"{MARKER_PREFIX}{key} -->"


# --- what is owed ------------------------------------------------------------------------------


def pull_request_opened(pr: PullRequest, execution: Execution, *, now: dt.datetime | None = None) -> None:
    """``pr`` opened for an issue's task: the issue gets a link and what it cost (in the caller's
    transaction, the one that records the pull request)."""
    task = execution.task
    if not _from_an_issue(task):
        return
    body = (
        f"Opened pull request #{pr.number} for this issue: {pr.url}\n\n"
        f"It cost {format_usd(execution.cost_nanos)} in model calls, charged to this month's budget. "
        "Merging it closes this issue."
    )
    owe(task, key=f"pr-opened:{pr.pk}", body=body, now=now)


def task_failed(execution: Execution, *, now: dt.datetime | None = None) -> None:
    """``execution`` was the last try of an issue's task: the issue hears why, once. Call it in the
    transaction that fails the execution; nothing is owed while the task still has attempts."""
    task = execution.task
    if execution.revision_id is not None:
        return  # a revision's failure is its pull request's to hear (``executions.revisions.lifecycle``)
    if not _from_an_issue(task) or not Task.objects.filter(pk=task.pk, status=Task.Status.FAILED).exists():
        return
    spent = Execution.objects.filter(task=task).aggregate(total=Sum("cost_nanos"))["total"] or 0
    reason = " ".join((execution.error or "no reason was recorded").split())[:1500]
    body = (
        f"The automation gave up on this issue after {task.attempts} attempt"
        f"{'s' if task.attempts != 1 else ''}: {reason}.\n\n"
        f"The attempts cost {format_usd(spent)} in model calls. To try again, edit the issue if it "
        "helps, then requeue the task in the admin."
    )
    owe(task, key=f"task-failed:{execution.pk}", body=body, now=now)


def _from_an_issue(task: Task) -> bool:
    return (
        task.source == Task.Source.GITHUB_ISSUE
        and task.issue_number is not None
        and task.repository.kind == Repository.Kind.GITHUB
    )


def owe(
    task: Task, *, key: str, body: str, number: int | None = None, now: dt.datetime | None = None
) -> IssueComment | None:
    """Record a comment on ``task``'s issue (or on issue or pull request ``number`` of its
    repository), once per ``key``, posted after the caller's transaction commits."""
    at = now or timezone.now()
    try:
        with transaction.atomic():
            comment = IssueComment.objects.create(
                repository_id=task.repository_id,
                number=number or task.issue_number,
                task=task,
                key=key[:100],
                body=f"{body}\n\n{marker(key[:100])}",
                due_at=at,
                created_at=at,
            )
    except IntegrityError:
        return None  # owed already
    transaction.on_commit(lambda: post_due(pk=comment.pk), robust=True)
    return comment


# --- posting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostReport:
    posted: int
    failed: int  # this pass (they are tried again later, until their last attempt)


def post_due(*, pk: int | None = None, now: dt.datetime | None = None) -> PostReport:
    """Post every comment that is due (or only ``pk``). Never raises for GitHub's answers: a
    comment that could not be posted is tried again later, and given up on after its last try."""
    at = now or timezone.now()
    due = IssueComment.objects.filter(status=IssueComment.Status.PENDING, due_at__lte=at)
    if pk is not None:
        due = due.filter(pk=pk)
    posted = failed = 0
    gateways: dict[int, RepositoryGateway] = {}  # each repository's, made once (with App auth: one token)
    for comment in due.select_related("repository").order_by("due_at", "pk"):
        if not _claim(comment, at):
            continue  # another poster has it
        if _post(comment, at, gateways):
            posted += 1
        else:
            failed += 1
    return PostReport(posted=posted, failed=failed)


def _claim(comment: IssueComment, at: dt.datetime) -> bool:
    """Hold ``comment`` for this poster: one conditional update, of two posters one wins."""
    won = IssueComment.objects.filter(
        pk=comment.pk, status=IssueComment.Status.PENDING, due_at=comment.due_at
    ).update(due_at=at + HOLD, attempts=F("attempts") + 1)
    comment.attempts += 1
    return bool(won)


def _post(comment: IssueComment, at: dt.datetime, gateways: dict[int, RepositoryGateway]) -> bool:
    from executions.repositories.gateways import get_gateway

    try:
        if comment.repository_id not in gateways:
            gateways[comment.repository_id] = get_gateway(comment.repository)
        gateway = gateways[comment.repository_id]
        if comment.attempts > 1 and _already_there(gateway, comment):
            comment_id = None  # an earlier try landed but its answer was lost
        else:
            comment_id = gateway.comment_on_issue(comment.number, comment.body)
    except PublishError as exc:
        _failed(comment, str(exc), at)
        return False
    IssueComment.objects.filter(pk=comment.pk).update(
        status=IssueComment.Status.POSTED, comment_id=comment_id, posted_at=at, error=""
    )
    log.info("commented on %s#%s (%s)", comment.repository.name, comment.number, comment.key)
    return True


def _already_there(gateway, comment: IssueComment) -> bool:
    sign = marker(comment.key)
    return any(sign in body for body in gateway.issue_comment_bodies(comment.number))


def _failed(comment: IssueComment, reason: str, at: dt.datetime) -> None:
    last = comment.attempts >= COMMENT_MAX_ATTEMPTS
    pause = min(RETRY_BASE * 2 ** (comment.attempts - 1), RETRY_MAX)
    IssueComment.objects.filter(pk=comment.pk).update(
        status=IssueComment.Status.FAILED if last else IssueComment.Status.PENDING,
        due_at=at + pause,
        error=reason[:2000],
    )
    log.warning(
        "comment on %s#%s not posted (attempt %s of %s): %s",
        comment.repository.name,
        comment.number,
        comment.attempts,
        COMMENT_MAX_ATTEMPTS,
        reason,
    )
