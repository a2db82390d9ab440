"""A queued revision is pending work like a pending task: picked in the same order, paid from the
same budget (it waits while the month is exhausted), run by batch mode too, and put back by the
reaper when its worker dies."""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from budget.models import Period
from budget.money import dollars_str
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task, next_pending_work
from executions.errors import RevisionCancelled
from executions.github.dispatch import handle_webhook
from executions.jobs import recover_stalled
from executions.models import Execution, PullRequest, Revision, Task
from executions.pipeline.runner import prepare, run_execution, smaller
from executions.providers import providers_for_mode
from executions.revisions import lifecycle
from executions.scheduling.scheduler import run_next_execution
from tests.executions.outcomes import OpensPullRequests, RevisesPullRequests
from tests.executions.revisions.conftest import FIXED
from tests.fakes.openai import change

pytestmark = pytest.mark.django_db

_PULL_REQUESTS = OpensPullRequests()


def opened(title: str = "Add health check endpoint", *, priority: int = 0) -> PullRequest:
    """A task whose (in-memory) pull request is open."""
    task = create_task(title=title, priority=priority)
    return PullRequest.objects.get(execution=run_execution(task, gateway=_PULL_REQUESTS))


def asked(pr: PullRequest, text: str = "Answer with the version too") -> Revision:
    assert lifecycle.ask(pr, kind="command", key=f"command:{pr.pk}:{text}", source={"text": text}).startswith(
        "queued"
    )
    return Revision.objects.get(key=f"command:{pr.pk}:{text}")


def test_revisions_and_tasks_are_picked_by_priority_then_age():
    with time_machine.travel("2026-11-15 12:00Z", tick=False) as clock:
        low = opened("Low", priority=0)
        high = opened("High", priority=5)
        clock.shift(60)
        older_task = create_task(title="A pending task")
        clock.shift(60)
        low_revision = asked(low)
        clock.shift(60)
        high_revision = asked(high)

    assert next_pending_work() == high_revision  # its task's priority
    assert next_pending_work(exclude=[high_revision]) == older_task  # same priority, older
    assert next_pending_work(exclude=[high_revision, older_task]) == low_revision
    # A revision whose task runs (requeued by hand) waits for it.
    Task.objects.filter(pk=high.task_id).update(status=Task.Status.RUNNING)
    assert next_pending_work() == older_task


def test_a_revision_waits_while_the_month_is_exhausted_then_runs_the_next_month(live, fake_github, settings):
    anthropic_fake, openai_fake = live
    settings.PACING_ENABLED = False
    with time_machine.travel("2026-11-15 12:00Z", tick=True):
        call_command("run_execution", "Add health check endpoint", stdout=StringIO())
        pr = PullRequest.objects.get()
        revision = asked(pr)
        providers = providers_for_mode()
        full = prepare(pr.task, providers=providers, gateway=_gateway(), revision=revision)
        smallest = [full, *smaller(pr.task, full, providers)][-1]
        period = current_period()
        # Not even the revision's smallest form fits what is unspent.
        set_limit(period, dollars_str(period.spent_nanos + smallest.worst_case.admit_nanos - 1))

        outcome = run_next_execution()

        assert outcome.startswith("not started") and "exhausted" in outcome.lower(), outcome
        assert run_next_execution() == f"skipped: the budget for {period.month:%Y-%m} is exhausted"
        revision.refresh_from_db()
        assert revision.status == "pending" and not revision.executions.exists()
        period.refresh_from_db()
        assert period.spent_nanos <= period.limit_nanos and period.reserved_nanos == 0

    openai_fake.content = change(
        {"path": "app/health.py", "action": "edit",
         "edits": [{"search": "    return JsonResponse({'ok': True})", "replace": FIXED}]},
    )  # fmt: skip
    anthropic_fake.tool_input = {"plan": "Report the version.", "files": ["app/health.py"]}
    with time_machine.travel("2026-12-01 09:00Z", tick=True):
        outcome = run_next_execution()

    revision.refresh_from_db()
    assert revision.status == "succeeded", outcome
    [execution] = revision.executions.all()
    assert f"{execution.period.month:%Y-%m}" == "2026-12"
    assert Period.objects.get(pk=execution.period_id).revisions_count == 1


def _gateway():
    from executions.repositories.gateways import get_gateway

    return get_gateway(Task.objects.get().repository)


def test_batch_mode_runs_a_queued_revision_like_a_pending_task(batch_mode, fake_github):
    anthropic_fake, openai_fake = batch_mode
    with time_machine.travel("2026-11-15 12:00Z", tick=True):
        create_task(title="Add health check endpoint")
        for _ in range(3):
            call_command("run_batches", stdout=StringIO())
        pr = PullRequest.objects.get()
        revision = asked(pr)
        openai_fake.content = change(
            {"path": "app/health.py", "action": "edit",
             "edits": [{"search": "    return JsonResponse({'ok': True})", "replace": FIXED}]},
        )  # fmt: skip
        anthropic_fake.tool_input = {"plan": "Report the version.", "files": ["app/health.py"]}

        for _ in range(3):
            call_command("run_batches", stdout=StringIO())

    revision.refresh_from_db()
    assert revision.status == "succeeded", revision.error
    [execution] = revision.executions.all()
    assert execution.batched and execution.calls.filter(batch__isnull=False).count() == 2
    assert fake_github.commits[revision.commit_sha]["parents"] == [pr.head_sha]
    assert len(fake_github.repo().pulls) == 1


def test_the_reaper_puts_a_dead_workers_revision_back_to_pending(settings):
    with time_machine.travel("2026-11-15 12:00Z", tick=False) as clock:
        pr = opened()
        revision = asked(pr)
        prepared = prepare(
            pr.task, providers=providers_for_mode(), gateway=_BranchGateway(), revision=revision
        )
        from executions.pipeline.runner import start

        execution, _ = start(pr.task, prepared, providers_for_mode(), None)  # then the worker dies
        clock.shift(settings.RESERVATION_TIMEOUT_SECONDS + 60)
        recover_stalled()

    execution.refresh_from_db()
    revision.refresh_from_db()
    assert (
        execution.status == Execution.Status.ABANDONED and "the revision will be retried" in execution.error
    )
    assert (revision.status, revision.attempts) == ("pending", 1)
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE  # its task is as its PR left it


class _BranchGateway(OpensPullRequests):
    """The in-memory pull requests' gateway, with their branches."""

    def branch_head(self, branch):
        return "c" * 40

    def diff(self, base_sha, head_sha, *, max_bytes):
        return ""


class _MergedWhileItRuns(RevisesPullRequests):
    """The pull request is merged on GitHub just after the revision read its diff."""

    def diff(self, base_sha, head_sha, *, max_bytes):
        PullRequest.objects.update(state=PullRequest.State.MERGED)
        return super().diff(base_sha, head_sha, max_bytes=max_bytes)


def test_a_pull_request_merged_while_its_revision_ran_gets_no_commit():
    gateway = _MergedWhileItRuns()
    pr = PullRequest.objects.get(
        execution=run_execution(create_task(title="Add a changelog"), gateway=gateway)
    )
    head = gateway.heads[pr.head_branch]
    revision = asked(pr)

    execution = run_execution(revision, gateway=gateway)

    assert (
        execution.status == "failed"
        and "was merged while the revision ran: nothing was committed" in execution.error
    )
    assert gateway.heads[pr.head_branch] == head and execution.calls.count() == 2  # charged, not published
    with pytest.raises(RevisionCancelled, match="is merged"):
        run_execution(revision, gateway=gateway)
    revision.refresh_from_db()
    assert revision.status == "cancelled"


class _ClosedWhileItRuns(RevisesPullRequests):
    """The pull request is closed on GitHub, and its webhook delivered, as soon as its revision
    runs (when the coder's files are read, after the analysis was charged)."""

    def read_files(self, commit_sha, paths):
        if Revision.objects.filter(status="running", pull_request__state="open").exists():
            _deliver_pull_request_event("closed", PullRequest.objects.get())
        return super().read_files(commit_sha, paths)


def _deliver_pull_request_event(action: str, pr: PullRequest) -> str:
    payload = {
        "action": action,
        "pull_request": {"number": pr.number, "merged": False, "head": {"sha": pr.head_sha}},
        "repository": {"full_name": pr.repository},
    }
    return handle_webhook(event="pull_request", delivery_id=f"{action}-{pr.pk}", payload=payload)


def test_a_revision_interrupted_by_closing_its_pull_request_is_cancelled_and_reopening_runs_nothing():
    gateway = _ClosedWhileItRuns()
    pr = PullRequest.objects.get(
        execution=run_execution(create_task(title="Add a changelog"), gateway=gateway)
    )
    head = gateway.heads[pr.head_branch]
    revision = asked(pr)

    execution = run_execution(revision, gateway=gateway)

    revision.refresh_from_db()
    assert execution.status == "failed" and gateway.heads[pr.head_branch] == head  # nothing committed
    assert "the revision was cancelled (the pull request was closed)" in execution.error
    assert revision.status == "cancelled" and execution.calls.count() == 2  # charged, kept

    # Reopened: nothing is asked again until new feedback arrives.
    assert _deliver_pull_request_event("reopened", pr).startswith("updated")
    assert next_pending_work() is None
    assert run_next_execution(providers=providers_for_mode(), gateway=gateway) == "skipped: no pending task"
    revision.refresh_from_db()
    assert revision.status == "cancelled" and Execution.objects.filter(revision=revision).count() == 1
    # New feedback on the reopened pull request is a new revision, which runs.
    fresh = asked(PullRequest.objects.get(), "Mention the changelog in the README")
    assert run_execution(fresh, gateway=gateway).status == "succeeded"
