"""``send_notifications`` never announces a next attempt in the past (issue 20, item 8)."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from notifications.models import Channel, Delivery
from tests.notifications.conftest import error_event

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def waiting_line() -> str:
    out = io.StringIO()
    try:
        call_command("send_notifications", stdout=out)
    except CommandError:
        pass
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("Still waiting")]
    return line


def test_a_paused_channel_waits_for_its_pause_not_for_a_past_time(discord, make_channel):
    channel = make_channel("A")
    error_event(1)
    Channel.objects.filter(pk=channel.pk).update(paused_until=NOW + dt.timedelta(minutes=10))
    Delivery.objects.update(next_attempt_at=NOW - dt.timedelta(minutes=1))

    assert waiting_line() == "Still waiting: 1 (next attempt at 2026-11-15 12:10:00 UTC)."
    assert discord.messages == []


def test_a_channel_that_is_off_has_no_next_attempt(discord, make_channel):
    channel = make_channel("A")
    error_event(1)
    Channel.objects.filter(pk=channel.pk).update(enabled=False)
    Delivery.objects.update(next_attempt_at=NOW - dt.timedelta(hours=1))

    assert waiting_line() == "Still waiting: 1 (their channel is off: turn it on in the admin)."


def test_a_future_retry_is_announced_at_its_time(discord, make_channel):
    make_channel("A")
    error_event(1)
    Delivery.objects.update(next_attempt_at=NOW + dt.timedelta(minutes=4))

    line = waiting_line()

    assert line == "Still waiting: 1 (next attempt at 2026-11-15 12:04:00 UTC)."
    assert timezone.now() == NOW
