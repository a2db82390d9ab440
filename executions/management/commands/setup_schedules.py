"""``setup_schedules``: create or update the background schedules. Safe to run on every deploy.

Each schedule is found by its name and brought to what this file says; one that is already right
is left alone (its next run included), so a deploy never makes a schedule fire early or twice.
Schedules this command owns (by name, or by calling one of its functions) that are not in the
list below, or that duplicate one that is, are removed: two schedules calling the runner would
run executions twice as often. Missed runs are not replayed after downtime: with q2's
``catch_up`` off (settings.Q_CLUSTER), an overdue schedule fires once and moves to its next slot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule

from executions.scheduling.scheduler import SCHEDULE_NAME as RUN_NEXT_EXECUTION


@dataclass(frozen=True)
class Wanted:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None

    def describe(self) -> str:
        every = {
            Schedule.MINUTES: f"every {self.minutes} minute{'s' if self.minutes != 1 else ''}",
            Schedule.HOURLY: "hourly",
            Schedule.DAILY: "daily",
            Schedule.WEEKLY: "weekly",
        }[self.schedule_type]
        return f"{self.name}: {every} → {self.func}"

    @property
    def interval(self) -> dt.timedelta:
        return {
            Schedule.HOURLY: dt.timedelta(hours=1),
            Schedule.DAILY: dt.timedelta(days=1),
            Schedule.WEEKLY: dt.timedelta(weeks=1),
        }.get(self.schedule_type, dt.timedelta(minutes=self.minutes or 1))


def wanted_schedules() -> list[Wanted]:
    return [
        Wanted(
            RUN_NEXT_EXECUTION,
            "executions.scheduling.scheduler.run_next_execution",
            Schedule.MINUTES,
            settings.SCHEDULE_MINUTES,
        ),
        Wanted("deliver-notifications", "notifications.delivery.deliver_due", Schedule.MINUTES, 1),
        Wanted("roll-over-periods", "executions.jobs.roll_over_periods", Schedule.HOURLY),
        Wanted("expire-reservations", "executions.jobs.recover_stalled", Schedule.MINUTES, 10),
        Wanted("check-model-retirements", "executions.jobs.check_model_retirements", Schedule.DAILY),
        Wanted("run-batches", "executions.jobs.run_batches", Schedule.MINUTES, settings.BATCH_POLL_MINUTES),
        Wanted("check-models", "executions.jobs.check_vendor_models", Schedule.WEEKLY),
        Wanted("reconcile-usage", "executions.jobs.reconcile_vendor_usage", Schedule.DAILY),
        Wanted(
            "sync-pull-requests",
            "executions.jobs.sync_pull_requests",
            Schedule.MINUTES,
            settings.SYNC_PRS_MINUTES,
        ),
        Wanted("sync-issues", "executions.jobs.sync_issues", Schedule.MINUTES, settings.SYNC_ISSUES_MINUTES),
    ]


SETUP_LOCK = 0x5C4ED  # an advisory lock key no other code of this database uses

# Functions earlier versions scheduled: a schedule calling one of them is this command's too. A
# schedule whose function moved keeps its name, so the deploy's run points it at the new path
# (``roll-over-periods`` called ``budget.jobs.roll_over_periods`` until the job moved to executions).
FORMER_FUNCS = ("budget.jobs.expire_reservations", "budget.jobs.roll_over_periods")


class Command(BaseCommand):
    help = "Create or update the background schedules (idempotent: run it on every deploy)."

    def handle(self, *args, **options):
        with transaction.atomic():
            lines = sync_schedules(wanted_schedules(), now=timezone.now())
        for line in lines:
            self.stdout.write(line)


def sync_schedules(wanted: list[Wanted], *, now: dt.datetime) -> list[str]:
    """Bring the schedule table to ``wanted``; one line per schedule saying what happened."""
    if connection.vendor == "postgresql":
        # Two deploys at once (several machines starting): the second waits, then finds it all done.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SETUP_LOCK])
    names = {w.name for w in wanted}
    funcs = {w.func for w in wanted} | set(FORMER_FUNCS)
    owned = Schedule.objects.select_for_update().filter(Q(name__in=names) | Q(func__in=funcs))
    keep: dict[str, Schedule] = {}
    lines = []
    for schedule in owned.order_by("pk"):
        if schedule.name in names and schedule.name not in keep:
            keep[schedule.name] = schedule
        else:
            lines.append(
                f"removed {schedule.name or f'schedule {schedule.pk}'}: {schedule.func} (stale or a duplicate)"
            )
            schedule.delete()
    for w in wanted:
        lines.append(_apply(w, keep.get(w.name), now))
    return lines


def _apply(w: Wanted, schedule: Schedule | None, now: dt.datetime) -> str:
    fields = {
        "func": w.func,
        "schedule_type": w.schedule_type,
        "minutes": w.minutes,
        "repeats": -1,
        "args": None,
        "kwargs": None,
        "cluster": None,
    }
    if schedule is None:
        # Due now: the first cluster to start runs each job once, then every interval.
        Schedule.objects.create(name=w.name, next_run=now, **fields)
        return f"created {w.describe()}"
    changed = {k: v for k, v in fields.items() if getattr(schedule, k) != v}
    if not changed:
        return f"unchanged {w.describe()}"
    for key, value in changed.items():
        setattr(schedule, key, value)
    # A shorter interval takes effect now rather than after the old, longer wait.
    if schedule.next_run is None or schedule.next_run > now + w.interval:
        schedule.next_run = now + w.interval
    schedule.save()
    return f"updated {w.describe()} ({', '.join(sorted(changed))} changed)"
