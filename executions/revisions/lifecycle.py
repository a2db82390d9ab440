"""Revisions: follow-up commits on the product's pull requests, paid from the same budget.

A revision is asked for (``ask``) by failed checks, a review or a comment
(``executions.github.triggers``) or by ``manage.py revise``, once per piece of feedback (its
``key``) and at most PR_MAX_REVISIONS per pull request (past that, one comment on the PR says so).
It is pending work like a pending task: ``runnable_revisions`` gives them in the tasks' order (the
task's priority, then age), and the scheduler, ``run_execution`` and batch mode take the next of
either (``executions.backlog.services.next_pending_work``). It runs as an execution of its task
(``executions.pipeline.runner``, reserved, charged, paced and announced like any other) that:

- starts from its branch's head (``start_from``; a merged or closed PR, or a deleted branch,
  cancels it before anything is charged);
- shows the analyst the feedback and the pull request's diff so far (``context_for``);
- publishes one commit on the branch, a fast-forward only (``commit``): if the branch moved while
  it ran, the revision starts again once from the new head, and otherwise fails; never a force
  push, never a new pull request;
- ends with ``succeeded`` (a PR comment saying what changed and what it cost) or ``failed``
  (pending again within its attempts, else one PR comment saying why).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from budget.money import format_usd
from budget.outcomes import record_revision
from executions.analysis import analyst
from executions.errors import RevisionCancelled
from executions.models import Execution, ModelCall, PullRequest, Revision, Task
from executions.repositories import comments
from executions.repositories.base import BranchMoved, Change, PublishError, PublishResult, RepositoryGateway
from executions.repositories.pr_body import RevisionLine, pr_body_for
from executions.revisions import feedback

log = logging.getLogger(__name__)

Status, Kind = Revision.Status, Revision.Kind
ACTIVE = (Status.PENDING, Status.RUNNING)


# --- asking --------------------------------------------------------------------------------------


def ask(pr: PullRequest, *, kind: str, key: str, source: dict, now: dt.datetime | None = None) -> str:
    """Queue a revision of ``pr`` for the feedback named ``key``, once; a one-line outcome, starting
    with ``ignored`` or ``already`` when nothing was queued. The pull request's row is locked first
    (in the caller's transaction, if any), so two deliveries at once queue one revision and the
    limit holds."""
    with transaction.atomic():
        pr = (
            PullRequest.objects.select_for_update(of=("self",))
            .select_related("task__repository")
            .get(pk=pr.pk)
        )
        where = f"{pr.repository}#{pr.number}"
        if pr.state != PullRequest.State.OPEN:
            return f"ignored: {where} is {pr.state}: no revision"
        return _queue(pr.task, pr, pr.head_branch, where, kind=kind, key=key, source=source, now=now)


def ask_branch(task: Task, *, text: str, now: dt.datetime | None = None) -> str:
    """Queue a revision of ``task``'s latest branch in a local git repository (no pull request),
    as ``manage.py revise --task`` asks; a one-line outcome as ``ask``'s."""
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("repository").get(pk=task.pk)
        origin = _origin(task, branch=None)
        if origin is None:
            return f"ignored: task {task.pk} has no published branch to revise yet"
        key = command_key(f"{task.pk}:{origin.branch}", text, origin.commit_sha)
        return _queue(
            task,
            None,
            origin.branch,
            origin.branch,
            kind=Kind.COMMAND,
            key=key,
            source={"text": text},
            now=now,
        )


def command_key(target: str, text: str, head: str) -> str:
    """The key of a request from the command line: the same words on the same head are one revision."""
    digest = hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]
    return f"command:{target}:{head[:12]}:{digest}"


def _queue(task, pr, branch, where, *, kind, key, source, now) -> str:
    at = now or timezone.now()
    if Revision.objects.filter(key=key[:200]).exists():
        return f"already queued: the revision asked by {key[:200]}"
    if settings.PR_MAX_REVISIONS == 0:
        return f"ignored: revisions are off (PR_MAX_REVISIONS is 0), {where} is left as it is"
    origin = _origin(task, branch=branch)
    made = revisions_of(task, pr, branch, since=origin.finished_at if origin else None).count()
    if made >= settings.PR_MAX_REVISIONS:
        if pr is not None:
            _owe_limit_comment(pr, made, round_id=origin.pk if origin else 0, at=at)
        return f"ignored: {where} has had {made} revision(s), the most PR_MAX_REVISIONS allows"
    base_sha = origin.base_sha if origin else ""
    try:
        with transaction.atomic():
            revision = Revision.objects.create(
                task=task,
                pull_request=pr,
                branch=branch,
                kind=kind,
                key=key[:200],
                source={**source, "base_sha": base_sha},
                created_at=at,
            )
    except IntegrityError:
        return f"already queued: the revision asked by {key[:200]}"
    log.info("queued revision %s of %s (%s)", revision.pk, where, kind)
    return f"queued revision {revision.pk} of {where} ({revision.get_kind_display()})"


def _origin(task: Task, *, branch: str | None) -> Execution | None:
    """The last execution of ``task`` that published its change anew on its branch (not a
    revision): the base the pull request's diff is read against, and the start of the count of
    its revisions (a requeued task starts a new round)."""
    published = Execution.objects.filter(task=task, revision__isnull=True, status=Execution.Status.SUCCEEDED)
    if branch is not None:
        published = published.filter(branch=branch)
    return published.exclude(branch="").order_by("-finished_at", "-pk").first()


def revisions_of(task: Task, pr: PullRequest | None, branch: str, *, since=None) -> QuerySet[Revision]:
    """The revisions that count against the limit: queued, running or run (not cancelled) since
    ``since``."""
    found = Revision.objects.filter(task=task, branch=branch).exclude(status=Status.CANCELLED)
    if pr is not None:
        found = found.filter(pull_request=pr)
    return found.filter(created_at__gt=since) if since else found


def _owe_limit_comment(pr: PullRequest, made: int, *, round_id: int, at: dt.datetime) -> None:
    body = (
        f"This pull request has had {made} revision{'s' if made != 1 else ''}, the most the automation "
        f"makes for one (PR_MAX_REVISIONS = {settings.PR_MAX_REVISIONS}), so it does not answer this "
        "feedback. To have it start over, requeue the task in the admin (Tasks → Requeue): its next "
        "execution makes a fresh change on this same branch and pull request, which can be revised "
        "again. Or push the fix yourself."
    )
    comments.owe(pr.task, key=f"revision-limit:{pr.pk}:{round_id}", body=body, number=pr.number, now=at)


# --- picking and claiming ------------------------------------------------------------------------


def runnable_revisions() -> QuerySet[Revision]:
    """Pending revisions that may run now, in the tasks' order (their task's priority, then age):
    their repository may run tasks, their task is not running, their pull request is open."""
    return (
        Revision.objects.filter(
            status=Status.PENDING, task__repository__enabled=True, task__repository__problem=""
        )
        .filter(Q(pull_request__isnull=True) | Q(pull_request__state=PullRequest.State.OPEN))
        .exclude(task__status=Task.Status.RUNNING)
        .order_by("-task__priority", "created_at", "pk")
    )


def claim(revision: Revision, at: dt.datetime) -> bool:
    """Pending → running, one conditional UPDATE (of two processes one wins); in the transaction
    that reserves the execution's money and records it."""
    won = Revision.objects.filter(pk=revision.pk, status=Status.PENDING).update(
        status=Status.RUNNING, attempts=F("attempts") + 1, claimed_at=at, branch_moved_to=""
    )
    return bool(won)


def why_not_pending(revision: Revision) -> str:
    if revision.status == Status.RUNNING:
        return f"Revision {revision.pk} is already running in another process; not starting it twice."
    return f"Revision {revision.pk} is {revision.status}, not pending."


def label(revision: Revision) -> str:
    """``owner/name#7`` for a pull request, else the branch."""
    pr = revision.pull_request
    return f"{pr.repository}#{pr.number}" if pr is not None else revision.branch


# --- what a run starts from and shows the analyst -------------------------------------------------


def start_from(revision: Revision, gateway: RepositoryGateway, *, now: dt.datetime | None = None) -> str:
    """The commit ``revision`` starts from: its branch's head now. A pull request no longer open,
    or a branch that is gone, cancels it (``RevisionCancelled``) before anything is charged."""
    pr = revision.pull_request
    if pr is not None:
        pr.refresh_from_db(fields=["state"])
        if pr.state != PullRequest.State.OPEN:
            raise _cancel(revision, f"{label(revision)} is {pr.state}", now)
    head = gateway.branch_head(revision.branch)
    if head is None:
        raise _cancel(revision, f"its branch {revision.branch} was deleted", now)
    return head


def _cancel(revision: Revision, why: str, now: dt.datetime | None) -> RevisionCancelled:
    reason = f"Revision {revision.pk} of {label(revision)} was cancelled: {why}"
    Revision.objects.filter(pk=revision.pk, status=Status.PENDING).update(
        status=Status.CANCELLED, error=reason, finished_at=now or timezone.now()
    )
    log.warning("%s; nothing was charged", reason)
    return RevisionCancelled(reason)


@dataclass(frozen=True)
class RevisionContext:
    """What a revision adds to the analysis: the prompt's part (feedback and diff, quoted as
    data) and the words that rank the repository's files (the paths the pull request changed,
    the feedback's text)."""

    prompt: str
    ranking: str


_CHANGED_PATH = re.compile(r"^\+\+\+ b/(.+)$", re.M)


def context_for(revision: Revision, gateway: RepositoryGateway, head_sha: str) -> RevisionContext:
    """The feedback (read once and kept on the revision) and the pull request's diff from its base
    to ``head_sha``, each within its byte cap."""
    if revision.feedback is None:
        revision.feedback = feedback.gather(revision, gateway)
        Revision.objects.filter(pk=revision.pk).update(feedback=revision.feedback)
    base_sha = revision.source.get("base_sha", "")
    diff = (
        gateway.diff(base_sha, head_sha, max_bytes=settings.REVISION_DIFF_BYTES)
        if base_sha and base_sha != head_sha
        else ""
    )
    prompt = analyst.revision_part(
        where=label(revision),
        branch=revision.branch,
        head_sha=head_sha,
        feedback=revision.feedback,
        diff=diff,
    )
    ranking = "\n".join([*_CHANGED_PATH.findall(diff), feedback.text_of(revision.feedback)])
    return RevisionContext(prompt=prompt, ranking=ranking)


# --- publishing ----------------------------------------------------------------------------------


def commit(execution: Execution, change: Change, gateway: RepositoryGateway) -> PublishResult:
    """One commit of ``change`` on the revision's branch, on the commit it started from (a
    fast-forward); then the pull request's body shows its total cost (best effort). A branch that
    moved meanwhile is noted on the revision (``failed`` starts it again, once)."""
    revision = execution.revision
    pr = revision.pull_request
    if pr is not None:
        pr.refresh_from_db(fields=["state"])
        if pr.state != PullRequest.State.OPEN:
            raise PublishError(
                f"{label(revision)} was {pr.state} while the revision ran: nothing was committed"
            )
    try:
        sha = gateway.commit_on_branch(
            revision.branch, change, parent=execution.base_sha, message=_commit_message(execution, change)
        )
    except BranchMoved as exc:
        Revision.objects.filter(pk=revision.pk).update(branch_moved_to=exc.head[:64])
        raise
    edit_body = getattr(gateway, "edit_pull_request_body", None)  # a gateway with pull requests
    if pr is not None and edit_body is not None:
        try:
            edit_body(pr.number, _pull_request_body(pr, execution, sha))
        except PublishError as exc:  # the commit is what matters; the next revision refreshes it
            log.warning("pull request %s#%s: its body was not updated: %s", pr.repository, pr.number, exc)
    return PublishResult(
        branch=revision.branch,
        commit_sha=sha,
        pr_number=pr.number if pr is not None else None,
        pr_url=pr.url if pr is not None else "",
    )


def _pull_request_body(pr: PullRequest, execution: Execution, sha: str) -> str:
    """The body of the change that opened ``pr`` (its latest round), with the cost of every
    execution of the pull request and a line per revision, this one (``sha``) included."""
    origin = _origin(pr.task, branch=execution.revision.branch)
    if origin is None or not origin.change:
        origin, change = execution, Change.from_json(execution.change or {})
    else:
        change = Change.from_json(origin.change)
    runs = Execution.objects.filter(_of_pull_request(pr))
    done = list(
        runs.filter(revision__isnull=False, status=Execution.Status.SUCCEEDED)
        .select_related("revision")
        .order_by("finished_at", "pk")
    )
    lines = [_revision_line(e, e.commit_sha) for e in done if e.pk != execution.pk]
    return pr_body_for(
        origin,
        change,
        calls=ModelCall.objects.filter(execution__in=runs),  # this revision's run among them
        revisions=[*lines, _revision_line(execution, sha)],
        period_id=execution.period_id,
    )


def _revision_line(execution: Execution, sha: str) -> RevisionLine:
    files = [f for f in (execution.change or {}).get("files", []) if isinstance(f, dict)]
    return RevisionLine(
        commit_sha=sha,
        asked_by=asked_by(execution.revision),
        files=len(files),
        added=sum(f.get("added", 0) for f in files),
        removed=sum(f.get("removed", 0) for f in files),
        cost_nanos=execution.cost_nanos,
    )


def _commit_message(execution: Execution, change: Change) -> str:
    revision = execution.revision
    summary = (change.summary or "").strip()
    body = f"\n\n{summary[:2000]}" if summary else ""
    mode = "simulated execution" if execution.simulated else "execution"
    return (
        f"Revise: {execution.task.title[:64]}{body}\n\nIn answer to {asked_by(revision)}. Generated by "
        f"{mode} {execution.pk} (task {execution.task_id}, revision {revision.pk})."
    )


def asked_by(revision: Revision) -> str:
    """Who or what asked for ``revision``, for people (a PR comment, a commit message)."""
    source = revision.source
    author = f"@{source['author']}" if source.get("author") else "someone"
    if revision.kind == Kind.CHECKS:
        return f"the failed checks on {source.get('sha', '')[:12]}"
    if revision.kind == Kind.REVIEW:
        return f"the review by {author}"
    if revision.kind == Kind.COMMENT:
        return f"the comment by {author}"
    return "a request from the command line"


# --- finishing (in the pipeline's finishing transactions) -------------------------------------------


def succeeded(execution: Execution, published: PublishResult, *, now: dt.datetime) -> None:
    """The revision's commit is on its branch: the revision is done, the month counts it, and the
    pull request is told what changed and what it cost (after the transaction commits)."""
    revision = execution.revision
    Revision.objects.filter(pk=revision.pk).update(
        status=Status.SUCCEEDED, commit_sha=published.commit_sha, finished_at=now, error=""
    )
    record_revision(period_id=execution.period_id)
    pr = revision.pull_request
    if pr is not None:
        comments.owe(
            execution.task,
            key=f"revision:{execution.pk}",
            body=_done_comment(execution, pr),
            number=pr.number,
            now=now,
        )
    log.info("revision %s of %s committed %s", revision.pk, label(revision), published.commit_sha[:12])


def _done_comment(execution: Execution, pr: PullRequest) -> str:
    revision = execution.revision
    files = (execution.change or {}).get("files", [])
    lines = [
        f"- `{str(f.get('path', '')).replace('`', '')}` +{f.get('added', 0):,} −{f.get('removed', 0):,}"
        + (" (deleted)" if f.get("deleted") else "")
        for f in files[:50]
        if isinstance(f, dict)
    ]
    if len(files) > 50:
        lines.append(f"- … and {len(files) - 50} more (see the commit)")
    origin = _origin(execution.task, branch=revision.branch)
    made = revisions_of(execution.task, pr, revision.branch, since=origin.finished_at if origin else None)
    made = made.filter(status=Status.SUCCEEDED).count()
    summary = " ".join((execution.summary or "").split())[:1000]
    return (
        f"Pushed {execution.commit_sha[:12] or 'a commit'} to this pull request in answer to "
        f"{asked_by(revision)}"
        + (f": {summary}" if summary else ".")
        + "\n\n"
        + "\n".join(lines)
        + f"\n\nThis revision cost {format_usd(execution.cost_nanos)} in model calls, charged to this "
        f"month's budget; the pull request has cost {format_usd(pull_request_cost_nanos(pr))} in all. "
        f"Revision {made} of at most {settings.PR_MAX_REVISIONS}."
    )


@dataclass(frozen=True)
class AfterFailure:
    """What becomes of a revision whose run failed (``after_failure``)."""

    status: str  # pending (it runs again) or failed
    error: str  # the execution's error: the reason, and what happens next
    give_back: bool = False  # the attempt does not count (a restart, or a batch the vendor refused)
    restart: bool = False  # its branch moved: it starts again from the new head, once


def after_failure(execution: Execution, reason: str, *, task_at_fault: bool = True) -> AfterFailure:
    """What a failed run of ``execution``'s revision leads to (``failed`` makes it so)."""
    revision = Revision.objects.select_related("task").get(pk=execution.revision_id)
    if revision.status == Status.CANCELLED:  # its pull request closed while it ran
        why = revision.error.removeprefix("Cancelled: ").rstrip(".")
        return AfterFailure(
            Status.CANCELLED, f"{reason}; the revision was cancelled ({why}) and does not run again"
        )
    if revision.branch_moved_to and not revision.restarted:
        where = revision.branch_moved_to[:12]
        return AfterFailure(
            Status.PENDING, f"{reason}; the revision starts again from {where}", give_back=True, restart=True
        )
    if revision.branch_moved_to:
        return AfterFailure(Status.FAILED, f"{reason}; it had started again once already, so it has failed")
    if not task_at_fault:
        return AfterFailure(Status.PENDING, f"{reason}; the revision keeps its attempts", give_back=True)
    max_attempts = revision.task.max_attempts
    if revision.attempts < max_attempts:
        return AfterFailure(Status.PENDING, f"{reason}; the revision will be retried")
    return AfterFailure(
        Status.FAILED,
        f"{reason}; no attempts left ({revision.attempts} of {max_attempts}), the revision has failed",
    )


def failed(execution: Execution, outcome: AfterFailure, *, now: dt.datetime) -> None:
    """The revision is pending again or has failed for good (``outcome``); a pull request hears
    once why its revision failed. In the transaction that fails the execution."""
    revision = execution.revision
    ran = Revision.objects.filter(pk=revision.pk, status=Status.RUNNING).update(  # not if cancelled
        status=outcome.status,
        error=outcome.error,
        finished_at=now if outcome.status == Status.FAILED else None,
        **({"attempts": F("attempts") - 1} if outcome.give_back else {}),
        **({"restarted": True} if outcome.restart else {}),
    )
    pr = revision.pull_request
    if outcome.status == Status.FAILED and pr is not None and ran:
        spent = Execution.objects.filter(revision=revision).aggregate(total=Sum("cost_nanos"))["total"] or 0
        body = (
            f"The automation could not make the revision asked by {asked_by(revision)}: "
            f"{' '.join(outcome.error.split())[:1500]}.\n\nIts runs cost {format_usd(spent)} in model "
            "calls, charged to this month's budget. Push the fix yourself, or ask again."
        )
        comments.owe(
            execution.task, key=f"revision-failed:{revision.pk}", body=body, number=pr.number, now=now
        )


def restarting(revision: Revision) -> bool:
    """True when ``revision`` was just set to start again from its branch's new head."""
    return (
        Revision.objects.filter(pk=revision.pk, status=Status.PENDING, restarted=True)
        .exclude(branch_moved_to="")
        .exists()
    )


def cancel_active(pr: PullRequest, *, now: dt.datetime) -> int:
    """``pr`` was merged or closed: its revisions, queued or running, are cancelled (in the
    transaction that records the change). A running one commits nothing (``commit`` reads the
    state) and its failure leaves it cancelled, so reopening the pull request runs none of them:
    only new feedback asks again."""
    return Revision.objects.filter(pull_request=pr, status__in=ACTIVE).update(
        status=Status.CANCELLED, error=f"Cancelled: the pull request was {pr.state}.", finished_at=now
    )


# --- figures -------------------------------------------------------------------------------------


def pull_request_cost_nanos(pr: PullRequest) -> int:
    """What ``pr`` has cost: every execution that published to it and every run of its revisions."""
    spent = Execution.objects.filter(_of_pull_request(pr)).aggregate(total=Sum("cost_nanos"))["total"]
    return spent or 0


def _of_pull_request(pr: PullRequest | None = None) -> Q:
    """Every execution of ``pr`` (of the outer query's pull request when None): those that
    published to it and every run of its revisions."""
    task_id, number, pk = (
        (pr.task_id, pr.number, pr.pk) if pr else (OuterRef("task_id"), OuterRef("number"), OuterRef("pk"))
    )
    return Q(task_id=task_id, pr_number=number) | Q(revision__pull_request=pk)


def with_totals(pull_requests: QuerySet[PullRequest]) -> QuerySet[PullRequest]:
    """``pull_requests`` annotated with ``revision_count`` (follow-up commits made) and
    ``total_cost_nanos`` (``pull_request_cost_nanos``): a subquery each."""
    made = (
        Revision.objects.filter(pull_request=OuterRef("pk"), status=Status.SUCCEEDED)
        .order_by()
        .annotate(n=Func(F("pk"), function="COUNT"))
        .values("n")
    )
    cost = (
        Execution.objects.filter(_of_pull_request())
        .order_by()
        .annotate(total=Func(F("cost_nanos"), function="SUM"))
        .values("total")
    )
    return pull_requests.annotate(
        revision_count=Coalesce(Subquery(made, output_field=IntegerField()), 0),
        total_cost_nanos=Coalesce(Subquery(cost, output_field=BigIntegerField()), 0),
    )
