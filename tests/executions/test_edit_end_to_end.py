"""End to end over real HTTP: the analyst names files, the coder sees them and edits them, and the
commit holds exactly that edit (the real anthropic, openai and PyGithub SDKs against the fakes)."""

import json
import subprocess

import pytest

from budget.pricing import input_token_bound, price_for, worst_case_nanos
from executions.backlog.services import create_task
from executions.models import Execution, StepConfig, Task
from executions.pipeline.runner import run_execution
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.anthropic import PLAN, user_text
from tests.fakes.github import SEED_FILES, serving_github
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

SETTINGS_PY = "".join(
    [
        '"""Settings of the widgets service."""\n',
        "\n",
        "import os\n",
        "\n",
        "DEBUG = True\n",
        "ALLOWED_HOSTS = ['*']\n",
        "TIME_ZONE = 'UTC'\n",
        "\n",
        "DATABASES = {\n",
        "    'default': {\n",
        "        'ENGINE': 'django.db.backends.sqlite3',\n",
        "        'NAME': os.environ.get('DB', 'db.sqlite3'),\n",
        "    }\n",
        "}\n",
        "SECRET_KEY = os.environ['SECRET_KEY']\n",
    ]
)
FILES = {**SEED_FILES, "app/settings.py": SETTINGS_PY}


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files=FILES)  # the seed repository, with a settings module
        yield fake


def new_task():
    return create_task(title="Turn DEBUG off", description="app/settings.py must not ship with DEBUG on.")


def test_one_edit_to_one_line_commits_that_line_and_nothing_else(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["app/settings.py", "app/nowhere.py"]}
    openai_fake.content = change(
        {
            "path": "app/settings.py",
            "action": "edit",
            "edits": [{"search": "DEBUG = True", "replace": "DEBUG = False"}],
        },
        summary="Turns DEBUG off.",
    )

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    # The analyst was made to answer through submit_plan, with the commit-stable part cached.
    [message] = anthropic_fake.messages()
    assert message["tool_choice"] == {"type": "any"}  # submit_plan, or first one look-up
    assert [tool["name"] for tool in message["tools"]] == ["submit_plan", "show"]
    assert message["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "app/settings.py" in user_text(message).split("Content of the most relevant")[0]
    # The coder saw the file it changes.
    [completion] = openai_fake.completions()
    assert f'<file path="app/settings.py">\n{SETTINGS_PY}\n</file>' in completion["messages"][1]["content"]
    # One commit on main's head: that one line changed, every other line and file as it was.
    main = fake_github.branch_head("main")
    assert fake_github.commits[execution.commit_sha]["parents"] == [main]
    before, after = fake_github.files_at(main), fake_github.files_at(execution.commit_sha)
    assert set(before) == set(after)
    assert {p: c for p, c in after.items() if p != "app/settings.py"} == {
        p: c for p, c in before.items() if p != "app/settings.py"
    }
    old_lines, new_lines = before["app/settings.py"].splitlines(), after["app/settings.py"].splitlines()
    assert len(old_lines) == len(new_lines) == 15
    assert [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n] == [
        ("DEBUG = True", "DEBUG = False")
    ]
    # What people see: plan, files named (the unknown one dropped and noted), diff, PR body.
    assert execution.plan_files == ["app/settings.py"]
    assert execution.plan_notes == (
        'The plan named 1 path(s) the base commit does not hold (dropped): "app/nowhere.py"'
    )
    assert "-DEBUG = True\n+DEBUG = False\n" in execution.diff and "--- a/app/settings.py" in execution.diff
    [pull] = fake_github.open_pulls()
    assert "## Files (1)\n- `app/settings.py` +1 −1" in pull["body"]
    assert execution.change["base_sha"] == main
    assert_ledger_consistent(execution.period)


def test_an_answer_without_the_tool_call_fails_readably_and_keeps_the_charge(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = None  # the model answers in text

    execution = run_execution(task := new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error.startswith("The analysis answered without calling submit_plan, so it gave no plan")
    assert [c.step for c in execution.calls.all()] == ["analysis"] and execution.cost_nanos > 0
    assert openai_fake.completions() == [] and fake_github.open_pulls() == []
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING
    assert_ledger_consistent(execution.period)


def test_a_search_that_misses_fails_publishes_nothing_and_returns_the_task(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["app/settings.py"]}
    openai_fake.content = change(
        {
            "path": "app/settings.py",
            "action": "edit",
            "edits": [{"search": "DEBUG=True\n", "replace": "DEBUG=False\n"}],
        }
    )

    execution = run_execution(task := new_task())

    assert execution.status == Execution.Status.FAILED
    assert execution.error == (
        'edit 1 of "app/settings.py": the search text was not found (first line: "DEBUG=True"); '
        "the coder was asked 3 times and no answer applied; the task will be retried"
    )
    # Every call stays charged: the analysis and the coder's three tries (CODEGEN_REFLECTIONS).
    assert [c.step for c in execution.calls.all()] == ["analysis", "codegen", "codegen", "codegen"]
    assert fake_github.repo().refs.keys() == {"heads/main"} and fake_github.open_pulls() == []
    task.refresh_from_db()
    assert (task.status, task.attempts) == (Task.Status.PENDING, 1)
    assert_ledger_consistent(execution.period)


def test_a_delete_removes_the_file_on_github(live, fake_github):
    anthropic_fake, openai_fake = live
    openai_fake.content = change({"path": "docs/TODO.md", "action": "delete"})

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    after = fake_github.files_at(execution.commit_sha)
    assert "docs/TODO.md" not in after and after == {p: c for p, c in FILES.items() if p != "docs/TODO.md"}
    assert "- `docs/TODO.md` +0 −2 (deleted)" in fake_github.open_pulls()[0]["body"]


def test_a_delete_and_an_edit_in_the_local_repository_are_the_commits_real_diff(live, settings):
    anthropic_fake, openai_fake = live
    openai_fake.content = change(
        {
            "path": "README.md",
            "action": "edit",
            "edits": [{"search": "# Sandbox repository", "replace": "# Sandbox"}],
        },
        {"path": "notes/new.md", "action": "create", "content": "New.\n"},
    )
    first = run_execution(create_task(title="Retitle the README"))
    openai_fake.content = change({"path": "README.md", "action": "delete"})

    second = run_execution(create_task(title="Drop the README"))

    def git(*args):
        return subprocess.run(
            ["git", "-C", settings.LOCAL_REPO_PATH, *args], capture_output=True, text=True, check=True
        ).stdout

    assert git("diff", "--numstat", "main", first.commit_sha) == "1\t1\tREADME.md\n1\t0\tnotes/new.md\n"
    assert git("diff", "--name-status", "main", second.commit_sha) == "D\tREADME.md\n"
    assert second.change["files"] == [
        {"path": "README.md", "content": None, "deleted": True, "added": 0, "removed": 6}
    ]


def test_the_reservation_covers_both_prompts_at_their_caps(live, fake_github, settings):
    anthropic_fake, openai_fake = live
    big = {f"app/module_{i:02}.py": f"def handler_{i}(request):\n" + "    x = 1\n" * 3000 for i in range(14)}
    fake_github.add_repo("octo/widgets", files={**FILES, **big})
    anthropic_fake.tool_input = {"plan": "x" * 20_000, "files": sorted(big)[:12]}
    openai_fake.content = change(
        {
            "path": "app/module_00.py",
            "action": "edit",
            "edits": [{"search": "def handler_0(request):", "replace": "def handler_0(request, **kwargs):"}],
        }
    )

    execution = run_execution(new_task())

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    [message], [completion] = anthropic_fake.messages(), openai_fake.completions()
    sent_analysis = input_token_bound(
        message["system"][0]["text"], user_text(message), *map(json.dumps, message["tools"])
    )
    sent_codegen = input_token_bound(
        *(m["content"] for m in completion["messages"]),
        json.dumps(completion["response_format"]["json_schema"]["schema"]),
    )
    assert sent_codegen > settings.CONTEXT_FILE_BYTES * 0.8  # the coder was shown files up to the cap
    steps = {c.step: c for c in StepConfig.objects.all()}
    # The analysis is held at Anthropic's count (the fake's), and admitted at its byte bound.
    assert execution.input_bound.startswith("counted by Anthropic: 2,000 tokens")
    assert anthropic_fake.usage["input_tokens"] < sent_analysis
    floor = worst_case_nanos(
        price_for("claude-sonnet-4-5"),
        max_input_tokens=anthropic_fake.usage["input_tokens"],
        max_output_tokens=steps["analysis"].max_tokens,
        hour_cache=False,
    ) + worst_case_nanos(
        price_for("gpt-4o-mini"),
        max_input_tokens=sent_codegen,
        max_output_tokens=steps["codegen"].max_tokens,
        hour_cache=False,
    )
    assert execution.reserved_nanos >= floor
