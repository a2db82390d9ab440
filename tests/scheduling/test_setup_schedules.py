"""``setup_schedules`` is safe on every deploy, and a cluster back from downtime does not replay."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

pytestmark = pytest.mark.django_db

EXPECTED = {
    "run-next-execution": ("executions.scheduling.scheduler.run_next_execution", Schedule.MINUTES, 30),
    "deliver-notifications": ("notifications.delivery.deliver_due", Schedule.MINUTES, 1),
    "roll-over-periods": ("executions.jobs.roll_over_periods", Schedule.HOURLY, None),
    "expire-reservations": ("executions.jobs.recover_stalled", Schedule.MINUTES, 10),
    "check-model-retirements": ("executions.jobs.check_model_retirements", Schedule.DAILY, None),
    "run-batches": ("executions.jobs.run_batches", Schedule.MINUTES, 5),
    "check-models": ("executions.jobs.check_vendor_models", Schedule.WEEKLY, None),
    "reconcile-usage": ("executions.jobs.reconcile_vendor_usage", Schedule.DAILY, None),
    "sync-pull-requests": ("executions.jobs.sync_pull_requests", Schedule.MINUTES, 60),
    "sync-issues": ("executions.jobs.sync_issues", Schedule.MINUTES, 15),
}


def setup_schedules() -> list[str]:
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue().splitlines()


def table() -> dict:
    return {s.name: (s.func, s.schedule_type, s.minutes) for s in Schedule.objects.all()}


@time_machine.travel("2026-11-15 12:00Z", tick=False)
def test_the_first_run_creates_every_schedule_due_now():
    lines = setup_schedules()

    assert table() == EXPECTED
    assert (
        lines[0]
        == "created run-next-execution: every 30 minutes → executions.scheduling.scheduler.run_next_execution"
    )
    assert all(line.startswith("created ") for line in lines) and len(lines) == len(EXPECTED)
    assert "created check-models: weekly → executions.jobs.check_vendor_models" in lines
    assert all(s.next_run == timezone.now() and s.repeats == -1 for s in Schedule.objects.all())
    # q2 imports each function by its dotted path when the schedule fires.
    assert all(callable(import_string(s.func)) for s in Schedule.objects.all())


def test_running_it_again_changes_nothing_not_even_the_next_run():
    setup_schedules()
    later = timezone.now() + dt.timedelta(minutes=20)
    Schedule.objects.update(next_run=later)

    lines = setup_schedules()

    assert all(line.startswith("unchanged ") for line in lines), lines
    assert set(Schedule.objects.values_list("next_run", flat=True)) == {later}
    assert Schedule.objects.count() == len(EXPECTED)


@time_machine.travel("2026-11-15 12:00Z", tick=False)
def test_a_new_interval_is_applied_and_takes_effect_within_it(settings):
    setup_schedules()
    Schedule.objects.filter(name="run-next-execution").update(
        next_run=timezone.now() + dt.timedelta(minutes=29)
    )
    settings.SCHEDULE_MINUTES = 10

    lines = setup_schedules()

    assert (
        "updated run-next-execution: every 10 minutes → executions.scheduling.scheduler.run_next_execution (minutes changed)"
        in lines
    )
    runner = Schedule.objects.get(name="run-next-execution")
    assert runner.minutes == 10
    assert runner.next_run == timezone.now() + dt.timedelta(minutes=10)  # not 29 minutes away


def test_duplicates_and_stale_schedules_it_owns_are_removed_others_are_kept():
    setup_schedules()
    Schedule.objects.create(
        name="run-next-execution",
        func="executions.scheduling.scheduler.run_next_execution",
        minutes=5,
        schedule_type=Schedule.MINUTES,
    )
    Schedule.objects.create(
        name="old-runner",
        func="executions.scheduling.scheduler.run_next_execution",
        schedule_type=Schedule.HOURLY,
    )
    Schedule.objects.create(
        name="old-expiry", func="budget.jobs.expire_reservations", schedule_type=Schedule.HOURLY
    )
    Schedule.objects.create(name="team-report", func="reports.weekly", schedule_type=Schedule.WEEKLY)

    lines = setup_schedules()

    assert sorted(line for line in lines if line.startswith("removed")) == [
        "removed old-expiry: budget.jobs.expire_reservations (stale or a duplicate)",
        "removed old-runner: executions.scheduling.scheduler.run_next_execution (stale or a duplicate)",
        "removed run-next-execution: executions.scheduling.scheduler.run_next_execution (stale or a duplicate)",
    ]
    assert table() == {**EXPECTED, "team-report": ("reports.weekly", Schedule.WEEKLY, None)}


def test_a_deploy_points_schedules_of_a_moved_job_at_its_new_path():
    """An earlier version scheduled the monthly rollover as ``budget.jobs.roll_over_periods``."""
    later = timezone.now() + dt.timedelta(minutes=40)
    Schedule.objects.create(
        name="roll-over-periods",
        func="budget.jobs.roll_over_periods",
        schedule_type=Schedule.HOURLY,
        repeats=-1,
        next_run=later,
    )
    Schedule.objects.create(
        name="monthly-rollover", func="budget.jobs.roll_over_periods", schedule_type=Schedule.HOURLY
    )

    lines = setup_schedules()

    assert "updated roll-over-periods: hourly → executions.jobs.roll_over_periods (func changed)" in lines
    assert "removed monthly-rollover: budget.jobs.roll_over_periods (stale or a duplicate)" in lines
    assert table() == EXPECTED
    assert Schedule.objects.get(name="roll-over-periods").next_run == later  # not fired early or twice


def test_an_edited_schedule_is_put_back():
    setup_schedules()
    Schedule.objects.filter(name="roll-over-periods").update(schedule_type=Schedule.DAILY, args="1")

    lines = setup_schedules()

    assert (
        "updated roll-over-periods: hourly → executions.jobs.roll_over_periods (args, schedule_type changed)"
        in lines
    )
    assert table() == EXPECTED


@pytest.mark.django_db(transaction=True)  # q2's scheduler closes connections left in a transaction
def test_after_downtime_an_overdue_schedule_fires_once_and_moves_to_the_future():
    """q2's ``catch_up`` is off: five hours of missed 30-minute slots are one run, not ten."""
    setup_schedules()
    Schedule.objects.exclude(name="run-next-execution").delete()
    Schedule.objects.update(next_run=timezone.now() - dt.timedelta(hours=5))
    OrmQ.objects.all().delete()

    scheduler()
    scheduler()

    assert OrmQ.objects.count() == 1
    runner = Schedule.objects.get()
    assert timezone.now() < runner.next_run <= timezone.now() + dt.timedelta(minutes=30)


@pytest.mark.django_db(transaction=True)
def test_a_schedule_made_before_the_scheduler_moved_names_its_new_home():
    """executions.scheduler became executions.scheduling.scheduler: migration 0016 renames the
    schedule an install made before, so its worker still finds the runner."""
    call_command("migrate", "executions", "0015", verbosity=0)
    Schedule.objects.create(
        name="run-next-execution", func="executions.scheduler.run_next_execution", minutes=30
    )
    call_command("migrate", "executions", verbosity=0)

    assert (
        Schedule.objects.get(name="run-next-execution").func
        == "executions.scheduling.scheduler.run_next_execution"
    )
