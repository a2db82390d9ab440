"""Slack and the generic JSON webhook, the masked URL, and URL validation."""

import pytest
from django.core.exceptions import ValidationError

from notifications.channels import validate_url
from notifications.delivery import deliver_due
from notifications.models import Channel, Delivery, mask_url
from notifications.transports import scrub
from tests.fakes.server import FakeServer, Request, Response
from tests.notifications.conftest import error_event

pytestmark = pytest.mark.django_db


class FakeSlack(FakeServer):
    """Slack incoming webhooks: 200 "ok"; 404 "no_service" once the webhook is removed."""

    def handle(self, request: Request) -> Response:
        if not request.path.startswith("/services/"):
            return Response(404, "no_service")
        return Response(200, "ok")


class FakeReceiver(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response(202, {"accepted": True})


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def test_slack_gets_its_own_shape(slack):
    Channel.objects.create(
        name="Slack", kind=Channel.Kind.SLACK, url=f"{slack.url}/services/T000/B000/XXXXsecretXXXX"
    )
    error_event(7)

    assert deliver_due() == "notifications: 1 sent"

    [request] = slack.requests
    assert request.path == "/services/T000/B000/XXXXsecretXXXX" and not request.query
    assert "marker000007" in request.json["text"] + str(request.json["blocks"])


def test_a_removed_slack_webhook_turns_the_channel_off(slack):
    channel = Channel.objects.create(
        name="Slack", kind=Channel.Kind.SLACK, url=f"{slack.url}/gone/T000/XXXXsecretXXXX"
    )
    error_event(1)

    assert deliver_due() == "notifications: 1 disabled"

    channel.refresh_from_db()
    assert not channel.enabled and channel.disabled_reason.startswith(
        "The webhook answered 404 Not Found: no_service"
    )


def test_the_generic_webhook_gets_the_event_and_its_facts():
    with FakeReceiver() as receiver:
        Channel.objects.create(name="Hook", kind=Channel.Kind.WEBHOOK, url=f"{receiver.url}/hooks/in")
        event = error_event(3)

        assert deliver_due() == "notifications: 1 sent"

    body = receiver.requests[0].json
    assert (body["kind"], body["key"], body["facts"]["message"]) == ("error", event.key, "marker000003")
    # The same on every attempt, so a receiver can drop a repeat after a worker crash.
    channel_id = Delivery.objects.get().channel_id
    assert receiver.requests[0].headers["idempotency-key"] == f"test:3@channel-{channel_id}"
    assert Delivery.objects.get().response_status == 202


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "https://discord.com/api/webhooks/1234567890/s3cr3t-token",
            "https://discord.com/api/webhooks/…/****",
        ),
        ("https://discord.com/api/v10/webhooks/1/tok", "https://discord.com/api/v10/webhooks/…/****"),
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/services/…/****"),
        ("https://example.com/in/abc?token=zzz", "https://example.com/…/****"),
        ("http://127.0.0.1:8080/api/webhooks/1/t", "http://127.0.0.1:8080/api/webhooks/…/****"),
        ("not a url", "****"),
    ],
)
def test_mask_url_hides_ids_and_tokens(url, masked):
    assert mask_url(url) == masked


def test_scrub_removes_the_url_and_its_token_from_server_text():
    url = "https://example.com/hooks/abcdef123456"
    assert scrub(f"no route for {url} (/hooks/abcdef123456, token abcdef123456)", url) == (
        "no route for **** (****, token ****)"
    )


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        (
            "discord",
            "discord.com/api/webhooks/1/t",
            "The webhook URL must start with https:// and name a host.",
        ),
        (
            "discord",
            "ftp://discord.com/api/webhooks/1/t",
            "The webhook URL must start with https:// and name a host.",
        ),
        (
            "discord",
            "http://discord.com/api/webhooks/1/t",
            "The webhook URL must use https:// (plain http only for localhost).",
        ),
        (
            "discord",
            "https://discord.com/channels/1/2",
            "A Discord webhook URL looks like https://discord.com/api/webhooks/<id>/<token>.",
        ),
    ],
)
def test_bad_urls_are_refused_with_one_clear_line_without_the_url(kind, url, message):
    with pytest.raises(ValidationError) as exc:
        validate_url(kind, url)
    assert exc.value.messages == [message]


def test_good_urls_pass():
    validate_url("discord", "https://discord.com/api/webhooks/123/abc-DEF_1")
    validate_url("slack", "https://hooks.slack.com/services/T0/B0/XXXX")
    validate_url("webhook", "http://localhost:8000/in")


class Redirecting(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response(301, None, {"Location": "https://elsewhere.example/hook?token=abc"})


def test_a_redirecting_webhook_turns_the_channel_off_without_following_it():
    with Redirecting() as fake:
        channel = Channel.objects.create(name="Moved", kind=Channel.Kind.WEBHOOK, url=f"{fake.url}/in")
        error_event(1)

        assert deliver_due() == "notifications: 1 disabled"

    channel.refresh_from_db()
    assert channel.disabled_reason.startswith(
        "The webhook answered 301 Moved Permanently: the webhook URL redirects elsewhere (turned off "
    )
    assert len(fake.requests) == 1


def test_a_url_requests_cannot_use_turns_the_channel_off():
    channel = Channel.objects.create(
        name="Typo", kind=Channel.Kind.WEBHOOK, url="https://exa mple.com:port/in"
    )
    error_event(1)

    assert deliver_due() == "notifications: 1 disabled"

    channel.refresh_from_db()
    assert channel.disabled_reason.startswith(
        "Not sent: the webhook URL is not a valid http(s) URL (turned off "
    )
