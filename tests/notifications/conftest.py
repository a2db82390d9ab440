"""Fixtures for delivery tests: the fake Discord webhook and channels pointing at it."""

from __future__ import annotations

import pytest

from notifications import events
from notifications.models import Channel, Event
from tests.fakes.discord import FakeDiscord


@pytest.fixture(autouse=True)
def _no_q2_trigger(settings):
    """Tests drive delivery themselves; the after-commit q2 trigger has tests of its own."""
    settings.NOTIFY_ASYNC = False


@pytest.fixture
def discord():
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def make_channel(discord):
    def make(name: str = "Team Discord", *, webhook_id: str = "1234567890", **fields) -> Channel:
        fields.setdefault("url", discord.webhook_url(webhook_id))
        return Channel.objects.create(name=name, kind=fields.pop("kind", Channel.Kind.DISCORD), **fields)

    return make


def error_event(n: int, *, key: str | None = None) -> Event:
    """An event with a recognisable marker in its text (``marker000042``)."""
    return events.emit(
        Event.Kind.ERROR,
        key=key or f"test:{n}",
        payload={"where": "the test suite", "message": f"marker{n:06d}"},
    )


def markers(bodies: list[dict]) -> list[str]:
    """The markers of the error messages that reached Discord, in arrival order."""
    import json
    import re

    return [m for body in bodies for m in re.findall(r"marker\d{6}", json.dumps(body))]
