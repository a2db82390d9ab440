"""What became of each pull request the pipeline opened: merged, closed or open, and its checks.

Facts arrive three ways, all through the services here: the pipeline records a PR when it opens
it (``record_published``), GitHub's signed webhook reports closes, merges, reopens, pushes and
finished checks and commit statuses (``on_pull_request``, ``on_check``, ``on_status``: handlers of
``executions.github.dispatch``), and ``sync_pull_requests`` polls open PRs, each in its own
repository, for deployments without inbound webhooks (``sync_open_pull_requests``). Every state
change, the budget period's counts (``budget.outcomes``), its repository's
(``executions.repositories.standing``) and the task's outcome commit together:

- merged: the task is done (and counts as merged after a revision when it had one);
- closed without merging: the task is ``rejected`` (never retried by itself; requeue it by hand);
- reopened: the task is back to done, the state of a task whose PR awaits review;
- merged or closed: its queued revisions are cancelled;
- its head's combined checks become ``failure``: a revision may be asked for
  (``executions.github.triggers.checks_failed``).

GitHub never reopens a merged pull request, so merged is final here too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budget.outcomes import hold_period, record_merged_after_revision, record_pull_request_state
from executions.github import triggers as revision_triggers
from executions.github.payloads import WebhookPayloadError, dig, ignored_event, text, when
from executions.github.payloads import number as payload_number
from executions.models import Execution, PullRequest, Repository, Revision, Task
from executions.repositories import comments, standing
from executions.repositories.base import FAILED_CONCLUSIONS, PublishError, PublishResult
from executions.revisions import lifecycle

log = logging.getLogger(__name__)

State, Checks = PullRequest.State, PullRequest.Checks

# A check's conclusion (check runs and suites) or a commit status's state, as one of three.
SUCCEEDED = {"success", "neutral", "skipped"}
FAILED = FAILED_CONCLUSIONS


# --- reading ---------------------------------------------------------------------------------------


def combined_checks(results: Iterable[str | None]) -> str:
    """One status for a commit's checks: any failure fails it, else anything unfinished keeps it
    pending, else success; ``none`` when no check reported."""
    outcomes = [_outcome(r) for r in results]
    if not outcomes:
        return Checks.NONE
    if Checks.FAILURE in outcomes:
        return Checks.FAILURE
    if Checks.PENDING in outcomes:
        return Checks.PENDING
    return Checks.SUCCESS


def _outcome(result: str | None) -> str:
    if result in SUCCEEDED:
        return Checks.SUCCESS
    if result in FAILED:
        return Checks.FAILURE
    return Checks.PENDING  # queued, in progress, pending, stale, or no conclusion yet


def merged_in_period(period_id: int) -> list[dict]:
    """Selector: the period's merged pull requests (those its executions opened), as JSON facts."""
    rows = (
        PullRequest.objects.filter(execution__period_id=period_id, state=State.MERGED)
        .select_related("task", "execution")
        .order_by("merged_at", "pk")
    )
    return [
        {
            "number": pr.number,
            "url": pr.url,
            "task_title": pr.task.title,
            "merged_at": pr.merged_at.isoformat() if pr.merged_at else None,
            "execution_id": pr.execution_id,
        }
        for pr in rows
    ]


def repository_of(url: str) -> str:
    """``owner/name`` from a pull request's web URL (``https://github.com/owner/name/pull/7``)."""
    parts = urlsplit(url).path.strip("/").split("/")
    return "/".join(parts[-4:-2]) if len(parts) >= 4 and parts[-2] == "pull" else ""


# --- recording what the pipeline opened ------------------------------------------------------------


def record_published(
    execution: Execution, published: PublishResult, *, now: dt.datetime | None = None
) -> None:
    """Record the pull request ``execution`` published, in the caller's transaction (the pipeline's
    success). A new one counts as open in the execution's period; one already known (a retry that
    reused an open PR) gets its new head and keeps counting where it was opened. A new one of a
    task from an issue owes the issue a comment linking it, with its cost."""
    repository = repository_of(published.pr_url)
    if not published.pr_number or not repository:
        return  # published without a pull request (local git)
    at = now or timezone.now()
    with transaction.atomic():
        standing.count_pull_request(execution, opened=published.opened_pr)
        # Not locked here: a known one is locked by ``apply``, after the period it counts in (the
        # order every change of a pull request follows; it may be an earlier period than this one).
        pr, created = PullRequest.objects.get_or_create(
            repository=repository,
            number=published.pr_number,
            defaults={
                "execution": execution,
                "task_id": execution.task_id,
                "url": published.pr_url,
                "head_branch": published.branch,
                "head_sha": published.commit_sha,
                "opened_at": at,
            },
        )
        if created:
            record_pull_request_state(period_id=execution.period_id, old=None, new=State.OPEN)
            comments.pull_request_opened(pr, execution, now=at)
        else:  # GitHub reused it, so it is open there, with this head
            apply(pr, Observed(state=State.OPEN, head_sha=published.commit_sha), now=at)


# --- changing state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What GitHub says about a pull request now; None fields are not known from this source."""

    state: str | None = None
    head_sha: str | None = None
    merged_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    check_results: dict[str, str | None] | None = None  # replaces the head's results
    check_result: tuple[str, str | None] | None = None  # one check's result, added to them


def apply(pr: PullRequest, observed: Observed, *, now: dt.datetime | None = None) -> bool:
    """Bring ``pr`` to what was ``observed``; True when something changed. One transaction: the
    row, the period's counts and the task's outcome. Locks in the pipeline's order: the period
    (when the state may change), the pull request, the task."""
    at = now or timezone.now()
    with transaction.atomic():
        if observed.state:  # a state change moves the period's counts: its row is locked first
            hold_period(pr.execution.period_id)
        pr = (
            PullRequest.objects.select_for_update(of=("self",))
            .select_related("execution__task")
            .get(pk=pr.pk)
        )
        before = _facts(pr)
        old_state, old_head, old_checks = pr.state, pr.head_sha, pr.checks
        if observed.head_sha and observed.head_sha != pr.head_sha:
            _new_head(pr, observed.head_sha)
        if observed.check_results is not None:
            pr.check_results = dict(observed.check_results)
        if observed.check_result is not None:
            name, result = observed.check_result
            pr.check_results = {**pr.check_results, name: result}
        if observed.check_results is not None or observed.check_result is not None:
            pr.checks = combined_checks(pr.check_results.values())
        if observed.state and old_state != State.MERGED:  # merged is final
            _move(pr, observed, at)
        changed = _facts(pr) != before
        if changed:
            pr.save()
        if pr.state != old_state:
            record_pull_request_state(period_id=pr.execution.period_id, old=old_state, new=pr.state)
            standing.count_pull_request(pr.execution, merged=pr.state == State.MERGED)
            _task_follows(pr, at)
            _revisions_follow(pr, at)
        newly_failed = old_checks != Checks.FAILURE or pr.head_sha != old_head
        if pr.state == State.OPEN and pr.checks == Checks.FAILURE and newly_failed:
            asked = revision_triggers.checks_failed(pr, now=at)
            log.info("pull request %s#%s failed its checks: %s", pr.repository, pr.number, asked)
    if pr.state != old_state:
        log.info("pull request %s#%s is now %s (task %s)", pr.repository, pr.number, pr.state, pr.task_id)
    return changed


def _facts(pr: PullRequest) -> tuple:
    return (pr.state, pr.head_sha, pr.merged_at, pr.closed_at, pr.checks, pr.check_results)


def _new_head(pr: PullRequest, sha: str) -> None:
    """New commits: the old head's checks say nothing about them. Pending where checks ran before."""
    pr.head_sha = sha
    pr.checks = Checks.PENDING if pr.check_results else Checks.NONE
    pr.check_results = {}


def _move(pr: PullRequest, observed: Observed, at: dt.datetime) -> None:
    pr.state = observed.state
    if observed.state == State.OPEN:
        pr.merged_at = pr.closed_at = None
    elif observed.state == State.MERGED:
        pr.merged_at = observed.merged_at or pr.merged_at or at
        pr.closed_at = observed.closed_at or pr.closed_at or pr.merged_at
    else:
        pr.closed_at = observed.closed_at or pr.closed_at or at


def _revisions_follow(pr: PullRequest, at: dt.datetime) -> None:
    """Merged or closed: its lifecycle, queued or running, are cancelled; a merge after a revision
    counts."""
    if pr.state == State.OPEN:
        return
    lifecycle.cancel_active(pr, now=at)
    if pr.state == State.MERGED and pr.revisions.filter(status=Revision.Status.SUCCEEDED).exists():
        record_merged_after_revision(period_id=pr.execution.period_id)


def _task_follows(pr: PullRequest, at: dt.datetime) -> None:
    """The task takes its PR's outcome, unless it is running again (its new execution decides)."""
    tasks = Task.objects.filter(pk=pr.task_id)
    if pr.state == State.MERGED:
        tasks = tasks.exclude(status=Task.Status.RUNNING)
        status = Task.Status.DONE
    elif pr.state == State.CLOSED:
        tasks = tasks.filter(status=Task.Status.DONE)  # requeued meanwhile: leave it to run
        status = Task.Status.REJECTED
    else:
        tasks = tasks.filter(status=Task.Status.REJECTED)  # reopened: awaiting review again
        status = Task.Status.DONE
    tasks.update(status=status, updated_at=at)


# --- the webhook (handlers of ``executions.github.dispatch``) -----------------------------------------


def on_pull_request(event: str, payload: dict):
    """A pull request closed (merged or not), reopened or pushed to: the known PR follows."""
    action = payload.get("action")
    if action not in ("closed", "reopened", "synchronize"):
        return ignored_event(event, action)
    pull = dig(payload, "pull_request")
    number = payload_number(dig(pull, "number"), "pull_request.number")
    repository = text(dig(payload, "repository", "full_name"))
    pr = PullRequest.objects.filter(repository=repository, number=number).first()
    if pr is None:
        return "ignored: not a pull request this product opened"
    return _applying([(pr, _observed_pull(action, pull))])


def on_check(event: str, payload: dict):
    """A check run or suite completed on the head commit of known PRs: their checks follow."""
    action = payload.get("action")
    if action != "completed":
        return ignored_event(event, action)
    check = dig(payload, event)
    sha = text(dig(check, "head_sha"))
    if not sha:
        raise WebhookPayloadError(f"{event}.head_sha is missing")
    name = text(dig(check, "name")) if event == "check_run" else text(dig(check, "app", "slug"))
    result = (f"{event}:{name or '?'}", text(dig(check, "conclusion")) or None)
    return _checks_of(payload, sha, result)


def on_status(event: str, payload: dict):
    """A commit status (the older statuses API) set on the head commit of known PRs: their checks
    follow, as for check runs."""
    sha = text(dig(payload, "sha"))
    if not sha:
        raise WebhookPayloadError("status.sha is missing")
    state = text(dig(payload, "state"))
    if state == "pending":
        state = None  # unfinished: pending, as a check run without a conclusion
    result = (f"status:{text(dig(payload, 'context')) or '?'}", state)
    return _checks_of(payload, sha, result)


def _checks_of(payload: dict, sha: str, result: tuple[str, str | None]):
    """The check ``result`` for the known pull requests whose head is ``sha``."""
    repository = text(dig(payload, "repository", "full_name"))
    prs = list(PullRequest.objects.filter(repository=repository, head_sha=sha))
    if not prs:
        return "ignored: not a pull request this product opened"
    return _applying([(pr, Observed(check_result=result)) for pr in prs])


def _applying(targets: list[tuple[PullRequest, Observed]]):
    def act(at: dt.datetime) -> str:
        changed = [pr for pr, observed in targets if apply(pr, observed, now=at)]
        names = ", ".join(f"#{pr.number}" for pr in changed)
        return f"updated {names}" if changed else "ignored: nothing changed"

    return act


def _observed_pull(action: object, pull: dict) -> Observed:
    head_sha = text(dig(pull, "head", "sha")) or None
    if action == "synchronize":
        return Observed(head_sha=head_sha)
    if action == "reopened":
        return Observed(state=State.OPEN, head_sha=head_sha)
    merged = bool(dig(pull, "merged")) or bool(dig(pull, "merged_at"))
    return Observed(
        state=State.MERGED if merged else State.CLOSED,
        head_sha=head_sha,
        merged_at=when(dig(pull, "merged_at")),
        closed_at=when(dig(pull, "closed_at")),
    )


# --- polling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    checked: int
    changed: int
    errors: list[str]


def refresh_open(gateway, *, now: dt.datetime | None = None, repository: str | None = None) -> SyncReport:
    """Refresh every open pull request (of ``repository``, when given) through ``gateway``
    (``GitHubGateway``): its state (a conditional request: unchanged costs no rate limit) and its
    head's checks. One PR's error is reported and the others are still refreshed."""
    changed, errors = 0, []
    open_prs = PullRequest.objects.filter(state=State.OPEN).order_by("pk")
    if repository is not None:
        open_prs = open_prs.filter(repository=repository)
    open_prs = list(open_prs)
    for pr in open_prs:
        try:
            changed += refresh_one(gateway, pr, now=now)
        except PublishError as exc:
            errors.append(f"{pr.repository}#{pr.number}: {exc}")
    return SyncReport(checked=len(open_prs), changed=changed, errors=errors)


def refresh_one(gateway, pr: PullRequest, *, now: dt.datetime | None = None) -> bool:
    at = now or timezone.now()
    snapshot = gateway.pull_request(pr.number, etag=pr.etag)  # None: unchanged since the etag
    head_sha = snapshot.head_sha if snapshot else pr.head_sha
    if not head_sha:  # its head branch (or fork) is gone: nothing to read the checks of
        raise PublishError(f"GitHub reports no head commit for pull request #{pr.number}; skipped it")
    observed = Observed(
        check_results=gateway.check_results(head_sha),
        **(
            {
                "state": snapshot.state,
                "head_sha": snapshot.head_sha,
                "merged_at": snapshot.merged_at,
                "closed_at": snapshot.closed_at,
            }
            if snapshot
            else {}
        ),
    )
    changed = apply(pr, observed, now=at)
    PullRequest.objects.filter(pk=pr.pk).update(
        synced_at=at, **({"etag": snapshot.etag[:200]} if snapshot else {})
    )
    return changed


class NotConfigured(Exception):
    """Polling GitHub (pull requests, issues) needs credentials: GITHUB_TOKEN or the GitHub App."""


def github_configured() -> bool:
    return bool(settings.GITHUB_TOKEN or settings.GITHUB_APP_ID)


def sync_open_pull_requests(*, now: dt.datetime | None = None) -> SyncReport:
    """``refresh_open`` for each repository that has open pull requests, each PR read from the
    repository it was opened in (not from today's GITHUB_REPOSITORY). With no open pull request
    nothing is asked of GitHub; raises ``NotConfigured`` when some are open and GitHub is not
    configured. A repository that cannot be read is reported and the others are still refreshed."""
    names = list(
        PullRequest.objects.filter(state=State.OPEN)
        .order_by("repository")
        .values_list("repository", flat=True)
        .distinct()
    )
    if not names:
        return SyncReport(checked=0, changed=0, errors=[])
    if not github_configured():
        raise NotConfigured(
            "Open pull requests cannot be refreshed: GitHub is not configured "
            "(set GITHUB_TOKEN or the GitHub App settings)."
        )
    checked, changed, errors = 0, 0, []
    for name in names:
        try:
            report = refresh_open(_gateway_of(name), now=now, repository=name)
        except PublishError as exc:
            errors.append(f"{name}: {exc}")
            continue
        checked, changed, errors = checked + report.checked, changed + report.changed, errors + report.errors
    return SyncReport(checked=checked, changed=changed, errors=errors)


def _gateway_of(name: str):
    """The GitHub gateway of the repository named ``name``: its row's when there is one, else the
    settings' credentials for that name (a PR opened before repositories were rows)."""
    from executions.repositories.gateways import get_gateway
    from executions.repositories.github import GitHubGateway  # PyGithub: only deployments that poll

    repository = Repository.objects.filter(kind=Repository.Kind.GITHUB, name=name).first()
    return get_gateway(repository) if repository else GitHubGateway.from_settings(name)
