"""DEBUG is off unless asked for, and Django's debug page shows no secret when it is on."""

import sys

from django.test import RequestFactory
from django.views.debug import technical_500_response

from tests.test_settings import assert_configuration_error, manage

WEBHOOK = "https://discord.com/api/webhooks/1234567890/webhook-token-AbCdEf0123456789"
DATABASE_PASSWORD = "db-password-Zq81"
REDIS_PASSWORD = "redis-password-Xw42"
SECRETS = {
    "DISCORD_WEBHOOK_URL": WEBHOOK,
    "_DATABASE_URL": f"postgres://orchestrator:{DATABASE_PASSWORD}@db.internal:5432/orchestrator",
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@redis.internal:6379/0",
    "SECRET_KEY": "django-secret-key-0123456789-abcdefghijklmnop",
    "ANTHROPIC_API_KEY": "sk-ant-secret-anthropic-key-0123",
    "OPENAI_API_KEY": "sk-proj-secret-openai-key-0123",
    "GITHUB_TOKEN": "ghp_secretgithubtoken0123456789",
    "GITHUB_WEBHOOK_SECRET": "github-webhook-secret-0123",
    "SMTP_PASSWORD": "smtp-password-0123",
}
SHOWN_SECRETS = [WEBHOOK, "webhook-token-AbCdEf0123456789", DATABASE_PASSWORD, REDIS_PASSWORD] + [
    value for value in SECRETS.values() if "://" not in value
]


def debug_page(settings) -> str:
    settings.DEBUG = True
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": SECRETS["REDIS_URL"]}
    # What ``runserver`` puts in request.META: the whole environment.
    environment = {
        "DATABASE_URL": SECRETS["_DATABASE_URL"],
        "DISCORD_WEBHOOK_URL": WEBHOOK,
        "GITHUB_TOKEN": SECRETS["GITHUB_TOKEN"],
        "NOTES": f"hook at {WEBHOOK}",
    }
    request = RequestFactory().post("/api/v1/tasks/", {"title": "x"}, **environment)
    try:
        connect_to = f"see {WEBHOOK}"  # noqa: F841 - a local variable the page lists
        raise RuntimeError("boom")
    except RuntimeError:
        return technical_500_response(request, *sys.exc_info()).content.decode()


def test_the_debug_page_masks_every_secret(settings):
    page = debug_page(settings)

    assert "RuntimeError" in page and "DISCORD_WEBHOOK_URL" in page  # the page did render them
    for secret in SHOWN_SECRETS:
        assert secret not in page, secret
    assert "db.internal" not in page  # the whole URL with a password is masked, not just its password


def test_harmless_settings_stay_readable(settings):
    page = debug_page(settings)

    assert "orchestration_site.urls" in page  # ROOT_URLCONF
    assert "simulated" in page or "live" in page  # ORCHESTRATOR_MODE


def test_debug_is_off_by_default_and_then_needs_a_secret_key():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        DEBUG=None,
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijkl",
    )
    assert result.stdout.split()[-1:] == ["False"], result.stderr
    assert_configuration_error(manage("check", DEBUG=None), "Set the SECRET_KEY environment variable")


def test_debug_on_for_development_runs_without_a_secret_key():
    result = manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)", DEBUG="1")
    assert result.stdout.split()[-1:] == ["True"], result.stderr
