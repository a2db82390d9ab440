"""An event gets one delivery per enabled channel that wants it, in the same transaction."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django_q.models import OrmQ
from django_q.tasks import _sync

from notifications import delivery, events
from notifications.channels import ENV_CHANNEL_NAME, check_env_channel
from notifications.delivery import deliver_due
from notifications.models import Channel, Delivery, Event
from tests.notifications.conftest import error_event, markers

pytestmark = pytest.mark.django_db


def test_an_event_fans_out_to_enabled_channels_that_want_its_kind(make_channel):
    everything = make_channel("Everything", webhook_id="1")
    milestones = make_channel("Milestones", webhook_id="2", events=[Event.Kind.MILESTONE_REACHED])
    errors = make_channel("Errors", webhook_id="3", events=[Event.Kind.ERROR, Event.Kind.BUDGET_EXHAUSTED])
    make_channel("Off", webhook_id="4", enabled=False)

    event = error_event(1)

    assert {d.channel for d in event.deliveries.all()} == {everything, errors}
    assert set(event.deliveries.values_list("status", "attempts")) == {(Delivery.Status.PENDING, 0)}
    assert milestones.deliveries.count() == 0


def test_event_and_deliveries_roll_back_with_the_change_that_caused_them(make_channel):
    make_channel()

    with pytest.raises(RuntimeError), transaction.atomic():
        error_event(1)
        raise RuntimeError("the change failed")

    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_the_same_key_twice_is_one_event_and_one_delivery(make_channel):
    make_channel()

    assert error_event(1, key="once") is not None
    assert error_event(2, key="once") is None

    assert Delivery.objects.count() == 1


def test_discord_webhook_url_gives_a_channel_for_every_event_without_admin_work(settings, discord):
    settings.DISCORD_WEBHOOK_URL = discord.webhook_url("42")

    error_event(1)
    events.emit(Event.Kind.MILESTONE_REACHED, key="m", payload={})

    channel = Channel.objects.get(name=ENV_CHANNEL_NAME)
    assert (channel.kind, channel.enabled, channel.events) == (Channel.Kind.DISCORD, True, [])
    assert channel.deliveries.count() == 2
    assert deliver_due() == "notifications: 2 sent"
    assert len(discord.messages) == 2


def test_the_env_channel_follows_the_env_url_and_a_new_url_turns_it_back_on(settings, discord):
    settings.DISCORD_WEBHOOK_URL = discord.webhook_url("42")
    error_event(1)
    discord.delete(discord.webhook_url("42"))
    deliver_due()
    channel = Channel.objects.get(name=ENV_CHANNEL_NAME)
    assert not channel.enabled and "404" in channel.disabled_reason

    settings.DISCORD_WEBHOOK_URL = discord.webhook_url("43")
    error_event(2)

    channel.refresh_from_db()
    assert (channel.url, channel.enabled, channel.disabled_reason) == (discord.webhook_url("43"), True, "")
    assert Channel.objects.count() == 1
    assert deliver_due() == "notifications: 2 sent"  # the held message first, then the new one


def test_a_channel_turned_off_by_hand_stays_off(settings, discord):
    settings.DISCORD_WEBHOOK_URL = discord.webhook_url("42")
    error_event(1)
    Channel.objects.filter(name=ENV_CHANNEL_NAME).update(enabled=False)

    error_event(2)

    assert Delivery.objects.count() == 1


def test_no_channel_no_delivery():
    error_event(1)

    assert Event.objects.count() == 1 and not Delivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_delivery_is_queued_for_the_cluster_after_commit_only(settings, make_channel):
    settings.NOTIFY_ASYNC = True
    make_channel()

    with transaction.atomic():
        error_event(1)
        assert OrmQ.objects.count() == 0  # nothing leaves before the commit
    with pytest.raises(RuntimeError), transaction.atomic():
        error_event(2)
        raise RuntimeError

    [queued] = OrmQ.objects.all()
    assert queued.func() == "notifications.delivery.deliver_due"
    assert queued.task["kwargs"] == {}


@pytest.mark.django_db(transaction=True)
def test_the_queued_task_delivers_when_the_cluster_runs_it(settings, discord, make_channel):
    settings.NOTIFY_ASYNC = True
    make_channel()
    error_event(1)
    [queued] = OrmQ.objects.all()

    _sync(queued.payload)  # django-q2's own worker and monitor, in this process

    assert markers(discord.messages) == ["marker000001"]
    assert Delivery.objects.get().status == Delivery.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_fail_the_change(settings, make_channel, monkeypatch, caplog):
    settings.NOTIFY_ASYNC = True
    make_channel()

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(delivery, "async_task", broker_down)  # django-q2's, as delivery calls it

    assert error_event(1) is not None

    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 1  # the sweep sends it
    assert "could not queue notification delivery (ConnectionError)" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_nothing_is_queued_when_no_channel_wants_the_event(settings):
    settings.NOTIFY_ASYNC = True

    error_event(1)

    assert OrmQ.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("discord.com/api/webhooks/1/tok", "The webhook URL must start with https:// and name a host."),
        (
            "https://discord.com/channels/1/2",
            "A Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>.",
        ),
    ],
)
def test_a_bad_discord_webhook_url_is_a_configuration_error(settings, url, problem):
    settings.DISCORD_WEBHOOK_URL = url

    [warning] = check_env_channel()
    assert (warning.id, warning.msg) == (
        "notifications.W001",
        f"DISCORD_WEBHOOK_URL is not usable: {problem} It is ignored.",
    )
    with pytest.raises(CommandError) as failed:
        call_command("send_notifications")
    assert (failed.value.returncode, str(failed.value)) == (
        2,
        f"DISCORD_WEBHOOK_URL is not usable: {problem}",
    )
    error_event(1)  # the pipeline goes on; no channel is made from the bad URL
    assert not Channel.objects.exists() and not Delivery.objects.exists()


def test_a_good_or_missing_discord_webhook_url_passes_the_check(settings):
    settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/123/abc"
    assert check_env_channel() == []
    settings.DISCORD_WEBHOOK_URL = ""
    assert check_env_channel() == []
