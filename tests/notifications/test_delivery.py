"""The delivery worker against the fake Discord: outages, rate limits, gone webhooks, dead letters."""

import datetime as dt

import pytest
import time_machine

from notifications.delivery import claim_next, deliver_due, record
from notifications.models import Delivery
from notifications.transports import Outcome
from tests.notifications.conftest import error_event, markers

pytestmark = pytest.mark.django_db

# The tests drive the clock from here. Deliveries become due when they are created (the clock,
# pinned six hours before T0), so every delivery a test makes is due at T0.
T0 = dt.datetime(2026, 11, 14, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(T0 - dt.timedelta(hours=6), tick=True):
        yield


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_message_arrives_as_discord_expects_it(discord, make_channel):
    make_channel()
    error_event(1)

    assert deliver_due(now=T0) == "notifications: 1 sent"

    [request] = discord.requests
    assert request.method == "POST" and request.query == {"wait": ["true"]}
    assert request.headers["content-type"] == "application/json"
    assert markers(discord.messages) == ["marker000001"]
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.sent_at) == (
        Delivery.Status.SENT,
        1,
        200,
        T0,
    )
    assert deliver_due(now=at(3600)) == "notifications: nothing due"


def test_discord_down_for_a_while_every_message_arrives_once_in_order(discord, make_channel):
    make_channel()
    for n in range(1, 6):
        error_event(n)
    discord.down(times=4)

    # Each failure waits twice as long as the one before; later messages wait behind the first.
    assert deliver_due(now=T0) == "notifications: 1 retry"
    first = Delivery.objects.order_by("event_id").first()
    assert (first.attempts, first.next_attempt_at, first.response_status) == (1, at(60), 500)
    assert (
        first.last_error == '500 Internal Server Error: {"message": "500: Internal Server Error", "code": 0}'
    )
    assert deliver_due(now=at(59)) == "notifications: nothing due"
    assert deliver_due(now=at(60)) == "notifications: 1 retry"
    assert Delivery.objects.get(pk=first.pk).next_attempt_at == at(60 + 120)
    assert deliver_due(now=at(180)) == "notifications: 1 retry"
    assert Delivery.objects.get(pk=first.pk).next_attempt_at == at(180 + 240)
    assert deliver_due(now=at(420)) == "notifications: 1 retry"
    assert deliver_due(now=at(420 + 479)) == "notifications: nothing due"

    assert deliver_due(now=at(420 + 480)) == "notifications: 5 sent"  # Discord is back

    assert markers(discord.messages) == [f"marker{n:06d}" for n in range(1, 6)]
    assert len(discord.requests) == 4 + 5
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert Delivery.objects.get(pk=first.pk).attempts == 5
    assert deliver_due(now=at(10**6)) == "notifications: nothing due"


def test_backoff_is_capped(settings, discord, make_channel):
    settings.NOTIFY_MAX_ATTEMPTS = 20
    make_channel()
    error_event(1)
    discord.down(times=10)

    now = T0
    waits = []
    for _ in range(10):
        deliver_due(now=now)
        next_at = Delivery.objects.get().next_attempt_at
        waits.append((next_at - now).total_seconds())
        now = next_at

    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]


def test_a_429_waits_what_discord_asks_and_costs_no_attempt(discord, make_channel):
    channel = make_channel()
    error_event(1)
    error_event(2)
    discord.rate_limit_next(retry_after=1.5)  # headers: Retry-After 2, X-RateLimit-Reset-After 1.5

    assert deliver_due(now=T0) == "notifications: 1 rate limited"

    first = Delivery.objects.order_by("event_id").first()
    assert (first.status, first.attempts, first.response_status) == (Delivery.Status.PENDING, 0, 429)
    assert first.next_attempt_at == at(2)
    channel.refresh_from_db()
    assert channel.paused_until == at(2)
    assert deliver_due(now=at(1.9)) == "notifications: nothing due"
    assert deliver_due(now=at(2)) == "notifications: 2 sent"
    assert markers(discord.messages) == ["marker000001", "marker000002"]


def test_an_empty_rate_limit_bucket_pauses_the_channel_until_it_resets(discord, make_channel):
    make_channel()
    error_event(1)
    error_event(2)
    discord.success_headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.75"}

    assert deliver_due(now=T0) == "notifications: 1 sent"
    assert deliver_due(now=at(0.7)) == "notifications: nothing due"
    assert deliver_due(now=at(0.75)) == "notifications: 1 sent"


def test_a_deleted_webhook_turns_the_channel_off_with_a_reason(discord, make_channel):
    channel = make_channel()
    other = make_channel("Other", webhook_id="999")
    error_event(1)
    error_event(2)
    discord.delete(channel.url)

    assert deliver_due(now=T0) == "notifications: 2 sent, 1 disabled"

    channel.refresh_from_db()
    assert not channel.enabled
    assert channel.disabled_reason.startswith(
        'The webhook answered 404 Not Found: {"message": "Unknown Webhook", "code": 10015}: it no longer exists'
    )
    # Its messages wait (not lost, not retried against a dead URL); the other channel got both.
    assert set(channel.deliveries.values_list("status", flat=True)) == {Delivery.Status.PENDING}
    assert other.deliveries.filter(status=Delivery.Status.SENT).count() == 2
    assert deliver_due(now=at(10**6)) == "notifications: nothing due"
    assert len(discord.requests_to(channel.url.removeprefix(discord.url))) == 1


def test_after_the_last_attempt_a_delivery_is_dead_and_the_next_message_goes(settings, discord, make_channel):
    settings.NOTIFY_MAX_ATTEMPTS = 3
    make_channel()
    error_event(1)
    error_event(2)
    discord.down(times=3)

    deliver_due(now=T0)
    deliver_due(now=at(60))
    assert deliver_due(now=at(180)) == "notifications: 1 sent, 1 dead"

    dead = Delivery.objects.get(status=Delivery.Status.DEAD)
    assert (dead.attempts, dead.response_status) == (3, 500)
    assert dead.last_error.startswith("500 Internal Server Error")
    assert markers(discord.messages) == ["marker000002"]


def test_a_message_discord_refuses_is_dead_at_once(discord, make_channel):
    make_channel()
    error_event(1)
    discord.fail_next(400, {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": {}}})

    assert deliver_due(now=T0) == "notifications: 1 dead"

    dead = Delivery.objects.get()
    assert (dead.attempts, dead.response_status) == (1, 400)
    assert (
        dead.last_error
        == '400 Bad Request: {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": {}}}'
    )


def test_an_unreachable_webhook_is_retried(make_channel):
    make_channel(url="http://127.0.0.1:9/api/webhooks/1/s3cr3t-T0ken_abcdefghijklmnop")
    error_event(1)

    assert deliver_due(now=T0) == "notifications: 1 retry"

    delivery = Delivery.objects.get()
    assert (delivery.response_status, delivery.last_error) == (
        None,
        "could not connect to the webhook's host",
    )


def test_a_claim_is_a_lease_a_dead_worker_gives_it_back(settings, discord, make_channel):
    settings.NOTIFY_LEASE_SECONDS = 300
    make_channel()
    error_event(1)

    claimed = claim_next(now=T0)  # this worker dies before sending
    assert claimed.status == Delivery.Status.SENDING and claimed.attempts == 1
    assert claim_next(now=at(299)) is None  # no one else may take it while the lease runs

    again = claim_next(now=at(300))
    assert (again.pk, again.attempts) == (claimed.pk, 2)
    # The first worker comes back to life: its late result must not overwrite the new claim.
    assert record(claimed, Outcome(ok=True, status=200), now=at(301)) == "lost"
    assert record(again, Outcome(ok=True, status=200), now=at(301)) == "sent"
    assert Delivery.objects.get().attempts == 2


def test_a_channel_holds_its_later_messages_while_one_is_being_sent(make_channel):
    make_channel("A", webhook_id="1")
    make_channel("B", webhook_id="2")
    error_event(1)
    error_event(2)

    first, second = claim_next(now=T0), claim_next(now=T0)

    assert {first.channel.name, second.channel.name} == {"A", "B"}
    assert first.event_id == second.event_id  # event 2 waits behind event 1 on each channel
    assert claim_next(now=T0) is None
