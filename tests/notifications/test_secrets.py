"""The webhook URL is a secret: not in logs, errors, the admin's list pages or command output."""

import io
import logging

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Channel, Delivery
from tests.notifications.conftest import error_event

pytestmark = pytest.mark.django_db

TOKEN = "Zsecret-webhook-token-0123456789"


def test_the_url_never_leaks_whatever_goes_wrong(caplog, settings, admin_client, discord):
    caplog.set_level(logging.DEBUG)
    settings.NOTIFY_MAX_ATTEMPTS = 2
    urls = [discord.webhook_url(str(n), TOKEN) for n in range(11, 16)]
    urls.append(f"http://127.0.0.1:9/api/webhooks/16/{TOKEN}")  # nothing listens there
    for n, url in enumerate(urls):
        Channel.objects.create(name=f"Channel {n}", url=url)
    # Channels 0 to 3, in turn: a server echoing the URL back in its error (400), 500, 500, 429;
    # channel 4's webhook is deleted (404), channel 5 is unreachable.
    discord.fail_next(400, {"message": f"bad body for {urls[0]}?wait=true", "code": 50035})
    discord.down(times=2)
    discord.rate_limit_next()
    discord.delete(urls[4])
    settings.DISCORD_WEBHOOK_URL = discord.webhook_url("17", TOKEN)
    error_event(1)

    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("send_notifications", stdout=out)

    outcomes = {
        d.channel.name: (d.status, d.response_status) for d in Delivery.objects.select_related("channel")
    }
    assert outcomes == {
        "Channel 0": ("dead", 400),
        "Channel 1": ("pending", 500),
        "Channel 2": ("pending", 500),
        "Channel 3": ("pending", 429),
        "Channel 4": ("pending", 404),
        "Channel 5": ("pending", None),
        "Discord (DISCORD_WEBHOOK_URL)": ("sent", 200),
    }
    texts = [
        caplog.text,
        out.getvalue(),
        str(failed.value),
        *Delivery.objects.values_list("last_error", flat=True),
        *Channel.objects.values_list("disabled_reason", flat=True),
        *(str(c) + repr(c) for c in Channel.objects.all()),
        *(str(d) for d in Delivery.objects.select_related("event", "channel")),
        admin_client.get("/admin/notifications/channel/").content.decode(),
        admin_client.get("/admin/notifications/delivery/").content.decode(),
        admin_client.get(
            f"/admin/notifications/event/{Delivery.objects.first().event_id}/change/"
        ).content.decode(),
    ]
    for text in texts:
        assert TOKEN not in text
    assert "ERROR" in caplog.text and "WARNING" in caplog.text  # failures were logged, just not the URL
    assert Delivery.objects.filter(last_error="").count() < Delivery.objects.count()
