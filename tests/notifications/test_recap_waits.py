"""The recap of a finished month waits for the executions still in flight in it (issue 20, item 5)."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from budget import ledger
from budget.models import Reservation
from budget.periods import current_period
from budget.pricing import Usage
from executions.jobs import roll_over_periods
from notifications.models import Event

pytestmark = pytest.mark.django_db

LATE_OCTOBER = dt.datetime(2026, 10, 31, 23, 50, tzinfo=dt.UTC)
NOVEMBER_FIRST = dt.datetime(2026, 11, 1, 0, 5, tzinfo=dt.UTC)


@pytest.fixture
def in_flight(settings):
    """An execution that reserved in October's last minutes and has not finished at midnight."""
    settings.RESERVATION_TIMEOUT_SECONDS = 30 * 60  # expires 00:20 on November 1st
    with time_machine.travel(LATE_OCTOBER, tick=False):
        period = current_period()
        reservation = ledger.reserve(50_000_000, label="task 1: late", period=period)
    return period, reservation


def recaps() -> list[Event]:
    return list(Event.objects.filter(kind=Event.Kind.MONTHLY_RECAP))


def test_the_recap_waits_for_the_last_execution_then_counts_its_charge(in_flight):
    october, reservation = in_flight
    with time_machine.travel(NOVEMBER_FIRST, tick=False) as clock:
        assert (
            roll_over_periods()
            == "open period 2026-11; recaps recorded: 0; waiting for executions in flight: 1"
        )
        assert recaps() == []

        clock.shift(dt.timedelta(minutes=2))  # the execution finishes: charged, then released
        ledger.charge(
            reservation,
            21_775_000,
            model_name="claude-sonnet-4-5",
            provider="anthropic",
            usage=Usage(input_tokens=2000, output_tokens=1000),
        )
        ledger.release(reservation)
        clock.shift(dt.timedelta(hours=1))
        assert roll_over_periods() == "open period 2026-11; recaps recorded: 1"
        clock.shift(dt.timedelta(hours=1))
        assert roll_over_periods() == "open period 2026-11; recaps recorded: 0"

    [recap] = recaps()
    assert recap.payload["spent"] == "0.021775"
    october.refresh_from_db()
    assert october.recapped_at is not None


def test_a_reservation_past_its_expiry_does_not_hold_the_recap_back(in_flight):
    october, reservation = in_flight
    with time_machine.travel(NOVEMBER_FIRST + dt.timedelta(minutes=20), tick=False):
        assert roll_over_periods() == "open period 2026-11; recaps recorded: 1"

    assert len(recaps()) == 1
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.OPEN  # the reaper's job


def test_send_recap_says_it_waits_and_sends_nothing(in_flight):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        with pytest.raises(CommandError, match="waits for 1 execution still in flight") as raised:
            call_command("send_recap", stdout=StringIO())
    assert raised.value.returncode == 1
    assert recaps() == []


def test_send_recap_force_does_not_wait(in_flight):
    with time_machine.travel(NOVEMBER_FIRST, tick=False):
        call_command("send_recap", "--force", stdout=StringIO())
    assert len(recaps()) == 1
