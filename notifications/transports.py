"""One small class per channel kind: render an event into that service's JSON, send it, and say
what happened in an ``Outcome``. All HTTP goes through ``post_json``, the only network code here.

The webhook URL is a secret. ``requests`` puts the URL in its exception messages, so they are never
shown: errors are rebuilt from the exception's type and the response's status and body, and any
text a server sends back is scrubbed of the URL before it is stored or logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings

from notifications import render
from notifications.models import Channel, Event
from notifications.secrets import mask_secrets

USER_AGENT = "pr-orchestrator-notifications/1.0"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Outcome:
    """What one send did. ``error`` is one safe line (never the URL)."""

    ok: bool
    status: int | None = None  # the HTTP status; None when no answer came back
    error: str = ""
    retry_after: float | None = None  # seconds the service asked us to wait (429, 503)
    gone: bool = False  # the webhook no longer exists: stop using this channel
    permanent: bool = False  # this message will never be accepted: do not retry it
    pause: float | None = None  # after a success: the rate-limit bucket is empty for this long


# --- HTTP --------------------------------------------------------------------------------------


def scrub(text: str, url: str) -> str:
    """Remove the URL, its path and its token from text a server or a library produced."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    token = segments[-1] if segments and len(segments[-1]) >= 8 else ""  # the secret part
    secrets = [url, url.split("?")[0], parts.path, parts.query, token]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "****")
    return text


def _seconds(value) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def retry_after(response: requests.Response) -> float | None:
    """The longest wait the answer asks for: Discord's JSON ``retry_after``, ``Retry-After`` or
    ``X-RateLimit-Reset-After`` (seconds). None when it names none."""
    waits = [
        _seconds(response.headers.get("Retry-After")),
        _seconds(response.headers.get("X-RateLimit-Reset-After")),
    ]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        waits.append(_seconds(body.get("retry_after")))
    waits = [w for w in waits if w is not None]
    return max(waits) if waits else None


def _body_text(response: requests.Response, url: str) -> str:
    text = " ".join((response.text or "").split())
    return mask_secrets(scrub(text, url))[:MAX_ERROR_CHARS]


def post_json(
    url: str, payload: dict, *, gone_statuses: frozenset[int], idempotency_key: str = ""
) -> Outcome:
    """POST ``payload`` as JSON and classify the answer. Never raises for network trouble."""
    timeout = (settings.NOTIFY_CONNECT_TIMEOUT_SECONDS, settings.NOTIFY_READ_TIMEOUT_SECONDS)
    try:
        response = requests.post(
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT}
            | ({"Idempotency-Key": idempotency_key} if idempotency_key else {}),
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout:
        return Outcome(ok=False, error=f"no answer within {timeout[1]:g} s (timed out)")
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    ):
        # Retrying cannot fix the URL: stop using the channel until a person does.
        return Outcome(ok=False, gone=True, error="the webhook URL is not a valid http(s) URL")
    except requests.ConnectionError:
        return Outcome(ok=False, error="could not connect to the webhook's host")
    except requests.RequestException as exc:  # invalid URL and the like: the text would show it
        return Outcome(ok=False, error=f"the request failed ({type(exc).__name__})")
    return classify(response, url, gone_statuses=gone_statuses)


def classify(response: requests.Response, url: str, *, gone_statuses: frozenset[int]) -> Outcome:
    status = response.status_code
    label = f"{status} {response.reason or ''}".strip()
    if 200 <= status < 300:
        pause = None
        if response.headers.get("X-RateLimit-Remaining") == "0":
            pause = _seconds(response.headers.get("X-RateLimit-Reset-After"))
        return Outcome(ok=True, status=status, pause=pause)
    body = _body_text(response, url)
    error = f"{label}: {body}" if body else label
    if status == 429:
        wait = retry_after(response)
        return Outcome(
            ok=False,
            status=status,
            retry_after=wait,
            error=f"{label}: rate limited, retry after {wait or '?'} s",
        )
    if status in gone_statuses:
        return Outcome(ok=False, status=status, gone=True, error=error)
    if status in (408, 409, 425) or status >= 500 or status == 403:
        # 403 may be a temporary block of our address after too many bad requests: try again later.
        wait = retry_after(response) if status == 503 else None
        return Outcome(ok=False, status=status, retry_after=wait, error=error)
    if 300 <= status < 400:
        # The URL needs fixing (a webhook does not move); the redirect target is not followed or shown.
        return Outcome(
            ok=False, status=status, gone=True, error=f"{label}: the webhook URL redirects elsewhere"
        )
    return Outcome(ok=False, status=status, permanent=True, error=error)


# --- One class per channel kind ----------------------------------------------------------------


class Transport:
    """Renders an event for one service and posts it to the channel's URL."""

    kind: str = ""
    gone_statuses: frozenset[int] = frozenset({404, 410})

    def __init__(self, channel: Channel):
        self.channel = channel

    def render(self, event: Event) -> dict:
        raise NotImplementedError

    def test_payload(self) -> dict:
        raise NotImplementedError

    def url(self) -> str:
        return self.channel.url

    def send(self, event: Event) -> Outcome:
        # The same key on every attempt: a receiver that keeps them can drop the repeat a crash
        # between sending and recording would cause (Discord and Slack ignore it).
        key = quote(f"{event.key}@channel-{self.channel.pk}", safe=":@-_./")
        return self.post(self.render(event), idempotency_key=key)

    def post(self, payload: dict, *, idempotency_key: str = "") -> Outcome:
        return post_json(
            self.url(), payload, gone_statuses=self.gone_statuses, idempotency_key=idempotency_key
        )


class Discord(Transport):
    kind = Channel.Kind.DISCORD
    # 401: "Invalid Webhook Token"; 404: "Unknown Webhook". Discord asks to stop after either.
    gone_statuses = frozenset({401, 404})

    def render(self, event: Event) -> dict:
        return render.discord(event)

    def test_payload(self) -> dict:
        return {"content": TEST_MESSAGE}

    def url(self) -> str:
        # ``wait=true``: Discord answers only once the message is saved (200 with the message).
        parts = urlsplit(self.channel.url)
        query = dict(parse_qsl(parts.query)) | {"wait": "true"}
        return urlunsplit(parts._replace(query=urlencode(query)))


class Slack(Transport):
    kind = Channel.Kind.SLACK
    # 403 invalid_token / action_prohibited, 404 channel_not_found / no_service, 410 channel_is_archived.
    gone_statuses = frozenset({403, 404, 410})

    def render(self, event: Event) -> dict:
        return render.slack(event)

    def test_payload(self) -> dict:
        return {"text": TEST_MESSAGE}


class Webhook(Transport):
    kind = Channel.Kind.WEBHOOK

    def render(self, event: Event) -> dict:
        return render.webhook(event)

    def test_payload(self) -> dict:
        return {"kind": "test", "message": TEST_MESSAGE}


TEST_MESSAGE = "Test message from the PR orchestrator: this channel works."
TRANSPORTS = {cls.kind: cls for cls in (Discord, Slack, Webhook)}


def transport_for(channel: Channel) -> Transport:
    return TRANSPORTS[channel.kind](channel)
