"""Text from GitHub is untrusted input (issue 32, items 3, 5 and 6): cleaned where it is read —
every configured secret masked, NUL and lone surrogates replaced — and numbers bounded to what
their columns hold. A signed webhook answers 400, never 500; one bad issue never stops a poll.
The real PyGithub against the fake GitHub; deliveries through the signed webhook."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from executions.backlog.services import create_task
from executions.models import Repository, Task
from tests.executions.outcomes import SECRET, deliver
from tests.fakes.github import GOOD_TOKEN, serving_github
from tests.fakes.openai import API_KEY as OPENAI_KEY

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
LABEL = "pr-orchestrator"
QUOTING = f"token {GOOD_TOKEN}, key {OPENAI_KEY}, hook {SECRET}"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def github(settings):
    with serving_github(settings) as fake:
        settings.GITHUB_WEBHOOK_SECRET = SECRET
        settings.OPENAI_API_KEY = OPENAI_KEY  # configured, so masked (the vendor is not called here)
        yield fake


@pytest.fixture
def repository(github) -> Repository:
    return create_task(title="Seed the default repository").repository


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def issue_tasks() -> list[Task]:
    return list(Task.objects.filter(source=Task.Source.GITHUB_ISSUE).order_by("pk"))


def assert_no_secret_in(*texts: str) -> None:
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate
        for secret in (GOOD_TOKEN, OPENAI_KEY, SECRET):
            assert secret not in text


def test_an_issue_number_beyond_its_column_is_refused_with_400(client, github, repository):
    issue = github.open_issue("Add a health check", labels=(LABEL,))
    payload = github.issues_event("opened", issue["number"])
    payload["issue"]["number"] = 2**70

    response, _ = deliver(client, "issues", payload)

    assert response.status_code == 400
    assert response.json() == {"detail": "issue.number is out of range (1 to 2147483647)"}
    assert issue_tasks() == []


def test_a_pull_request_number_beyond_its_column_is_refused_with_400(client, github, repository):
    payload = {
        "action": "closed",
        "pull_request": {"number": 2**70},
        "repository": {"full_name": "octo/widgets"},
    }

    assert deliver(client, "pull_request", payload)[0].status_code == 400


def test_a_surrogate_nul_and_secrets_in_an_issue_are_cleaned_where_it_is_read(client, github, repository):
    issue = github.open_issue("Fix \ud800 the views\x00", f"It fails with {QUOTING}.\x00", labels=(LABEL,))

    response, _ = deliver(client, "issues", github.issues_event("opened", issue["number"]))

    assert response.status_code == 200, response.content
    [task] = issue_tasks()
    assert task.title == "Fix \ufffd the views\ufffd"
    assert task.description == "It fails with token [redacted], key [redacted], hook [redacted].\ufffd"
    assert_no_secret_in(task.title, task.description)


def test_one_bad_issue_never_stops_the_poll_of_any_repository(github, repository):
    github.add_repo("octo/gadgets")
    Repository.objects.create(name="octo/gadgets")
    github.open_issue("Bad \ud800 title\x00", f"Quotes {QUOTING}\x00", labels=(LABEL,))
    github.open_issue("A good one", labels=(LABEL,))
    github.open_issue("Gadgets need a README", labels=(LABEL,), full_name="octo/gadgets")
    out = StringIO()

    call_command("sync_issues", stdout=out)

    titles = {task.title for task in issue_tasks()}
    assert titles == {"Bad \ufffd title\ufffd", "A good one", "Gadgets need a README"}
    assert_no_secret_in(*[task.description for task in issue_tasks()])
    assert "octo/gadgets: 1 issue(s) read: 1 created" in out.getvalue()


def test_an_issue_number_beyond_its_column_in_a_listing_is_unreadable_and_the_rest_is_read(
    github, repository
):
    too_big = github.open_issue("Too big", labels=(LABEL,))
    github.open_issue("Fine", labels=(LABEL,))
    too_big["number"] = 2**31
    out = StringIO()

    call_command("sync_issues", stdout=out)

    assert [task.title for task in issue_tasks()] == ["Fine"]
    assert "1 unreadable" in out.getvalue()
