"""Reading GitHub's JSON (webhook payloads and API answers) defensively: a missing or mistyped
field reads as empty, never as an exception, except where a handler needs it
(``WebhookPayloadError``).

Text from GitHub (issue titles and bodies, reviews and comments, check output and annotations,
branch and file names) is written by anyone who can open an issue or push a check: untrusted
input. It enters the product through ``executions.repositories.untrusted`` (``text`` here for JSON
fields; the gateway for what it reads), and nowhere else: every configured secret masked, NUL and
lone surrogates replaced as in a vendor's text, so it can be stored and sent. A number is bounded
to what its column holds (``number``).
"""

from __future__ import annotations

import datetime as dt

from django.utils.dateparse import parse_datetime

from executions.repositories.untrusted import untrusted


class WebhookPayloadError(ValueError):
    """The delivery's JSON is not the shape GitHub sends for its event."""


def dig(data: object, *keys: str) -> object:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


# What the columns of GitHub's numbers hold: an issue's or pull request's number
# (PositiveIntegerField), a review's or comment's id (kept in keys and JSON; GitHub's are 64-bit).
MAX_NUMBER = 2**31 - 1
MAX_ID = 2**63 - 1


def text(value: object) -> str:
    """A JSON field's text (``untrusted``); empty when it is not a string."""
    return untrusted(value) if isinstance(value, str) else ""


def number(value: object, what: str, *, most: int = MAX_NUMBER) -> int:
    """A positive whole number GitHub gives (``what`` names it), within what its column holds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookPayloadError(f"{what} is missing")
    if not 1 <= value <= most:
        raise WebhookPayloadError(f"{what} is out of range (1 to {most})")
    return value


def when(value: object) -> dt.datetime | None:
    try:
        return parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ignored_event(event: str, action: object) -> str:
    """A webhook handler's outcome for an event or action it does not act on."""
    return f"ignored: {text(event) or 'no'} event" + (f" ({text(action)[:100]})" if action else "")
