"""GitHub issues become tasks through the signed webhook: label → task, edit → new text, unlabel and
close → skipped, reopen → pending; what is not ours, unsigned or replayed changes nothing.

The payloads are the fake GitHub's own ``issues_event``: the issue as its API shows it after the
change, which is what GitHub sends.
"""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from executions.backlog.services import create_task
from executions.models import Repository, Task, WebhookDelivery
from tests.executions.outcomes import SECRET, deliver
from tests.fakes.github import serving_github

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
        settings.GITHUB_WEBHOOK_SECRET = SECRET
        yield fake


@pytest.fixture
def repository(github) -> Repository:
    """octo/widgets, configured (the settings' repository: created as the default)."""
    return create_task(title="Seed the default repository").repository


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


def send(client, github, action: str, number: int, **kw):
    response, _ = deliver(client, "issues", github.issues_event(action, number, **kw))
    return response


def issue_task() -> Task:
    return Task.objects.get(source=Task.Source.GITHUB_ISSUE)


def test_a_labelled_issue_becomes_a_pending_task(client, github, repository):
    issue = github.open_issue("Add a health check", 'GET /health/ answers {"ok": true}.', labels=(LABEL,))

    response = send(client, github, "opened", issue["number"])

    assert response.status_code == 200
    task = issue_task()
    assert response.json() == {"detail": f"created task {task.pk} from octo/widgets#{issue['number']}"}
    assert (task.title, task.description, task.status) == (
        "Add a health check",
        'GET /health/ answers {"ok": true}.',
        Task.Status.PENDING,
    )
    assert (task.repository, task.issue_number, task.priority) == (repository, issue["number"], 0)
    assert task.source_key == f"github_issue:{repository.pk}#{issue['number']}"


def test_an_issue_without_the_label_is_ignored_until_it_is_labelled(client, github, repository):
    issue = github.open_issue("Fix the typo in the README", labels=("bug",))

    assert send(client, github, "opened", issue["number"]).status_code == 204
    assert not Task.objects.filter(source=Task.Source.GITHUB_ISSUE).exists()

    github.label_issue(issue["number"], LABEL)
    assert send(client, github, "labeled", issue["number"]).status_code == 200
    assert issue_task().status == Task.Status.PENDING


def test_an_edit_updates_a_task_that_has_not_started(client, github, repository):
    issue = github.open_issue("Add a health check", "First words.", labels=(LABEL,))
    send(client, github, "opened", issue["number"])
    github.edit_issue(issue["number"], title="Add a /health/ endpoint", body="Better words.")

    response = send(client, github, "edited", issue["number"])

    assert response.status_code == 200 and response.json()["detail"].startswith("updated task")
    task = issue_task()
    assert (task.title, task.description) == ("Add a /health/ endpoint", "Better words.")


def test_an_edit_never_changes_a_task_that_started(client, github, repository):
    issue = github.open_issue("Add a health check", "First words.", labels=(LABEL,))
    send(client, github, "opened", issue["number"])
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(status=Task.Status.RUNNING)
    github.edit_issue(issue["number"], body="Words that arrive too late.")

    assert send(client, github, "edited", issue["number"]).status_code == 204

    assert issue_task().description == "First words."


def test_unlabel_and_close_skip_the_pending_task_and_reopen_makes_it_pending_again(
    client, github, repository
):
    labelled = github.open_issue("Add a health check", labels=(LABEL,))
    closing = github.open_issue("Add a changelog", labels=(LABEL,))
    send(client, github, "opened", labelled["number"])
    send(client, github, "opened", closing["number"])

    github.unlabel_issue(labelled["number"], LABEL)
    github.close_issue(closing["number"])
    send(client, github, "unlabeled", labelled["number"])
    send(client, github, "closed", closing["number"])

    statuses = dict(Task.objects.values_list("issue_number", "status"))
    assert statuses[labelled["number"]] == statuses[closing["number"]] == Task.Status.SKIPPED

    github.reopen_issue(closing["number"])
    github.label_issue(labelled["number"], LABEL)
    assert send(client, github, "reopened", closing["number"]).json()["detail"].startswith("pending again")
    send(client, github, "labeled", labelled["number"])

    statuses = dict(Task.objects.values_list("issue_number", "status"))
    assert statuses[labelled["number"]] == statuses[closing["number"]] == Task.Status.PENDING


def test_a_task_skipped_by_a_person_stays_skipped_while_its_issue_is_edited(client, github, repository):
    issue = github.open_issue("Add a health check", labels=(LABEL,))
    send(client, github, "opened", issue["number"])
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(
        status=Task.Status.SKIPPED
    )  # the admin's Skip
    github.edit_issue(issue["number"], body="More detail.")

    send(client, github, "edited", issue["number"])

    assert issue_task().status == Task.Status.SKIPPED


def test_a_deleted_issue_skips_its_task(client, github, repository):
    issue = github.open_issue("Add a health check", labels=(LABEL,))
    send(client, github, "opened", issue["number"])
    gone = github.delete_issue(issue["number"])

    response, _ = deliver(client, "issues", github.issues_event("deleted", issue["number"], issue=gone))

    assert response.status_code == 200
    assert (issue_task().status, issue_task().issue_state) == (Task.Status.SKIPPED, "deleted")


def test_closing_a_running_task_lets_it_finish_and_it_is_not_retried(client, github, repository):
    from executions.backlog.services import next_pending_task

    issue = github.open_issue("Add a health check", labels=(LABEL,))
    send(client, github, "opened", issue["number"])
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(status=Task.Status.RUNNING)
    github.close_issue(issue["number"])

    send(client, github, "closed", issue["number"])

    assert issue_task().status == Task.Status.RUNNING  # it finishes
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(
        status=Task.Status.PENDING
    )  # it failed, retry
    assert next_pending_task().title == "Seed the default repository"  # not the closed issue's task


def test_priority_comes_from_the_labels(client, github, repository):
    high = github.open_issue("Fix the login", labels=(LABEL, "priority:high"))
    low = github.open_issue("Tidy the docs", labels=(LABEL, "Priority:Low"))  # labels ignore case
    send(client, github, "opened", high["number"])
    send(client, github, "opened", low["number"])

    assert dict(Task.objects.filter(source="github_issue").values_list("title", "priority")) == {
        "Fix the login": 10,
        "Tidy the docs": -10,
    }
    github.unlabel_issue(high["number"], "priority:high")
    send(client, github, "unlabeled", high["number"])
    assert Task.objects.get(title="Fix the login").priority == 0


def test_a_body_over_the_cap_is_cut_with_a_note(client, github, repository, settings):
    settings.ISSUE_BODY_MAX_BYTES = 100
    issue = github.open_issue("Rewrite the parser", "é" * 300, labels=(LABEL,))  # 600 bytes

    assert send(client, github, "opened", issue["number"]).status_code == 200

    description = issue_task().description
    assert description.startswith("é" * 50) and "é" * 51 not in description
    assert "cut here: it is longer than 100 bytes (ISSUE_BODY_MAX_BYTES)" in description


def test_an_older_view_of_the_issue_changes_nothing(client, github, repository):
    issue = github.open_issue("Add a health check", labels=(LABEL,))
    opened = github.issues_event("opened", issue["number"])  # delivered late
    github.edit_issue(issue["number"], title="Add a /health/ endpoint")
    deliver(client, "issues", github.issues_event("edited", issue["number"]))

    response, _ = deliver(client, "issues", opened)

    assert response.status_code == 204
    assert issue_task().title == "Add a /health/ endpoint"


def test_other_repositories_unsigned_deliveries_and_replays_change_nothing(client, github, repository):
    github.add_repo("someone/else")
    stranger = github.open_issue("Do our work for free", labels=(LABEL,), full_name="someone/else")
    ours = github.open_issue("Add a health check", labels=(LABEL,))

    from_elsewhere = send(client, github, "opened", stranger["number"], full_name="someone/else")
    unsigned, _ = deliver(client, "issues", github.issues_event("opened", ours["number"]), secret=None)
    forged, _ = deliver(client, "issues", github.issues_event("opened", ours["number"]), secret="guessed")

    assert (from_elsewhere.status_code, unsigned.status_code, forged.status_code) == (204, 403, 403)
    assert not Task.objects.filter(source=Task.Source.GITHUB_ISSUE).exists()
    assert not WebhookDelivery.objects.exists()

    first, delivery = deliver(client, "issues", github.issues_event("opened", ours["number"]))
    Task.objects.filter(source=Task.Source.GITHUB_ISSUE).update(status=Task.Status.SKIPPED)
    replay, _ = deliver(client, "issues", github.issues_event("opened", ours["number"]), delivery=delivery)

    assert (first.status_code, replay.status_code) == (200, 204)
    assert issue_task().status == Task.Status.SKIPPED


def test_a_disabled_repository_takes_no_new_issue(client, github, repository):
    Repository.objects.filter(pk=repository.pk).update(enabled=False)
    issue = github.open_issue("Add a health check", labels=(LABEL,))

    assert send(client, github, "opened", issue["number"]).status_code == 204
    assert not Task.objects.filter(source=Task.Source.GITHUB_ISSUE).exists()


def test_an_issues_delivery_without_an_issue_is_a_400(client, github, repository):
    response, _ = deliver(
        client, "issues", {"action": "opened", "issue": {}, "repository": {"full_name": "octo/widgets"}}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "issue.number is missing"}
