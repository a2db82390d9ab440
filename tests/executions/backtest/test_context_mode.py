"""Context mode over a local git repository with a known history: the cases chosen, their task
text, the definitions the real changes touched, and what the analyst's prompt held of them."""

import datetime as dt
import json
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from executions.backlog.services import create_task
from executions.backtest import runs
from executions.backtest.local_history import local_cases
from executions.context import repoindex
from executions.models import BacktestCase, BacktestRun, Execution, ModelCall, Repository, Task
from executions.pipeline import runner
from executions.providers.simulated import simulated_providers
from executions.repositories.local_git import LocalGitGateway
from tests.executions.backtest.history import known_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "demo"
    return path, known_history(path)


def test_the_cases_are_the_merges_that_change_one_to_three_source_files(history):
    path, shas = history
    skipped = []

    cases = local_cases(LocalGitGateway(path), last=30, skipped=skipped)

    assert [c.merge_sha for c in cases] == [shas["vague"], shas["big"], shas["store"], shas["fix_add"]]
    assert dict(skipped) == {
        shas["bot"]: "a dependency bot's",
        shas["revert"]: "a revert",
        shas["docs"]: "no existing source file changed (tests, docs, lock or generated files only)",
        shas["stable"]: "a merge of another branch, with no task text",
    }
    _vague, big, store, fix = cases
    assert (fix.number, fix.title, fix.description) == (
        11,
        "Let add() accept None",
        "Closes #5. add(None, 1) crashed.",
    )
    assert fix.base_sha == shas["initial"] and fix.files == ["app/core.py"]  # the test file is not measured
    assert [d.key for d in fix.definitions] == ["app/core.py::add"]
    assert [d.key for d in store.definitions] == ["app/core.py::greet", "app/core.py::Store.get"]
    assert store.definitions[1].signature == "def get(self, key)"
    assert store.definitions[1].first_body_line == "found = self.items.get(key)"
    assert [d.key for d in big.definitions] == ["app/big.py::parse_header"]
    assert "value.strip()" in big.diff and "Merge" not in big.title


def test_last_takes_the_newest_cases(history):
    path, shas = history

    assert [c.merge_sha for c in local_cases(LocalGitGateway(path), last=2)] == [shas["vague"], shas["big"]]


def test_context_mode_measures_the_analysts_prompt_and_spends_nothing(history, pinned_clock):
    path, shas = history
    repository = Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(path))
    out = StringIO()

    call_command("backtest", "--repository", str(path), "--json", stdout=out, stderr=StringIO())

    data = json.loads(out.getvalue())
    vague, big, store, fix = data["cases"]
    assert [c["merge_sha"] for c in data["cases"]] == [
        shas["vague"],
        shas["big"],
        shas["store"],
        shas["fix_add"],
    ]
    # A small file is shown whole: its path, its definitions' signatures and bodies are all there.
    assert fix["files"] == [
        {"path": "app/core.py", "path_in_prompt": True, "content": "whole", "rank": 1, "in_map": True}
    ]
    assert fix["definitions"] == [{"definition": "app/core.py::add", "signature": True, "body": True}]
    assert store["definitions"] == [
        {"definition": "app/core.py::greet", "signature": True, "body": True},
        {"definition": "app/core.py::Store.get", "signature": True, "body": True},
    ]
    # The large file: an excerpt holding the definition the task names, whole...
    assert big["files"][0]["content"] == "excerpt" and big["files"][0]["rank"] == 1
    assert big["definitions"] == [{"definition": "app/big.py::parse_header", "signature": True, "body": True}]
    # ...but not one the task's words do not lead to: the map lists it, its content is not shown
    # (no definition of it matches, and it has no head before its first definition: an excerpt
    # would be its header alone). Its words match no file: the shallowest come first (README.md,
    # then app/big.py).
    assert vague["files"][0] == {
        "path": "app/big.py",
        "path_in_prompt": True,
        "content": "",
        "rank": 2,
        "in_map": True,
    }
    assert vague["definitions"] == [
        {"definition": "app/big.py::filler_150", "signature": True, "body": False}
    ]
    assert (vague["file_recall"], vague["definition_recall"], vague["body_recall"]) == (
        "0.0000",
        "1.0000",
        "0.0000",
    )
    assert data["totals"] | {"prompt_bytes": 0} == {
        "cases": 4,
        "files": 4,
        "files_shown": 3,
        "definitions": 5,
        "signatures_shown": 5,
        "bodies_shown": 4,
        "prompt_bytes": 0,
        "cost": "0.00",
        "file_recall": "0.7500",
        "definition_recall": "1.0000",
        "body_recall": "0.8000",
    }
    run = BacktestRun.objects.get()
    assert (run.repository, run.status, run.cost_nanos) == (repository, "finished", 0)
    assert run.prompt_bytes == sum(c.prompt_bytes for c in BacktestCase.objects.all()) > 0
    assert not ModelCall.objects.exists() and not Execution.objects.exists() and not Task.objects.exists()


def test_the_prompt_measured_is_the_one_an_execution_would_send_at_the_base(history, pinned_clock):
    path, shas = history
    repository = Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(path))
    run = runs.run_context(repository, last=1)
    case = run.cases.get()
    # An execution of the same task on a branch at the case's base, prepared as the pipeline does.
    subprocess.run(["git", "-C", str(path), "branch", "at-base", case.base_sha], check=True)
    task = create_task(title=case.title, description=case.description, repository=repository)

    prepared = runner.prepare(
        task, providers=simulated_providers(), gateway=LocalGitGateway(path, base_branch="at-base")
    )

    request = prepared.analysis_request
    assert case.prompt_bytes == len(f"{request.system}\n{request.user}".encode())
    assert "filler_150" in request.user  # in the map


def test_an_unknown_repository_is_refused_with_exit_code_2(history):
    with pytest.raises(CommandError, match="No repository is named 'nowhere'") as refused:
        call_command("backtest", "--repository", "nowhere", stdout=StringIO(), stderr=StringIO())

    assert refused.value.returncode == 2 and not BacktestRun.objects.exists()


def test_the_table_shows_each_case_and_the_totals(history, pinned_clock):
    path, _shas = history
    Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(path))
    out = StringIO()

    call_command("backtest", "--repository", str(path), "--last", "2", stdout=out, stderr=StringIO())

    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["case", "title", "files", "defs", "bodies", "rank", "prompt", "cost"]
    assert lines[2].split()[:1] == ["#16"] and "Tune the warmup" in lines[2]
    assert lines[-1].split()[:6] == ["2", "cases", "total", "50%", "100%", "50%"]


def test_the_dashboard_shows_the_latest_runs_figures_per_repository(history, pinned_clock, admin_client):
    path, _shas = history
    repository = Repository.objects.create(kind=Repository.Kind.LOCAL, name=str(path))
    runs.run_context(repository, last=4)
    latest = runs.run_context(repository, last=1)  # the warmup: its body is not shown

    page = admin_client.get("/admin/dashboard/").content.decode()

    row = page[page.index(f'data-repository="{path}"') :]
    cell = row[row.index('data-testid="backtest"') :]
    cell = cell[: cell.index("</td>")]
    assert f"/admin/executions/backtestrun/{latest.pk}/change/" in cell
    assert "1 cases</a>: files 0% · definitions 100% · bodies 0%" in cell


def test_since_keeps_the_merges_from_that_day_on(history):
    path, _shas = history
    gateway = LocalGitGateway(path)

    assert len(local_cases(gateway, last=30, since=dt.date(2000, 1, 1))) == 4
    assert local_cases(gateway, last=30, since=dt.date(2999, 1, 1)) == []
    with pytest.raises(CommandError, match="--since 'soon' is not a date") as refused:
        call_command("backtest", "--repository", str(path), "--since", "soon", stdout=StringIO())
    assert refused.value.returncode == 2


def test_bases_that_share_files_parse_only_the_files_that_changed(history, monkeypatch):
    path, shas = history
    gateway = LocalGitGateway(path)
    parsed = []
    real = repoindex.definitions
    monkeypatch.setattr(repoindex, "definitions", lambda p, raw: parsed.append(p) or real(p, raw))
    repoindex.clear_memory_cache()

    first = runner.base_of(gateway, shas["initial"]).index
    parsed_first = list(parsed)
    parsed.clear()
    second = runner.base_of(gateway, shas["fix_add"]).index  # app/core.py and its test changed

    assert sorted(parsed_first) == ["app/big.py", "app/core.py", "tests/test_core.py"]
    assert sorted(parsed) == ["app/core.py", "tests/test_core.py"]  # app/big.py is not parsed again
    assert second.symbols["app/big.py"] == first.symbols["app/big.py"]
    core = gateway.read_files(shas["fix_add"], ["app/core.py"])["app/core.py"]
    assert second.symbols["app/core.py"] == real("app/core.py", core)


@pytest.mark.parametrize(
    "remote", ["git@github.com:octo/demo.git", "https://x-access-token:ghs_secret@github.com/octo/demo"]
)
def test_a_clone_of_a_github_repository_links_each_case_to_its_pull_request(history, remote):
    path, _shas = history
    subprocess.run(["git", "-C", str(path), "remote", "add", "origin", remote], check=True)

    cases = local_cases(LocalGitGateway(path), last=2)

    assert [c.url for c in cases] == [
        "https://github.com/octo/demo/pull/16",
        "https://github.com/octo/demo/pull/15",
    ]
