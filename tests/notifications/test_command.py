"""``send_notifications``: flush everything due now, print the counts, exit 0 or 1."""

import io

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Delivery
from tests.notifications.conftest import error_event, markers

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("send_notifications", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_it_sends_everything_due_in_rounds(discord, make_channel):
    make_channel("A", webhook_id="1")
    make_channel("B", webhook_id="2")
    for n in range(1, 61):  # 120 deliveries: more than one round of 100
        error_event(n)

    assert run() == (0, "Notifications: sent 120.\n")
    assert len(discord.messages) == 120
    assert run() == (0, "Nothing was due.\n")


def test_failures_exit_1_and_say_what_waits(settings, discord, make_channel):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    make_channel("A", webhook_id="1")
    gone = make_channel("B", webhook_id="2")
    error_event(1)
    error_event(2)
    discord.down(times=1)
    discord.delete(gone.url)

    code, out = run()

    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "Notifications: sent 1, 1 dead, 1 stopped: channel turned off."
    assert lines[1].startswith("Channel B is off: The webhook answered 404 Not Found")
    assert lines[2] == "Still waiting: 2 (their channel is off: turn it on in the admin)."  # B's two
    assert lines[3] == "Dead: 1 in all (retry them in the admin or with --retry-dead)."
    assert lines[4] == "2 deliveries failed: see Deliveries in the admin."
    assert "s3cr3t" not in out


def test_retry_dead_sends_them_again(settings, discord, make_channel):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    make_channel()
    error_event(1)
    discord.down(times=1)
    assert run()[0] == 1

    assert run("--retry-dead") == (0, "Dead deliveries made due again: 1.\nNotifications: sent 1.\n")
    assert markers(discord.messages) == ["marker000001"]
    assert Delivery.objects.get().status == Delivery.Status.SENT
