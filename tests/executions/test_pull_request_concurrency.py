"""Redeliveries and a poll racing each other: the PR is counted once, in one state.

Each thread has its own database connection, as separate web and worker processes would.
"""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connections

from budget.models import Period
from executions.models import PullRequest, Task, WebhookDelivery
from executions.pipeline import run_execution
from executions.pull_requests import Observed, apply, handle_webhook
from executions.services import create_task
from tests.executions.outcomes import OpensPullRequests, pull_request_event

pytestmark = [pytest.mark.postgres, pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

THREADS = 8


def race(work) -> list:
    results, errors = [], []
    barrier = threading.Barrier(THREADS)

    def run(i):
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # surfaced by the test, not swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.fixture
def pr() -> PullRequest:
    with time_machine.travel(dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        execution = run_execution(create_task(title="Add health check endpoint"), gateway=OpensPullRequests())
    return PullRequest.objects.select_related("task").get(execution=execution)


def counts(pr) -> tuple[int, int, int]:
    period = Period.objects.get(pk=pr.execution.period_id)
    return period.open_prs_count, period.merged_prs_count, period.closed_prs_count


def test_one_delivery_sent_many_times_at_once_is_acted_on_once(pr):
    payload = pull_request_event(pr, "closed", merged=True)

    outcomes = race(
        lambda i: handle_webhook(event="pull_request", delivery_id="same-delivery", payload=payload)
    )

    assert sorted(o.split(":")[0] for o in outcomes) == ["already processed"] * (THREADS - 1) + [
        "updated #41"
    ]
    assert counts(pr) == (0, 1, 0) and WebhookDelivery.objects.count() == 1
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE


def test_many_deliveries_and_polls_of_one_merge_count_it_once(pr):
    payload = pull_request_event(pr, "closed", merged=True)

    def work(i):
        if i % 2:
            return handle_webhook(event="pull_request", delivery_id=f"delivery-{i}", payload=payload)
        return apply(pr, Observed(state="merged", merged_at=dt.datetime(2026, 11, 16, tzinfo=dt.UTC)))

    race(work)

    pr.refresh_from_db()
    assert pr.state == "merged" and counts(pr) == (0, 1, 0)
