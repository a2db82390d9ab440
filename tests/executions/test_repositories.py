"""Several repositories under one budget: each task's PR opens in its own repository, the scheduler
picks by priority then age across them, a disabled or unreachable repository's tasks wait while the
others go on, and the figures per repository add up to the month's everywhere they are shown."""

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from budget.models import Period
from budget.money import dollars_str, to_nanos
from executions.backlog.services import create_task, next_pending_task
from executions.batches.passes import run_batches_pass
from executions.context import repoindex
from executions.costs.recap import send_recap
from executions.errors import RepositoryDisabled
from executions.github.pull_requests import Observed, apply
from executions.models import Execution, PullRequest, Repository, RepositoryUsage, Task
from executions.pipeline.runner import run_execution
from executions.scheduling.scheduler import run_next_execution
from notifications import render
from notifications.models import Event
from tests.api.conftest import client_for
from tests.fakes.github import SEED_FILES, serving_github
from tests.migrations.chains import without_squashes

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def github(settings):
    settings.PACING_ENABLED = False  # the scheduler runs one task per call, whatever the day
    with serving_github(settings) as fake:
        fake.add_repo("octo/gadgets", files={"README.md": "# Gadgets\n", "gadgets/core.py": "X = 1\n"})
        yield fake


@pytest.fixture
def widgets(github) -> Repository:
    return create_task(title="Add a health check").repository  # the settings' repository


@pytest.fixture
def gadgets(github) -> Repository:
    return Repository.objects.create(name="octo/gadgets", pr_labels="ai-generated, gadgets")


def run_all() -> list[str]:
    outcomes = []
    while next_pending_task() is not None:
        outcomes.append(run_next_execution())
    return outcomes


def test_two_repositories_each_get_their_prs_under_one_budget(github, widgets, gadgets, settings):
    repoindex.clear_memory_cache()  # an earlier test's fake had the same commits
    create_task(title="Add a changelog", repository=widgets)
    create_task(title="Count the gadgets", repository=gadgets)

    run_all()

    assert Execution.objects.filter(status="succeeded").count() == 3
    widget_pulls, gadget_pulls = github.open_pulls("octo/widgets"), github.open_pulls("octo/gadgets")
    assert len(widget_pulls) == 2 and len(gadget_pulls) == 1
    assert [label["name"] for label in gadget_pulls[0]["labels"]] == ["ai-generated", "gadgets"]
    gadget_task = Task.objects.get(title="Count the gadgets")
    assert gadget_pulls[0]["head"]["ref"].endswith(f"/{gadget_task.pk}-count-the-gadgets")
    # The coder saw the gadgets' files, and the change was committed on their base.
    assert set(SEED_FILES) <= set(github.files_at(widget_pulls[0]["head"]["sha"]))
    assert "gadgets/core.py" in github.files_at(gadget_pulls[0]["head"]["sha"])
    assert set(PullRequest.objects.values_list("repository", "number")) == {
        ("octo/widgets", widget_pulls[0]["number"]),
        ("octo/widgets", widget_pulls[1]["number"]),
        ("octo/gadgets", gadget_pulls[0]["number"]),
    }
    # One budget: one period, one reservation ledger; the repositories' spend adds up to it.
    period = Period.objects.get()
    rows = {r.repository.name: r for r in RepositoryUsage.objects.filter(period=period)}
    assert sum(r.spent_nanos for r in rows.values()) == period.spent_nanos > 0
    assert (rows["octo/widgets"].executions, rows["octo/gadgets"].executions) == (2, 1)
    assert (rows["octo/widgets"].prs, rows["octo/gadgets"].prs) == (2, 1)
    assert period.reserved_nanos == 0
    # Each repository's commits have their own context cache.
    folders = {p.name.rsplit("-", 1)[0] for p in Path(settings.CONTEXT_CACHE_DIR).iterdir()}
    assert folders == {"octo-widgets", "octo-gadgets"}


def test_the_figures_per_repository_add_up_everywhere(
    github, widgets, gadgets, admin_client, django_user_model
):
    create_task(title="Count the gadgets", repository=gadgets)
    run_all()
    merged = PullRequest.objects.get(repository="octo/gadgets")
    apply(merged, Observed(state="merged"))
    period = Period.objects.get()
    gadget_spent = RepositoryUsage.objects.get(repository=gadgets).spent_nanos
    widget_spent = period.spent_nanos - gadget_spent

    # budget status --json
    out = StringIO()
    call_command("budget", "status", "--json", stdout=out)
    status = json.loads(out.getvalue())
    assert status["repositories"] == [
        {
            "repository": r.name,
            "kind": "github",
            "spent": spent,
            "executions": 1,
            "prs": 1,
            "merged_prs": merged_prs,
            "cost_per_merged_pr": spent if merged_prs else None,
        }
        for r, spent, merged_prs in sorted(
            [(gadgets, _dollars(gadget_spent), 1), (widgets, _dollars(widget_spent), 0)],
            key=lambda row: (-to_nanos(row[1]), row[0].name),
        )
    ]
    assert sum(to_nanos(r["spent"]) for r in status["repositories"]) == to_nanos(status["spent"])
    assert sum(r["executions"] for r in status["repositories"]) == status["executions"] == 2
    assert sum(r["merged_prs"] for r in status["repositories"]) == status["merged_prs"] == 1
    text = StringIO()
    call_command("budget", "status", stdout=text)
    assert "Repositories" in text.getvalue() and "octo/gadgets" in text.getvalue()

    # The usage API: both endpoints, and one repository's figures with ?repository=
    api = client_for(django_user_model.objects.create_user("member", password="member-pass-123"))
    current = api.get("/api/v1/usage/current/").json()
    assert current["repositories"] == status["repositories"]
    [month] = api.get("/api/v1/usage/months/").json()
    assert month["repositories"] == status["repositories"]
    only = api.get("/api/v1/usage/current/", {"repository": "octo/gadgets"}).json()
    assert [r["repository"] for r in only["repositories"]] == ["octo/gadgets"]
    assert only["spent"] == current["spent"]  # the budget stays the month's
    [month_of_gadgets] = api.get("/api/v1/usage/months/", {"repository": "octo/gadgets"}).json()
    assert month_of_gadgets["repositories"] == only["repositories"]
    assert only["repositories"][0]["cost_per_merged_pr"] == _dollars(gadget_spent)
    unknown = api.get("/api/v1/usage/current/", {"repository": "octo/nothing"})
    assert unknown.status_code == 400 and unknown.json() == {
        "detail": "There is no repository 'octo/nothing'."
    }

    # The dashboard
    page = admin_client.get("/admin/dashboard/").content.decode()
    panel = page[page.index('data-testid="repositories"') :]
    assert 'data-repository="octo/gadgets"' in panel and f'data-dollars="{_dollars(gadget_spent)}"' in panel
    assert 'data-repository="octo/widgets"' in panel

    # The monthly recap
    with time_machine.travel(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC), tick=False):
        assert send_recap(period)
    event = Event.objects.get(kind=Event.Kind.MONTHLY_RECAP)
    assert event.payload["repositories"] == status["repositories"]
    fields = {f["name"]: f["value"] for f in render.discord(event)["embeds"][0]["fields"]}
    assert fields["Repositories"].splitlines()[0].startswith(f"`{status['repositories'][0]['repository']}`")


def _dollars(nanos: int) -> str:
    return dollars_str(nanos)


def test_the_scheduler_picks_by_priority_then_age_across_repositories(github, widgets, gadgets, clock):
    clock.shift(dt.timedelta(minutes=1))
    create_task(title="Count the gadgets", repository=gadgets)
    clock.shift(dt.timedelta(minutes=1))
    create_task(title="Fix the login", repository=widgets, priority=5)
    clock.shift(dt.timedelta(minutes=1))
    create_task(title="Polish the gadgets", repository=gadgets, priority=5)

    run_all()

    ran = list(Execution.objects.order_by("pk").values_list("task__title", flat=True))
    assert ran == ["Fix the login", "Polish the gadgets", "Add a health check", "Count the gadgets"]


def test_a_disabled_repositorys_tasks_wait_and_the_others_run(github, widgets, gadgets):
    waiting = create_task(title="Count the gadgets", repository=gadgets, priority=9)
    Repository.objects.filter(pk=gadgets.pk).update(enabled=False)

    run_all()

    assert Task.objects.get(pk=waiting.pk).status == Task.Status.PENDING
    assert Task.objects.get(title="Add a health check").status == Task.Status.DONE
    with pytest.raises(RepositoryDisabled, match="octo/gadgets is disabled"):
        run_execution(waiting)

    Repository.objects.filter(pk=gadgets.pk).update(enabled=True)
    assert next_pending_task() == waiting


def test_a_repository_github_answers_404_for_waits_and_the_other_goes_on(github, widgets, admin_client):
    gone = Repository.objects.create(name="octo/gone")
    lost = create_task(title="Work on a deleted repository", repository=gone, priority=9)

    outcome = run_next_execution()

    assert outcome.startswith("execution") and outcome.endswith("succeeded")
    assert Task.objects.get(title="Add a health check").status == Task.Status.DONE
    gone.refresh_from_db()
    assert "octo/gone was not found or is not visible" in gone.problem and gone.problem_at == NOW
    assert Task.objects.get(pk=lost.pk).status == Task.Status.PENDING and not lost.executions.exists()
    assert next_pending_task() is None  # it waits until GitHub answers for it again
    assert Period.objects.get().spent_nanos == RepositoryUsage.objects.get(repository=widgets).spent_nanos
    # The admin says why, and so does the dashboard.
    listing = admin_client.get("/admin/executions/repository/").content.decode()
    assert "unavailable" in listing and "octo/gone was not found or is not visible" in listing
    dashboard = admin_client.get("/admin/dashboard/").content.decode()
    assert "Repository octo/gone is unavailable, its tasks wait: GitHub repository octo/gone" in dashboard

    # Once GitHub answers for it (say the repository was restored), a check in the admin resumes it.
    github.add_repo("octo/gone")
    response = admin_client.post(
        "/admin/executions/repository/", {"action": "check_access", "_selected_action": [gone.pk]}
    )
    assert response.status_code == 302
    gone.refresh_from_db()
    assert (gone.problem, gone.problem_at) == ("", None)
    assert next_pending_task() == lost


def test_run_execution_moves_past_a_repository_github_answers_403_for(github, widgets, gadgets):
    refused = create_task(title="Work in gadgets", repository=gadgets, priority=9)  # the next work
    github.fail_on(
        "GET", "/repos/octo/gadgets", 403, {"message": "Resource not accessible by integration"}, times=10
    )
    out = StringIO()

    call_command("run_execution", stdout=out)  # without a title: the next runnable work

    assert "succeeded" in out.getvalue()
    assert Task.objects.get(title="Add a health check").status == Task.Status.DONE
    gadgets.refresh_from_db()
    assert "GitHub refused" in gadgets.problem and "(403" in gadgets.problem
    refused.refresh_from_db()
    assert refused.status == Task.Status.PENDING and not refused.executions.exists()


def test_the_admin_refuses_a_github_repository_that_is_not_owner_name(admin_client):
    page = admin_client.post(
        "/admin/executions/repository/add/",
        {"kind": "github", "name": "widgets", "base_branch": "", "enabled": "on", "pr_labels": ""},
    ).content.decode()

    assert "A GitHub repository is named owner/name, not &#x27;widgets&#x27;." in page
    assert not Repository.objects.filter(name="widgets").exists()


def test_a_repository_that_refuses_pushes_is_marked_when_publishing(github, widgets):
    github.repo().permissions["push"] = False

    execution = run_execution(Task.objects.get(title="Add a health check"))

    assert execution.status == Execution.Status.FAILED and "but not push to it" in execution.error
    widgets.refresh_from_db()
    assert "can read octo/widgets but not push to it" in widgets.problem
    assert next_pending_task() is None  # the retry waits for access, instead of paying again


@time_machine.travel(NOW, tick=False)
@pytest.mark.usefixtures("batch_mode")
def test_batch_mode_publishes_each_result_in_its_own_repository(tmp_path):
    from executions.repositories.local_git import LocalGitGateway

    first = Repository.objects.create(kind="local", name=str(tmp_path / "first"))
    second = Repository.objects.create(kind="local", name=str(tmp_path / "second"))
    one = create_task(title="Add a health check", repository=first)
    two = create_task(title="Add a changelog", repository=second)

    for _ in range(3):  # submit the analyses; charge them and submit the code; publish
        run_batches_pass()

    assert set(Execution.objects.values_list("status", flat=True)) == {"succeeded"}
    for repository, task, other in ((first, one, two), (second, two, one)):
        heads = LocalGitGateway(repository.name)._git("for-each-ref", "--format=%(refname:short)").decode()
        assert f"/{task.pk}-" in heads and f"/{other.pk}-" not in heads
    period = Period.objects.get()
    assert sum(RepositoryUsage.objects.values_list("spent_nanos", flat=True)) == period.spent_nanos > 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_the_settings_the_first_repository_with_its_history(
    settings, tmp_path, monkeypatch
):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    without_squashes(tmp_path, settings, monkeypatch)  # back into the squash's range: its replaced chain
    # The budget app's state of the same day too: its later columns are not the old code's.
    before = [("executions", "0007_charge_once_per_vendor_result"), ("budget", "0014_usage_reconciliation")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    period = old.get_model("budget", "Period").objects.create(
        month=dt.date(2026, 10, 1),
        starts_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        limit_nanos=15 * 10**9,
        spent_nanos=93_825_000,
        executions_count=3,
        prs_count=3,
        merged_prs_count=1,
    )
    task = old.get_model("executions", "Task").objects.create(title="Add a health check")
    settings.GITHUB_REPOSITORY, settings.GITHUB_TOKEN, settings.GITHUB_BASE_BRANCH = (
        "octo/widgets",
        "ghp_x",
        "develop",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    [repository] = Repository.objects.all()
    assert (repository.kind, repository.name, repository.base_branch, repository.labels) == (
        "github", "octo/widgets", "develop", ["ai-generated"],
    )  # fmt: skip
    assert Task.objects.get(pk=task.pk).repository == repository
    usage = RepositoryUsage.objects.get(period_id=period.pk)
    assert (usage.repository, usage.spent_nanos, usage.executions, usage.prs, usage.merged_prs) == (
        repository, 93_825_000, 3, 3, 1,
    )  # fmt: skip
    # New tasks still go where the settings say.
    assert create_task(title="Add a changelog").repository == repository
