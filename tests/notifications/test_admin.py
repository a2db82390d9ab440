"""The notifications admin: masked channel URLs, a test message, dead letters and their retry."""

import pytest

from notifications.delivery import deliver_due
from notifications.models import Channel, Delivery
from tests.notifications.conftest import error_event, markers

pytestmark = pytest.mark.django_db

TOKEN = "s3cr3t-T0ken_abcdefghijklmnop"  # the secret part of the fake webhook URLs


def test_channel_pages_never_show_the_url(admin_client, make_channel):
    channel = make_channel()

    listing = admin_client.get("/admin/notifications/channel/").content.decode()
    form = admin_client.get(f"/admin/notifications/channel/{channel.pk}/change/").content.decode()

    assert "/api/webhooks/…/****" in listing and "/api/webhooks/…/****" in form
    for page in (listing, form):
        assert TOKEN not in page and "1234567890" not in page


def test_adding_a_channel_validates_the_url(admin_client, discord):
    data = {"name": "Team", "kind": "discord", "url": "https://discord.com/channels/1/2", "enabled": "on"}

    page = admin_client.post("/admin/notifications/channel/add/", data).content.decode()

    assert (
        "A Discord webhook URL looks like https://discord.com/api/webhooks/&lt;id&gt;/&lt;token&gt;." in page
    )
    assert "/channels/1/2" not in page  # the refused URL is not echoed back either
    assert not Channel.objects.exists()

    data |= {"url": discord.webhook_url(), "events": ["milestone_reached", "error"]}
    assert admin_client.post("/admin/notifications/channel/add/", data).status_code == 302
    channel = Channel.objects.get()
    assert (channel.url, channel.events) == (discord.webhook_url(), ["milestone_reached", "error"])


def test_editing_a_channel_without_a_new_url_keeps_the_stored_one(admin_client, make_channel):
    channel = make_channel(enabled=False, disabled_reason="The webhook answered 404")
    data = {"name": "Renamed", "kind": "discord", "url": "", "enabled": "on"}

    assert admin_client.post(f"/admin/notifications/channel/{channel.pk}/change/", data).status_code == 302

    stored = Channel.objects.get()
    assert (stored.name, stored.url, stored.enabled, stored.disabled_reason) == (
        "Renamed",
        channel.url,
        True,
        "",
    )


def test_send_a_test_message(admin_client, discord, make_channel):
    good = make_channel("Good", webhook_id="1")
    gone = make_channel("Gone", webhook_id="2")
    discord.delete(gone.url)

    response = admin_client.post(
        "/admin/notifications/channel/",
        {"action": "send_test_message", "_selected_action": [good.pk, gone.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "Test message sent to Good (200)." in page
    assert (
        "The test message to Gone failed: 404 Not Found: {&quot;message&quot;: &quot;Unknown Webhook&quot;"
        in page
    )
    assert discord.messages == [{"content": "Test message from the PR orchestrator: this channel works."}]
    assert TOKEN not in page


def test_dead_deliveries_are_listed_and_can_be_retried(settings, admin_client, discord, make_channel):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    make_channel()
    error_event(1)
    discord.down(times=1)
    deliver_due()
    dead = Delivery.objects.get(status=Delivery.Status.DEAD)

    listing = admin_client.get("/admin/notifications/delivery/?status__exact=dead").content.decode()
    assert "Error #" in listing and ">dead</span>" in listing and "1 / 1" in listing
    assert "500 Internal Server Error" in listing
    assert TOKEN not in listing
    dashboard = admin_client.get("/admin/dashboard/").content.decode()
    assert "1 notification delivery failed for good" in dashboard

    response = admin_client.post(
        "/admin/notifications/delivery/",
        {"action": "retry", "_selected_action": [dead.pk]},
        follow=True,
    )

    assert "1 delivery will be sent again shortly." in response.content.decode()
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (Delivery.Status.PENDING, 0)
    assert deliver_due() == "notifications: 1 sent"
    assert markers(discord.messages) == ["marker000001"]


def test_the_event_page_shows_its_deliveries(admin_client, make_channel):
    make_channel()
    event = error_event(1)

    page = admin_client.get(f"/admin/notifications/event/{event.pk}/change/").content.decode()

    assert "marker000001" in page and "Team Discord" in page and "pending" in page
    assert admin_client.get("/admin/notifications/event/add/").status_code == 403
    assert admin_client.get("/admin/notifications/delivery/add/").status_code == 403


def test_the_env_channel_can_be_narrowed_or_turned_off_but_not_renamed(settings, admin_client, discord):
    settings.DISCORD_WEBHOOK_URL = discord.webhook_url()
    error_event(1)
    channel = Channel.objects.get()
    url = f"/admin/notifications/channel/{channel.pk}/change/"

    page = admin_client.get(url).content.decode()
    assert 'name="name"' not in page and 'name="url"' not in page and TOKEN not in page
    data = {"name": "Renamed", "enabled": "", "events": ["milestone_reached"]}
    assert admin_client.post(url, data).status_code == 302

    channel.refresh_from_db()
    assert (channel.name, channel.enabled, channel.events) == (
        "Discord (DISCORD_WEBHOOK_URL)",
        False,
        ["milestone_reached"],
    )
    assert channel.url == discord.webhook_url()
