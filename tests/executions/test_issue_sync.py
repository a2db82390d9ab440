"""sync_issues: PyGithub against the fake GitHub over real HTTP turns labelled issues into tasks and
follows their changes, asking only for what changed (``since``) and conditionally (ETag, 304)."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from executions.backlog.services import create_task
from executions.github.issues import sync_issues
from executions.jobs import sync_issues as sync_issues_job
from executions.models import Repository, Task
from executions.repositories.gateways import get_gateway
from tests.executions.outcomes import SECRET, deliver
from tests.fakes.github import make_execution, serving_github

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
LABEL = "pr-orchestrator"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def github(settings):
    with serving_github(settings) as fake:
        yield fake


@pytest.fixture
def repository(github) -> Repository:
    return create_task(title="Seed the default repository").repository


def sync() -> str:
    out = StringIO()
    call_command("sync_issues", stdout=out)
    return out.getvalue().strip()


def issue_tasks() -> dict[int, tuple[str, str]]:
    return {t.issue_number: (t.title, t.status) for t in Task.objects.filter(source=Task.Source.GITHUB_ISSUE)}


def listing_requests(github):
    return github.requests_to("/repos/octo/widgets/issues", "GET")


def test_the_first_poll_takes_the_open_labelled_issues(github, repository):
    wanted = github.open_issue("Add a health check", "A cheap probe.", labels=(LABEL,))
    github.open_issue("Unlabelled idea")
    closed = github.open_issue("Already done", labels=(LABEL,))
    github.close_issue(closed["number"])

    assert sync() == "octo/widgets: 1 issue(s) read: 1 created"

    assert issue_tasks() == {wanted["number"]: ("Add a health check", "pending")}
    [first] = listing_requests(github)
    assert first.query == {
        "sort": ["updated"], "direction": ["asc"], "per_page": ["100"], "state": ["open"], "labels": [LABEL],
    }  # fmt: skip


def test_later_polls_ask_since_the_last_update_and_conditionally(github, repository, clock):
    issue = github.open_issue("Add a health check", labels=(LABEL,))
    sync()
    repository.refresh_from_db()
    assert repository.issues_since == dt.datetime.fromisoformat(issue["updated_at"])

    assert sync() == "octo/widgets: 1 issue(s) read: 1 unchanged"  # `since` is inclusive
    assert sync() == "octo/widgets: no issue changed"

    second, third = listing_requests(github)[1:]
    assert second.query["since"] == [issue["updated_at"]] and second.query["state"] == ["all"]
    assert "if-none-match" not in second.headers
    assert third.headers["if-none-match"]  # GitHub answered 304: no rate limit used

    github.edit_issue(issue["number"], title="Add a /health/ endpoint")
    assert sync() == "octo/widgets: 1 issue(s) read: 1 updated"
    assert issue_tasks() == {issue["number"]: ("Add a /health/ endpoint", "pending")}


def test_polling_follows_unlabel_close_and_reopen(github, repository):
    unlabelled = github.open_issue("Add a health check", labels=(LABEL,))
    closing = github.open_issue("Add a changelog", labels=(LABEL,))
    sync()

    github.unlabel_issue(unlabelled["number"], LABEL)
    github.close_issue(closing["number"])
    assert sync() == "octo/widgets: 2 issue(s) read: 2 skipped"
    assert {status for _, status in issue_tasks().values()} == {"skipped"}

    github.reopen_issue(closing["number"])
    assert sync() == "octo/widgets: 1 issue(s) read: 1 pending again"  # only what changed since
    assert issue_tasks()[closing["number"]] == ("Add a changelog", "pending")
    assert issue_tasks()[unlabelled["number"]] == ("Add a health check", "skipped")


def test_pull_requests_in_the_issues_list_are_ignored(github, repository):
    execution, change = make_execution(task=create_task(title="Ship it"))
    get_gateway().publish(execution, change, pr_body="A body.")
    github.label_issue(github.open_pulls()[0]["number"], LABEL)  # even with the label

    sync()

    assert issue_tasks() == {}


def test_the_same_issue_by_webhook_and_by_poll_is_one_task(github, repository, settings):
    settings.GITHUB_WEBHOOK_SECRET = SECRET
    issue = github.open_issue("Add a health check", labels=(LABEL,))

    response, _ = deliver(Client(), "issues", github.issues_event("opened", issue["number"]))
    assert response.status_code == 200
    sync()
    deliver(Client(), "issues", github.issues_event("opened", issue["number"]))  # a redelivery, new id

    assert Task.objects.filter(source=Task.Source.GITHUB_ISSUE).count() == 1


def test_a_repository_github_answers_404_for_is_marked_and_the_others_go_on(github, repository):
    github.add_repo("octo/gadgets")
    gadgets = Repository.objects.create(name="octo/gadgets")
    gone = Repository.objects.create(name="octo/gone")
    github.open_issue("Add a gadget", labels=(LABEL,), full_name="octo/gadgets")

    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync_issues", stdout=StringIO(), stderr=err)

    assert failed.value.returncode == 1
    assert "octo/gone: GitHub repository octo/gone was not found" in err.getvalue()
    gone.refresh_from_db()
    assert "octo/gone was not found or is not visible" in gone.problem and gone.problem_at == NOW
    assert [t.repository for t in Task.objects.filter(source=Task.Source.GITHUB_ISSUE)] == [gadgets]


def test_a_marked_repository_is_checked_again_and_comes_back(github, repository):
    Repository.objects.filter(pk=repository.pk).update(problem="GitHub answered 404", problem_at=NOW)
    github.open_issue("Add a health check", labels=(LABEL,))
    fake_repo = github.repos.pop("octo/widgets")

    with pytest.raises(CommandError):
        call_command("sync_issues", stdout=StringIO(), stderr=StringIO())
    repository.refresh_from_db()
    assert "not found" in repository.problem  # still refused, with GitHub's answer now

    github.repos["octo/widgets"] = fake_repo
    assert sync() == "octo/widgets: available again; 1 issue(s) read: 1 created"
    repository.refresh_from_db()
    assert (repository.problem, repository.problem_at) == ("", None)


def test_without_github_configured_enabled_github_repositories_cannot_be_read(github, repository, settings):
    settings.GITHUB_TOKEN = ""

    with pytest.raises(CommandError, match="GitHub is not configured") as failed:
        sync()

    assert failed.value.returncode == 2
    assert sync_issues_job().startswith("not synced: Issues cannot be read")


def test_with_only_local_repositories_there_is_nothing_to_read(settings):
    create_task(title="A local task")  # LOCAL_REPO_PATH's repository
    assert sync() == "No enabled GitHub repository: nothing to read."
    assert sync_issues().lines == []


def test_the_listing_stops_at_its_page_cap_without_reading_a_page_more(github, repository):
    for n in range(101):  # two pages of 100
        github.open_issue(f"Task {n}", labels=(LABEL,))

    page = get_gateway(repository).list_issues(since=None, label=LABEL, max_pages=1)

    assert (len(page.issues), page.complete) == (100, False)
    assert len(listing_requests(github)) == 1  # the second page is the next poll's
