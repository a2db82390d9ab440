"""sync_pull_requests: PyGithub against the fake GitHub over real HTTP refreshes open PRs' fate and checks."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from budget.models import Period
from executions.backlog.services import create_task
from executions.jobs import sync_pull_requests
from executions.models import Execution, PullRequest, Task
from executions.pipeline.runner import run_execution
from tests.fakes.github import serving_github

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def publish(title: str) -> PullRequest:
    """One execution through the pipeline (simulated models, PyGithub against the fake)."""
    execution = run_execution(create_task(title=title))
    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    return PullRequest.objects.get(execution=execution)


def sync() -> str:
    out = StringIO()
    call_command("sync_pull_requests", stdout=out)
    return out.getvalue().strip()


def counts() -> tuple[int, int, int]:
    period = Period.objects.get()
    return period.open_prs_count, period.merged_prs_count, period.closed_prs_count


def task_status(pr: PullRequest) -> str:
    return Task.objects.get(pk=pr.task_id).status


def test_publishing_records_the_pr_github_opened(fake_github):
    pr = publish("Add health check endpoint")

    [pull] = fake_github.open_pulls()
    assert (pr.repository, pr.number, pr.url) == ("octo/widgets", pull["number"], pull["html_url"])
    assert (pr.head_branch, pr.head_sha) == (pull["head"]["ref"], pull["head"]["sha"])
    assert (pr.state, pr.checks) == ("open", "none") and counts() == (1, 0, 0)


def test_a_merged_pr_and_a_closed_one_are_found_by_polling(fake_github, clock):
    merged, closed, still_open = publish("Add health check"), publish("Add a changelog"), publish("Fix typo")
    fake_github.add_check_run(merged.head_sha, "tests", conclusion="success")
    clock.shift(dt.timedelta(hours=5))
    fake_github.merge_pull(merged.number)
    fake_github.close_pull(closed.number)

    assert sync() == "Checked 3 open pull requests: 2 changed."

    merged.refresh_from_db(), closed.refresh_from_db(), still_open.refresh_from_db()
    five_hours_later = NOW + dt.timedelta(hours=5)
    assert (merged.state, merged.merged_at, merged.closed_at, merged.checks) == (
        "merged", five_hours_later, five_hours_later, "success",
    )  # fmt: skip
    assert (closed.state, closed.closed_at, closed.merged_at) == ("closed", five_hours_later, None)
    assert still_open.state == "open"
    assert (task_status(merged), task_status(closed), task_status(still_open)) == ("done", "rejected", "done")
    assert counts() == (1, 1, 1)
    # Each PR was read with PyGithub over HTTP, and the check runs and statuses of its head.
    assert {r.path for r in fake_github.requests_to("/pulls/1", "GET")} == {"/repos/octo/widgets/pulls/1"}
    assert fake_github.requests_to(f"/commits/{merged.head_sha}/check-runs", "GET")
    assert fake_github.requests_to(f"/commits/{merged.head_sha}/status", "GET")

    assert sync() == "Checked 1 open pull request: 0 changed."  # merged and closed are final


def test_an_unchanged_pr_is_asked_for_conditionally(fake_github):
    pr = publish("Add health check endpoint")
    sync()
    pr.refresh_from_db()
    assert pr.etag.startswith('W/"') and pr.synced_at == NOW

    assert sync() == "Checked 1 open pull request: 0 changed."

    first, second = fake_github.requests_to(f"/pulls/{pr.number}", "GET")
    assert "if-none-match" not in first.headers
    assert second.headers["if-none-match"] == pr.etag  # GitHub answers 304: no rate limit used
    pr.refresh_from_db()
    assert pr.state == "open"


def test_checks_are_refreshed_even_when_the_pr_is_unchanged(fake_github):
    pr = publish("Add health check endpoint")
    fake_github.add_check_run(pr.head_sha, "tests", status="in_progress")
    fake_github.add_status(pr.head_sha, "ci/lint", "success")
    sync()
    pr.refresh_from_db()
    assert pr.checks == "pending"
    assert pr.check_results == {"check_run:tests": "pending", "status:ci/lint": "success"}

    fake_github.add_check_run(pr.head_sha, "tests", conclusion="failure")
    assert sync() == "Checked 1 open pull request: 1 changed."

    pr.refresh_from_db()
    assert pr.checks == "failure" and pr.state == "open" and task_status(pr) == "done"


def test_a_reopened_pr_that_polling_finds_pushed_to_gets_its_new_head(fake_github):
    pr = publish("Add health check endpoint")
    fake_github.add_check_run(pr.head_sha, "tests", conclusion="success")
    sync()
    new_head = fake_github.repo().refs["heads/main"]  # any commit will do as the new head
    fake_github.pull(pr.number)["head"]["sha"] = new_head

    sync()

    pr.refresh_from_db()
    assert (pr.head_sha, pr.checks, pr.check_results) == (new_head, "none", {})


def test_one_pr_github_fails_on_is_reported_and_the_others_are_refreshed(fake_github):
    first, second = publish("Add health check"), publish("Add a changelog")
    fake_github.merge_pull(second.number)
    fake_github.fail_on("GET", f"/pulls/{first.number}", 502, {"message": "Server Error"}, times=3)

    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync_pull_requests", stdout=StringIO(), stderr=err)

    assert failed.value.returncode == 1
    assert err.getvalue().strip() == (
        f"octo/widgets#{first.number}: GitHub failed while reading pull request #{first.number} (502, also after retries): "
        "GitHub is having trouble; retry later."
    )
    second.refresh_from_db(), first.refresh_from_db()
    assert (first.state, second.state) == ("open", "merged")
    assert counts() == (1, 1, 0)


def test_a_pr_without_a_head_commit_is_skipped_with_a_message_and_the_others_are_refreshed(fake_github):
    headless, merged = publish("Add health check"), publish("Add a changelog")
    fake_github.merge_pull(merged.number)
    fake_github.pull(headless.number)["head"]["sha"] = None  # its fork was deleted, say
    fake_github.close_pull(headless.number)

    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync_pull_requests", stdout=StringIO(), stderr=err)

    assert failed.value.returncode == 1
    assert err.getvalue().strip() == (
        f"octo/widgets#{headless.number}: GitHub reports no head commit for pull request #{headless.number}; skipped it"
    )
    headless.refresh_from_db(), merged.refresh_from_db()
    assert (headless.state, merged.state) == ("open", "merged")
    assert counts() == (1, 1, 0)


def test_the_scheduled_job_says_what_it_did(fake_github):
    publish("Add health check endpoint")
    assert sync_pull_requests() == "checked 1 open pull requests: 0 changed, 0 failed"


def test_without_github_configured_open_prs_cannot_be_synced(fake_github, settings):
    publish("Add health check endpoint")
    settings.GITHUB_TOKEN = ""
    requests_before = len(fake_github.requests)

    with pytest.raises(CommandError, match="GitHub is not configured") as failed:
        sync()

    assert failed.value.returncode == 2
    assert len(fake_github.requests) == requests_before
    assert sync_pull_requests().startswith("not synced: Open pull requests cannot be refreshed")


def test_with_no_open_pr_nothing_is_asked_of_github(settings):
    settings.GITHUB_TOKEN = ""  # not even configured: there is nothing to do
    assert sync() == "Checked 0 open pull requests: 0 changed."


def test_each_pr_is_read_from_its_own_repository(fake_github, settings):
    """Issue 24, item 6: after GITHUB_REPOSITORY changes, PR #1 of the old repository is still read
    from there, not confused with the new repository's merged PR #1."""
    ours = publish("Add health check endpoint")
    fake_github.add_repo("octo/other", files={"README.md": "# Other\n"})
    settings.GITHUB_REPOSITORY = "octo/other"
    theirs = publish("Work in the other repository")
    fake_github.merge_pull(theirs.number, "octo/other")
    assert (ours.repository, ours.number, theirs.repository, theirs.number) == (
        "octo/widgets", 1, "octo/other", 1,
    )  # fmt: skip

    assert sync() == "Checked 2 open pull requests: 1 changed."

    ours.refresh_from_db(), theirs.refresh_from_db()
    assert (ours.state, theirs.state) == ("open", "merged")
    assert task_status(ours) == "done" and counts() == (1, 1, 0)
    assert fake_github.requests_to("/repos/octo/widgets/pulls/1", "GET")
    assert len(fake_github.requests_to("/repos/octo/other/pulls/1", "GET")) == 1
