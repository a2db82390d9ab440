"""Channel services: the channel that ``DISCORD_WEBHOOK_URL`` provides, URL validation, turning a
channel off when its webhook is gone, and the admin's test message."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning
from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.models import Channel
from notifications.transports import transport_for

ENV_CHANNEL_NAME = "Discord (DISCORD_WEBHOOK_URL)"
DISCORD_PATH = re.compile(r"^/api/(v\d+/)?webhooks/\d+/[A-Za-z0-9_-]+/?$")


def validate_url(kind: str, url: str) -> None:
    """One clear line per problem. The message never repeats the URL (it is a secret)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("The webhook URL must start with https:// and name a host.")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValidationError("The webhook URL must use https:// (plain http only for localhost).")
    if kind == Channel.Kind.DISCORD and not DISCORD_PATH.match(parts.path):
        raise ValidationError(
            "A Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>."
        )


def env_url_problem() -> str | None:
    """What is wrong with ``DISCORD_WEBHOOK_URL``, in one line without the URL; None if fine."""
    url = (getattr(settings, "DISCORD_WEBHOOK_URL", "") or "").strip()
    if not url:
        return None
    try:
        validate_url(Channel.Kind.DISCORD, url)
    except ValidationError as exc:
        return f"DISCORD_WEBHOOK_URL is not usable: {exc.messages[0]}"
    return None


def check_env_channel(app_configs=None, **kwargs) -> list:
    """A Django system check: every ``manage.py`` command says plainly that a bad
    ``DISCORD_WEBHOOK_URL`` is ignored. A warning, not an error: a typo in where announcements go
    must not stop executions (``send_notifications`` itself exits 2 on it)."""
    problem = env_url_problem()
    return [Warning(f"{problem} It is ignored.", id="notifications.W001")] if problem else []


def sync_env_channel() -> Channel | None:
    """The channel ``DISCORD_WEBHOOK_URL`` provides: created on first use, its URL kept equal to
    the environment's. A person can still turn it off or narrow its events in the admin; a new URL
    turns it back on if delivery had turned it off (the old webhook was gone)."""
    url = (getattr(settings, "DISCORD_WEBHOOK_URL", "") or "").strip()
    if not url or env_url_problem():  # the system check reports it; never post to a bad URL
        return None
    channel, created = Channel.objects.get_or_create(
        name=ENV_CHANNEL_NAME, defaults={"kind": Channel.Kind.DISCORD, "url": url, "events": []}
    )
    if not created and channel.url != url:
        channel.url = url
        fields = ["url", "updated_at"]
        if not channel.enabled and channel.disabled_reason:
            channel.enabled, channel.disabled_reason = True, ""
            fields += ["enabled", "disabled_reason"]
        channel.save(update_fields=fields)
    return channel


def channels_for(kind: str) -> list[Channel]:
    """Enabled channels that want events of this kind (a handful: filtered here, not in SQL, since
    SQLite cannot look inside a JSON list)."""
    sync_env_channel()
    return [c for c in Channel.objects.filter(enabled=True).order_by("id") if c.wants(kind)]


def disable(channel: Channel, reason: str, *, now=None) -> None:
    """Turn a channel off with a reason a person will read in the admin."""
    at = timezone.localtime(now or timezone.now())
    reason = f"{reason} (turned off {at:%Y-%m-%d %H:%M %Z}); fix the URL and turn it back on."
    Channel.objects.filter(pk=channel.pk).update(enabled=False, disabled_reason=reason[:500], updated_at=at)
    channel.enabled, channel.disabled_reason = False, reason[:500]


def send_test(channel: Channel) -> str:
    """Send a test message now, outside the outbox. Returns a line for the person who asked;
    raises ``ValueError`` with a safe line when it did not arrive."""
    transport = transport_for(channel)
    outcome = transport.post(transport.test_payload())
    if outcome.ok:
        return f"Test message sent to {channel.name} ({outcome.status})."
    raise ValueError(f"The test message to {channel.name} failed: {outcome.error}")
