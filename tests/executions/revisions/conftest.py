"""Fixtures for the revision tests over the three fakes: the product's open pull request #1, and
the fakes answering as a revision's analyst and coder would."""

import pytest
from django.core.management import call_command
from django.test import Client

from executions.models import PullRequest
from tests.executions.outcomes import SECRET
from tests.fakes.github import serving_github
from tests.fakes.openai import change

FIXED = "    return JsonResponse({'ok': True, 'version': '1'})"
REVISED_PLAN = "1. In app/health.py, answer with the version too.\n"


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        settings.GITHUB_WEBHOOK_SECRET = SECRET
        yield fake


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """``manage.py run_execution`` with the comments it owes posted, as after its commits."""

    def run_execution(*args, **options):
        with django_capture_on_commit_callbacks(execute=True):
            call_command("run_execution", *args, **options)

    return run_execution


@pytest.fixture
def pr(live, fake_github) -> PullRequest:
    """The product's pull request #1 on octo/widgets: the fakes' default answers (a new
    app/health.py and app/urls.py); the fakes then answer as a revision's analyst and coder."""
    anthropic_fake, openai_fake = live
    call_command("run_execution", "Add health check endpoint")
    anthropic_fake.tool_input = {"plan": REVISED_PLAN, "files": ["app/health.py"]}
    openai_fake.content = change(
        {
            "path": "app/health.py",
            "action": "edit",
            "edits": [{"search": "    return JsonResponse({'ok': True})", "replace": FIXED}],
        },
        summary="Answers with the version too.",
    )
    return PullRequest.objects.get()
