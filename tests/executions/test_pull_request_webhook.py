"""POST /webhooks/github/: signed deliveries move a PR, its task and its period's counts; others change nothing."""

import datetime as dt
import logging

import pytest
import time_machine
from django.test import Client

from budget.models import Period
from executions.backlog.services import create_task
from executions.models import PullRequest, Task, WebhookDelivery
from executions.pipeline.runner import run_execution
from tests.executions.outcomes import (
    SECRET,
    OpensPullRequests,
    check_event,
    deliver,
    pull_request_event,
    sign,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def secret(settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    return SECRET


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # the signature is the auth: no CSRF token needed


@pytest.fixture
def pr(secret) -> PullRequest:
    """A pull request the pipeline opened (simulated models, the gateway above)."""
    execution = run_execution(create_task(title="Add health check endpoint"), gateway=OpensPullRequests())
    return PullRequest.objects.get(execution=execution)


def counts(pr: PullRequest) -> tuple[int, int, int]:
    period = Period.objects.get(pk=pr.execution.period_id)
    return period.open_prs_count, period.merged_prs_count, period.closed_prs_count


def snapshot(pr: PullRequest) -> tuple:
    pr.refresh_from_db()
    return (
        pr.state,
        pr.head_sha,
        pr.checks,
        pr.merged_at,
        pr.closed_at,
        Task.objects.get(pk=pr.task_id).status,
        counts(pr),
        WebhookDelivery.objects.count(),
    )


def test_the_pipeline_records_the_pull_request_it_opened(pr):
    execution = pr.execution
    assert (pr.repository, pr.number, pr.url) == (
        "octo/widgets",
        41,
        "https://github.com/octo/widgets/pull/41",
    )
    assert (pr.head_branch, pr.head_sha) == (execution.branch, execution.commit_sha)
    assert (pr.state, pr.checks, pr.opened_at, pr.task_id) == ("open", "none", NOW, execution.task_id)
    assert counts(pr) == (1, 0, 0)
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE


def test_a_signed_merge_marks_the_pr_merged_and_the_task_done(client, pr):
    response, delivery = deliver(client, "pull_request", pull_request_event(pr, "closed", merged=True))

    assert response.status_code == 200 and response.json() == {"detail": "updated #41"}
    pr.refresh_from_db()
    assert pr.state == "merged"
    assert pr.merged_at == pr.closed_at == dt.datetime(2026, 11, 16, 9, 30, tzinfo=dt.UTC)
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE
    assert counts(pr) == (0, 1, 0)
    assert list(WebhookDelivery.objects.values_list("delivery_id", "event")) == [(delivery, "pull_request")]


def test_closed_without_merge_rejects_the_task_and_it_is_not_retried(client, pr):
    response, _ = deliver(client, "pull_request", pull_request_event(pr, "closed", merged=False))

    assert response.status_code == 200
    pr.refresh_from_db()
    assert (pr.state, pr.merged_at, pr.closed_at) == (
        "closed",
        None,
        dt.datetime(2026, 11, 16, 9, 30, tzinfo=dt.UTC),
    )
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.REJECTED
    assert counts(pr) == (0, 0, 1)
    from executions.backlog.services import next_pending_task

    assert next_pending_task() is None  # the scheduler does not pick a rejected task


def test_wrong_signature_no_signature_and_wrong_secret_get_403_and_change_nothing(
    client, pr, settings, caplog
):
    event = pull_request_event(pr, "closed", merged=True)
    before = snapshot(pr)
    caplog.set_level(logging.DEBUG)

    wrong, _ = deliver(client, "pull_request", event, signature="sha256=" + "0" * 64)
    missing, _ = deliver(client, "pull_request", event, secret=None)
    signed_with_another, _ = deliver(client, "pull_request", event, secret="another-secret")
    settings.GITHUB_WEBHOOK_SECRET = "rotated-on-the-server"  # GitHub still signs with the old one
    wrong_secret_configured, _ = deliver(client, "pull_request", event)

    assert [r.status_code for r in (wrong, missing, signed_with_another, wrong_secret_configured)] == [
        403
    ] * 4
    assert snapshot(pr) == before
    assert SECRET not in caplog.text and "rotated-on-the-server" not in caplog.text
    assert "sha256=" not in caplog.text


def test_without_a_configured_secret_the_endpoint_is_not_there(client, pr, settings):
    settings.GITHUB_WEBHOOK_SECRET = ""
    before = snapshot(pr)

    response, _ = deliver(client, "pull_request", pull_request_event(pr, "closed", merged=True))

    assert response.status_code == 404
    assert snapshot(pr) == before


def test_a_replayed_delivery_changes_nothing(client, pr):
    closed, first = deliver(client, "pull_request", pull_request_event(pr, "closed"))
    reopened, _ = deliver(client, "pull_request", pull_request_event(pr, "reopened"))
    after_reopen = snapshot(pr)

    replay, _ = deliver(client, "pull_request", pull_request_event(pr, "closed"), delivery=first)

    assert (closed.status_code, reopened.status_code, replay.status_code) == (200, 200, 204)
    assert snapshot(pr) == after_reopen
    assert after_reopen[0] == "open" and after_reopen[5] == Task.Status.DONE
    assert counts(pr) == (1, 0, 0)
    assert WebhookDelivery.objects.count() == 2


def test_malformed_json_gets_400_and_changes_nothing(client, pr):
    before = snapshot(pr)

    not_json, _ = deliver(client, "pull_request", None, body=b'{"action": "closed", ')
    not_an_object, _ = deliver(client, "pull_request", None, body=b"[1, 2]")
    no_number, _ = deliver(client, "pull_request", {"action": "closed", "pull_request": {}})

    assert [r.status_code for r in (not_json, not_an_object, no_number)] == [400, 400, 400]
    assert not_json.json() == {"detail": "The body is not JSON."}
    assert snapshot(pr) == before


def test_json_nested_100k_levels_deep_gets_400_not_500(client, pr):
    before = snapshot(pr)
    body = b'{"action": "closed", "pull_request": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response, _ = deliver(client, "pull_request", None, body=body)

    assert response.status_code == 400
    assert response.json() == {"detail": "The body's JSON is nested too deeply."}
    assert snapshot(pr) == before


def test_a_body_over_the_cap_is_refused_unread(client, pr, settings):
    settings.GITHUB_WEBHOOK_MAX_BYTES = 1000
    event = pull_request_event(pr, "closed", merged=True)
    event["pull_request"]["body"] = "x" * 2000
    before = snapshot(pr)

    response, _ = deliver(client, "pull_request", event)

    assert response.status_code == 413
    assert snapshot(pr) == before


def test_unknown_pull_requests_and_other_events_get_204(client, pr):
    before = snapshot(pr)
    stranger = pull_request_event(pr, "closed", merged=True)
    stranger["pull_request"]["number"] = stranger["number"] = 999
    elsewhere = pull_request_event(pr, "closed", merged=True)
    elsewhere["repository"]["full_name"] = "someone/else"

    responses = [
        deliver(client, "pull_request", stranger)[0],
        deliver(client, "pull_request", elsewhere)[0],
        deliver(client, "pull_request", pull_request_event(pr, "labeled"))[0],
        deliver(client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})[0],
        deliver(
            client, "check_run", check_event("check_run", pr, name="ci", conclusion="failure", sha="f" * 40)
        )[0],
    ]

    assert [r.status_code for r in responses] == [204] * 5
    assert snapshot(pr) == before


def test_merge_then_reopen_stays_merged_as_on_github(client, pr):
    merged, _ = deliver(client, "pull_request", pull_request_event(pr, "closed", merged=True))
    after_merge = snapshot(pr)

    reopened, _ = deliver(client, "pull_request", pull_request_event(pr, "reopened"))

    assert (merged.status_code, reopened.status_code) == (200, 204)
    assert snapshot(pr)[:7] == after_merge[:7]  # GitHub cannot reopen a merged PR: merged is final
    assert after_merge[0] == "merged" and counts(pr) == (0, 1, 0)


def test_close_then_reopen_brings_the_task_back_from_rejected(client, pr):
    deliver(client, "pull_request", pull_request_event(pr, "closed"))
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.REJECTED

    response, _ = deliver(client, "pull_request", pull_request_event(pr, "reopened"))

    assert response.status_code == 200
    pr.refresh_from_db()
    assert (pr.state, pr.closed_at, pr.merged_at) == ("open", None, None)
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE
    assert counts(pr) == (1, 0, 0)


def test_checks_combine_per_check_and_a_push_starts_them_over(client, pr):
    def checks():
        pr.refresh_from_db()
        return pr.checks

    deliver(client, "check_run", check_event("check_run", pr, name="tests", conclusion="success"))
    assert checks() == "success"
    deliver(client, "check_run", check_event("check_run", pr, name="lint", conclusion="failure"))
    assert checks() == "failure"
    deliver(client, "check_run", check_event("check_run", pr, name="lint", conclusion="success"))  # re-run
    assert checks() == "success"
    deliver(client, "check_suite", check_event("check_suite", pr, name="circleci", conclusion="timed_out"))
    assert checks() == "failure"

    new_head = "a" * 40
    response, _ = deliver(client, "pull_request", pull_request_event(pr, "synchronize", head_sha=new_head))

    assert response.status_code == 200
    pr.refresh_from_db()
    assert (pr.head_sha, pr.checks, pr.check_results) == (new_head, "pending", {})
    stale, _ = deliver(
        client, "check_run", check_event("check_run", pr, name="lint", conclusion="failure", sha="b" * 40)
    )
    assert stale.status_code == 204 and checks() == "pending"  # a check of another commit
    deliver(
        client, "check_suite", check_event("check_suite", pr, name="github-actions", conclusion="success")
    )
    assert checks() == "success" and pr.state == "open" and counts(pr) == (1, 0, 0)


def test_only_post_is_accepted(client, pr):
    assert client.get("/webhooks/github/").status_code == 405


def test_the_signature_is_over_the_raw_bytes(client, pr):
    body = (
        b'{"action":"closed","number":41,"pull_request":{"number":41,"merged":true,'
        b'"merged_at":"2026-11-16T09:30:00Z","closed_at":"2026-11-16T09:30:00Z"},'
        b'"repository":{"full_name":"octo/widgets"}}'
    )
    response, _ = deliver(client, "pull_request", None, body=body, signature=sign(body))
    assert response.status_code == 200
    pr.refresh_from_db()
    assert pr.state == "merged"
