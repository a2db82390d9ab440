"""Redeliveries and a poll racing each other: the PR is counted once, in one state. A merge racing
a start or a retry of its task: one waits for the other, neither deadlocks.

Each thread has its own database connection, as separate web and worker processes would.
"""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections

from budget.models import Period
from executions.backlog.services import create_task, requeue_task
from executions.errors import TaskBusy
from executions.github.dispatch import handle_webhook
from executions.github.pull_requests import Observed, apply
from executions.models import PullRequest, Task, WebhookDelivery
from executions.pipeline.runner import run_execution
from tests.executions.outcomes import OpensPullRequests, pull_request_event
from tests.locks import wait_for_a_lock_waiter

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


class MergeHoldsThePeriod:
    """A merge of ``pr`` in another thread, paused just after it locked its period's row."""

    def __init__(self, pr):
        self.pr, self.period_held, self.go_on = pr, threading.Event(), threading.Event()
        self.changed, self.errors = None, []
        self.thread = threading.Thread(target=self.merge)

    def merge(self):
        try:
            with connection.execute_wrapper(self.pause_after_the_period_lock):
                self.changed = apply(self.pr, Observed(state="merged"))
        except Exception as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            connections.close_all()

    def pause_after_the_period_lock(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('SELECT "budget_period"."id"') and "FOR UPDATE" in sql:
            self.period_held.set()
            self.go_on.wait(timeout=10)
        return result

    def __enter__(self):
        self.thread.start()
        assert self.period_held.wait(timeout=10), self.errors
        return self

    def __exit__(self, *exc_info):
        self.go_on.set()
        self.thread.join(timeout=30)


def run_in_thread(task_id, outcome, errors) -> threading.Thread:
    def run():
        try:
            outcome["execution"] = run_execution(Task.objects.get(pk=task_id), gateway=OpensPullRequests())
        except TaskBusy as exc:
            outcome["busy"] = str(exc)
        except Exception as exc:  # surfaced by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_merge_arriving_while_its_requeued_task_starts_again_waits_instead_of_deadlocking(pr):
    """A requeued task's old pull request is merged as a worker starts the task again. The merge
    locks the period, the pull request, then the task; a start takes the period before the task
    too, so one waits for the other (PostgreSQL would otherwise break a deadlock by failing one:
    a merge never recorded, or a start that errors)."""
    requeue_task(pr.task)
    outcome, errors = {}, []
    with time_machine.travel(dt.datetime(2026, 11, 15, 12, 5, tzinfo=dt.UTC), tick=True):
        with MergeHoldsThePeriod(pr) as merge:
            starting = run_in_thread(pr.task_id, outcome, errors)
            wait_for_a_lock_waiter()  # the start queues behind the merge's period lock
        starting.join(timeout=30)

    assert not errors + merge.errors, errors + merge.errors
    assert merge.changed is True
    assert "is done, not pending" in outcome["busy"]  # the merge completed the task first
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE
    period = Period.objects.get(pk=pr.execution.period_id)
    assert counts(pr) == (0, 1, 0) and period.reserved_nanos == 0 and period.executions_count == 1


def test_a_retry_next_month_reusing_a_pull_request_being_merged_waits_instead_of_deadlocking(pr):
    """December's retry of a task publishes on its branch, so GitHub hands back November's pull
    request, just as a merge of it arrives. Recording it locks November's period before the pull
    request, as the merge does, instead of the pull request first."""
    requeue_task(pr.task)
    outcome, errors = {}, []
    with time_machine.travel(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), tick=True):
        with MergeHoldsThePeriod(pr) as merge:
            running = run_in_thread(pr.task_id, outcome, errors)
            wait_for_a_lock_waiter()  # the retry's finish queues behind the merge's lock
        running.join(timeout=30)

    assert not errors + merge.errors, errors + merge.errors
    assert outcome["execution"].status == "succeeded" and outcome["execution"].pr_number == pr.number
    pr.refresh_from_db()
    assert pr.state == "merged"  # merged is final: the retry's "open" does not undo it
    assert counts(pr) == (0, 1, 0)  # counted once, in November
    assert Task.objects.get(pk=pr.task_id).status == Task.Status.DONE
