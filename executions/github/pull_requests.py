"""What became of each pull request the pipeline opened: merged, closed or open, and its checks.

Facts arrive three ways, all through the services here: the pipeline records a PR when it opens
it (``record_published``), GitHub's signed webhook reports closes, merges, reopens, pushes and
finished checks (``handle_webhook``), and ``sync_pull_requests`` polls open PRs for deployments
without inbound webhooks (``refresh_open``). Every state change, the budget period's counts
(``budget.outcomes``) and the task's outcome commit together:

- merged: the task is done;
- closed without merging: the task is ``rejected`` (never retried by itself; requeue it by hand);
- reopened: the task is back to done, the state of a task whose PR awaits review.

GitHub never reopens a merged pull request, so merged is final here too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from budget.outcomes import hold_period, record_pull_request_state
from executions.gateways import get_gateway
from executions.gateways.base import PublishError, PublishResult
from executions.models import Execution, PullRequest, Task, WebhookDelivery

log = logging.getLogger(__name__)

State, Checks = PullRequest.State, PullRequest.Checks

# A check's conclusion (check runs and suites) or a commit status's state, as one of three.
SUCCEEDED = {"success", "neutral", "skipped"}
FAILED = {"failure", "error", "timed_out", "cancelled", "action_required", "startup_failure"}


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
    reused an open PR) gets its new head and keeps counting where it was opened."""
    repository = repository_of(published.pr_url)
    if not published.pr_number or not repository:
        return  # published without a pull request (local git)
    at = now or timezone.now()
    with transaction.atomic():
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
        pr = PullRequest.objects.select_for_update().select_related("execution").get(pk=pr.pk)
        before = _facts(pr)
        old_state = pr.state
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
            _task_follows(pr, at)
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


# --- the webhook ---------------------------------------------------------------------------------


class WebhookPayloadError(ValueError):
    """The delivery's JSON is not the shape GitHub sends for its event."""


def handle_webhook(*, event: str, delivery_id: str, payload: dict, now: dt.datetime | None = None) -> str:
    """Act on one verified GitHub delivery; a one-line outcome. Starting with ``ignored`` or
    ``already`` means nothing changed. A delivery id acted on before changes nothing again."""
    at = now or timezone.now()
    action = payload.get("action")
    targets = _webhook_targets(event, action, payload)
    if targets is None:
        return f"ignored: {event or 'no'} event" + (f" ({action})" if action else "")
    if not targets:
        return "ignored: not a pull request this product opened"
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(delivery_id=delivery_id[:100], event=event[:50], received_at=at)
            changed = [pr for pr, observed in targets if apply(pr, observed, now=at)]
    except IntegrityError:
        return f"already processed: delivery {delivery_id[:100]}"
    names = ", ".join(f"#{pr.number}" for pr in changed)
    return f"updated {names}" if changed else "ignored: nothing changed"


def _webhook_targets(event: str, action: object, payload: dict) -> list[tuple[PullRequest, Observed]] | None:
    """The known pull requests a delivery speaks of, with what it says; None for events not handled."""
    repository = _text(_dig(payload, "repository", "full_name"))
    if event == "pull_request" and action in ("closed", "reopened", "synchronize"):
        pull = _dig(payload, "pull_request")
        number = _dig(pull, "number")
        if not isinstance(number, int):
            raise WebhookPayloadError("pull_request.number is missing")
        pr = PullRequest.objects.filter(repository=repository, number=number).first()
        return [(pr, _observed_pull(action, pull))] if pr else []
    if event in ("check_run", "check_suite") and action == "completed":
        check = _dig(payload, event)
        sha = _text(_dig(check, "head_sha"))
        if not sha:
            raise WebhookPayloadError(f"{event}.head_sha is missing")
        name = _text(_dig(check, "name")) if event == "check_run" else _text(_dig(check, "app", "slug"))
        result = (f"{event}:{name or '?'}", _text(_dig(check, "conclusion")) or None)
        prs = PullRequest.objects.filter(repository=repository, head_sha=sha)
        return [(pr, Observed(check_result=result)) for pr in prs]
    return None


def _observed_pull(action: object, pull: dict) -> Observed:
    head_sha = _text(_dig(pull, "head", "sha")) or None
    if action == "synchronize":
        return Observed(head_sha=head_sha)
    if action == "reopened":
        return Observed(state=State.OPEN, head_sha=head_sha)
    merged = bool(_dig(pull, "merged")) or bool(_dig(pull, "merged_at"))
    return Observed(
        state=State.MERGED if merged else State.CLOSED,
        head_sha=head_sha,
        merged_at=_when(_dig(pull, "merged_at")),
        closed_at=_when(_dig(pull, "closed_at")),
    )


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _when(value: object) -> dt.datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


# --- polling -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    checked: int
    changed: int
    errors: list[str]


def refresh_open(gateway, *, now: dt.datetime | None = None) -> SyncReport:
    """Refresh every open pull request from GitHub through ``gateway`` (``GitHubGateway``): its
    state (a conditional request: unchanged costs no rate limit) and its head's checks. One PR's
    error is reported and the others are still refreshed."""
    changed, errors = 0, []
    open_prs = list(PullRequest.objects.filter(state=State.OPEN).order_by("pk"))
    for pr in open_prs:
        try:
            changed += refresh_one(gateway, pr, now=now)
        except PublishError as exc:
            errors.append(f"#{pr.number}: {exc}")
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
    """Polling needs GitHub (GITHUB_REPOSITORY and a token or app credentials)."""


def sync_open_pull_requests(*, now: dt.datetime | None = None) -> SyncReport:
    """``refresh_open`` through the configured GitHub gateway. With no open pull request nothing
    is asked of GitHub; raises ``NotConfigured`` when some are open and GitHub is not configured,
    ``PublishError`` when the configuration is unusable."""
    if not PullRequest.objects.filter(state=State.OPEN).exists():
        return SyncReport(checked=0, changed=0, errors=[])
    gateway = get_gateway()
    if gateway.name != "github":
        raise NotConfigured(
            "Open pull requests cannot be refreshed: GitHub is not configured "
            "(set GITHUB_REPOSITORY and GITHUB_TOKEN or the GitHub App settings)."
        )
    return refresh_open(gateway, now=now)
