"""The month turns over by itself: a new period with the current limit, the recap sent once, and a
run that straddles midnight charged to the month it started in."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.utils import timezone

from budget.models import DailyUsage, Period
from budget.money import dollars_str
from budget.periods import current_period, set_limit
from executions.backlog.services import create_task
from executions.jobs import roll_over_periods
from executions.models import Execution, ModelCall
from executions.pipeline.runner import run_execution
from executions.providers.simulated import simulated_providers
from notifications.models import Event

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def new_york(settings):
    """A time zone away from UTC: the month turns at midnight there, not at midnight UTC."""
    settings.TIME_ZONE = "America/New_York"


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def recaps() -> list[Event]:
    return list(Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP))


def test_the_first_check_of_a_month_opens_it_with_the_current_limit_and_recaps_the_last_once(memory_gateway):
    with time_machine.travel(local(2026, 11, 20, 9, 0), tick=False) as clock:
        november = set_limit(current_period(), "20.00")  # raised in the admin during the month
        run_execution(
            create_task(title="Something in November"),
            providers=simulated_providers(),
            gateway=memory_gateway,
        )
        november.refresh_from_db()
        assert november.spent_nanos > 0

        clock.move_to(local(2026, 11, 30, 23, 0))  # 04:00 UTC on Dec 1: still November here
        assert roll_over_periods() == "open period 2026-11; recaps recorded: 0"

        clock.move_to(local(2026, 12, 1, 0, 5))
        first = roll_over_periods()
        clock.move_to(local(2026, 12, 1, 1, 5))
        second = roll_over_periods()

    assert first == "open period 2026-12; recaps recorded: 1"
    assert second == "open period 2026-12; recaps recorded: 0"
    december = Period.objects.get(month=dt.date(2026, 12, 1))
    assert (december.limit_nanos, december.spent_nanos, december.reserved_nanos) == (20_000_000_000, 0, 0)
    assert december.starts_at == local(2026, 12, 1) and december.ends_at == local(2027, 1, 1)
    (recap,) = recaps()
    assert recap.key == f"recap:{november.pk}"
    assert (recap.payload["month"], recap.payload["spent"]) == ("2026-11", dollars_str(november.spent_nanos))
    november.refresh_from_db()
    assert november.recapped_at == local(2026, 12, 1, 0, 5)


def test_a_run_straddling_midnight_is_charged_to_the_month_it_started_in(memory_gateway, settings):
    settings.SIMULATED_LATENCY_SECONDS = 0.4  # each model call: the second one ends after midnight
    with time_machine.travel(local(2026, 11, 30, 23, 59, 59, 600_000), tick=True):
        execution = run_execution(
            create_task(title="Late at night"), providers=simulated_providers(), gateway=memory_gateway
        )
        roll_over_periods()

    november, december = Period.objects.order_by("starts_at")
    calls = list(ModelCall.objects.filter(execution=execution).order_by("pk"))
    assert timezone.localtime(calls[-1].created_at).date() == dt.date(2026, 12, 1)  # it did straddle
    assert execution.status == Execution.Status.SUCCEEDED and execution.period == november
    november.refresh_from_db()
    assert november.spent_nanos == execution.cost_nanos == sum(c.cost_nanos for c in calls)
    assert (december.spent_nanos, december.executions_count) == (0, 0)
    assert list(DailyUsage.objects.values_list("period_id", "day", "cost_nanos")) == [
        (november.pk, dt.date(2026, 11, 30), execution.cost_nanos)
    ]
    assert len(recaps()) == 1
