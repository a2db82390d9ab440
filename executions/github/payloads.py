"""Reading GitHub's JSON (webhook payloads and API answers) defensively: a missing or mistyped
field reads as empty, never as an exception, except where a handler needs it
(``WebhookPayloadError``)."""

from __future__ import annotations

import datetime as dt

from django.utils.dateparse import parse_datetime


class WebhookPayloadError(ValueError):
    """The delivery's JSON is not the shape GitHub sends for its event."""


def dig(data: object, *keys: str) -> object:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def when(value: object) -> dt.datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ignored_event(event: str, action: object) -> str:
    """A webhook handler's outcome for an event or action it does not act on."""
    return f"ignored: {event or 'no'} event" + (f" ({action})" if action else "")
