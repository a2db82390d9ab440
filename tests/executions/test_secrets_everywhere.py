"""Every configured secret stays out of whatever is stored or sent (issue 24, item 5).

Each fake (Anthropic, OpenAI, GitHub, Discord) quotes every secret in an error: both API keys, both
admin keys, the GitHub token, the App's private key (one line of it, and the whole key in its
one-line form), the webhook secret, the Discord webhook URL, a Slack and a generic channel's URLs,
and each URL's token on its own. None of them reaches an execution's or a batch's error, an event,
a delivery, a channel, a log record, the command's output, the API, the admin, the dashboard or a
Discord message; each of those places shows the error with ``[redacted]`` where a secret was.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from executions.backlog.services import create_task
from executions.models import Batch, Execution, StepConfig
from executions.pipeline.runner import run_execution
from notifications.delivery import deliver_due
from notifications.models import Channel, Delivery, Event
from tests.fakes.anthropic import API_KEY as ANTHROPIC_KEY
from tests.fakes.discord import FakeDiscord
from tests.fakes.github import GOOD_TOKEN, serving_github
from tests.fakes.openai import API_KEY as OPENAI_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

ANTHROPIC_ADMIN_KEY = "sk-ant-admin01-fake-0123456789abcdef"
OPENAI_ADMIN_KEY = "sk-admin-fake-0123456789abcdef"
PEM_LINES = [
    "MIIEowIBAAKCAQEAwJ7ZkWqf0n3h0fYkqGm1cYbq8m1sQ9zPp1eS0aG2mXGJ4xY3",
    "b9aF1j2vW3e4r5t6y7u8i9o0pAaSsDdFfGgHhJjKkLlZzXxCcVvBbNnMm12345678",
]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_LINES) + "\n-----END RSA PRIVATE KEY-----\n"
WEBHOOK_SECRET = "whsec-fake-0123456789abcdef"
DISCORD_TOKEN = "discordTOKEN-0123456789abcdefghijkl"
SLACK_TOKEN = "slackTOKEN0123456789abcdef"
SLACK_URL = f"https://hooks.slack.com/services/T0000/B0000/{SLACK_TOKEN}"
HOOK_TOKEN = "hookTOKEN-0123456789abcdef"
HOOK_URL = f"https://hooks.example.com/notify?token={HOOK_TOKEN}"


@pytest.fixture
def discord(settings):
    settings.NOTIFY_ASYNC = False
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def secrets(settings, live, discord):
    """Every secret configured: (the values quoted by the fakes, the texts that must never show)."""
    discord_url = discord.webhook_url("17", DISCORD_TOKEN)
    settings.ANTHROPIC_ADMIN_API_KEY = ANTHROPIC_ADMIN_KEY  # another issue adds these settings
    settings.OPENAI_ADMIN_API_KEY = OPENAI_ADMIN_KEY
    settings.GITHUB_APP_PRIVATE_KEY = PEM
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.DISCORD_WEBHOOK_URL = discord_url
    Channel.objects.create(name="Slack", kind=Channel.Kind.SLACK, url=SLACK_URL, enabled=False)
    Channel.objects.create(name="Hook", kind=Channel.Kind.WEBHOOK, url=HOOK_URL, enabled=False)
    quoted = [
        ANTHROPIC_KEY,
        OPENAI_KEY,
        ANTHROPIC_ADMIN_KEY,
        OPENAI_ADMIN_KEY,
        GOOD_TOKEN,
        PEM_LINES[1],
        PEM.strip().replace("\n", "\\n"),  # as an environment line holds it
        WEBHOOK_SECRET,
        discord_url,
        DISCORD_TOKEN,
        SLACK_URL,
        SLACK_TOKEN,
        HOOK_URL,
        HOOK_TOKEN,
    ]
    never = [*quoted, *PEM_LINES, ANTHROPIC_KEY[8:], DISCORD_TOKEN[:20]]
    return quoted, never


def all_of(quoted: list[str]) -> str:
    return "leaked: " + " ".join(quoted)


def test_no_secret_reaches_anything_stored_or_sent(secrets, live, discord, settings, admin_client, caplog):
    quoted, never = secrets
    anthropic_fake, openai_fake = live
    caplog.set_level("INFO")
    with serving_github(settings) as github:
        settings.GITHUB_TOKEN = GOOD_TOKEN
        anthropic_fake.fail(400, message=all_of(quoted))
        by_anthropic = run_execution(create_task(title="Add a health check"))
        openai_fake.fail(400, message=all_of(quoted))
        by_openai = run_execution(create_task(title="Add a changelog"))
        github.fail_on("POST", "/pulls", 422, {"message": all_of(quoted)})
        by_github = run_execution(create_task(title="Add a license"))
        StepConfig.objects.filter(step="analysis").update(batch=True)
        create_task(title="Add a readme")
        anthropic_fake.fail(400, message=all_of(quoted))
        out = StringIO()
        call_command("run_batches", stdout=out)
        StepConfig.objects.update(batch=False)
    discord.fail_next(400, {"message": all_of(quoted), "code": 50035})
    deliver_due()

    # Each failure was stored and sent, with every secret it quoted masked.
    assert by_anthropic.error.count("[redacted]") == len(quoted)
    assert by_openai.error.count("[redacted]") == len(quoted)
    assert "GitHub could not complete opening the pull request (422: leaked: [redacted]" in by_github.error
    batch = Batch.objects.get()
    assert batch.refused and batch.error.count("[redacted]") == len(quoted)
    [dead] = Delivery.objects.filter(status="dead")
    assert dead.last_error.startswith("400 Bad Request: ") and "[redacted]" in dead.last_error
    assert any("redacted" in json.dumps(message) for message in discord.messages)  # [] shown as ⁅⁆
    api = admin_client.get("/api/v1/executions/").content.decode()
    assert "[redacted]" in api
    places = {
        "executions' errors": " ".join(Execution.objects.values_list("error", flat=True)),
        "the batch's error": batch.error,
        "events": json.dumps(list(Event.objects.values_list("payload", flat=True))),
        "deliveries": " ".join(Delivery.objects.values_list("last_error", flat=True)),
        "channels": " ".join(Channel.objects.values_list("disabled_reason", flat=True)),
        "the worker log": caplog.text,
        "run_batches' output": out.getvalue(),
        "Discord": json.dumps(discord.messages),
        "the API": api
        + "".join(
            admin_client.get(f"/api/v1/executions/{e.pk}/").content.decode() for e in Execution.objects.all()
        ),
        "the admin": "".join(
            admin_client.get(url).content.decode()
            for url in [
                "/admin/executions/execution/",
                *(f"/admin/executions/execution/{e.pk}/change/" for e in Execution.objects.all()),
                f"/admin/executions/batch/{batch.pk}/change/",
                "/admin/notifications/delivery/",
                *(
                    f"/admin/notifications/event/{pk}/change/"
                    for pk in Event.objects.values_list("pk", flat=True)
                ),
            ]
        ),
        "the dashboard": admin_client.get("/admin/dashboard/").content.decode(),
    }
    for place, text in places.items():
        for secret in never:
            assert secret not in text, f"{place} shows {secret[:12]}…"
