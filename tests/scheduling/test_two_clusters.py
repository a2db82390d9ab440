"""Two clusters on one PostgreSQL database, both running the scheduler: each schedule fires once
for its due time, no task runs twice, and the concurrency cap holds across both."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.models import Task as QTask

from budget.periods import current_period
from executions.backlog.services import create_task
from executions.models import Execution
from executions.repositories.local_git import LocalGitGateway
from tests.executions.conftest import assert_ledger_consistent
from tests.scheduling.cluster import Cluster, wait_for

# The clusters run the seeded models, in service on the pinned day (tests.clock passes it on).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("pinned_clock"),
]

EXTRA_RUNNERS = [f"extra-runner-{n}" for n in range(1, 6)]


def most_at_once(executions) -> int:
    """The largest number of executions that were running at the same moment."""
    moments = sorted([(e.started_at, 1) for e in executions] + [(e.finished_at, -1) for e in executions])
    running = peak = 0
    for _, change in moments:  # at a tie the end (-1) sorts first: back-to-back is not overlap
        running += change
        peak = max(peak, running)
    return peak


def test_two_clusters_fire_each_schedule_once_and_run_each_task_once(settings):
    call_command("setup_schedules", stdout=StringIO())
    for name in EXTRA_RUNNERS:  # six runners due at once: the clusters race for them
        Schedule.objects.create(
            name=name,
            func="executions.scheduling.scheduler.run_next_execution",
            schedule_type=Schedule.MINUTES,
            minutes=30,
            next_run=timezone.now() - dt.timedelta(seconds=1),
        )
    schedules = set(Schedule.objects.values_list("name", flat=True))
    tasks = [create_task(title=f"Backlog item {n}") for n in range(4)]
    LocalGitGateway.from_settings().ensure_repository()  # the sandbox exists before the workers race
    env = {"MAX_CONCURRENT_EXECUTIONS": "2", "SIMULATED_LATENCY_SECONDS": "0.3"}

    with Cluster(settings, **env) as first, Cluster(settings, **env) as second:
        clusters = (first, second)
        wait_for(
            lambda: QTask.objects.filter(group__in=schedules).count() >= len(schedules),
            40,
            "a run of every schedule",
            clusters,
        )
        wait_for(
            lambda: not Execution.objects.filter(status__in=Execution.ACTIVE).exists(),
            20,
            "the executions to finish",
            clusters,
        )
        assert [cluster.stop() for cluster in clusters] == [0, 0]

    fired = {name: QTask.objects.filter(group=name).count() for name in schedules}
    assert fired == dict.fromkeys(schedules, 1)
    assert "from schedule [extra-runner-1]" in first.log + second.log
    executions = list(Execution.objects.all())
    assert len(executions) >= 2, list(QTask.objects.values_list("group", "result"))
    assert len({e.task_id for e in executions}) == len(executions)  # no task ran twice
    assert {e.task_id for e in executions} <= {t.pk for t in tasks}
    assert all(e.status == Execution.Status.SUCCEEDED for e in executions)
    assert most_at_once(executions) <= 2
    outcomes = list(
        QTask.objects.filter(func="executions.scheduling.scheduler.run_next_execution").values_list(
            "result", flat=True
        )
    )
    assert len(outcomes) == 6
    assert sum(o.endswith("succeeded") for o in outcomes) == len(executions)
    assert all(o.endswith("succeeded") or o.startswith("skipped: ") for o in outcomes), outcomes
    assert_ledger_consistent(current_period())
