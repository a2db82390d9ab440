"""Large files the plan names are never read to be left out (issue 24, item 8): their sizes come
from the index (one tree request), and only files that can be shown are read. Over real HTTP: the
anthropic, openai and PyGithub SDKs against the fakes."""

import pytest

from executions.backlog.services import create_task
from executions.models import Execution
from executions.pipeline.runner import run_execution
from tests.executions.conftest import assert_ledger_consistent
from tests.fakes.anthropic import PLAN
from tests.fakes.github import SEED_FILES, serving_github
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

# 300,000 bytes each: over CONTEXT_FILE_BYTES and over what a change may write.
FILES = {**SEED_FILES, "data/big_a.py": "x = 1\n" * 50_000, "data/big_b.py": "y = 1\n" * 50_000}


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files=FILES)
        yield fake


def blobs_read(fake_github) -> set[str]:
    """The paths of main's files whose content was asked for (the git blob API)."""
    tree = fake_github.trees[fake_github.commits[fake_github.branch_head("main")]["tree"]]
    path_of = {sha: path for path, sha in tree.items()}
    return {
        path_of[r.path.rsplit("/", 1)[-1]]
        for r in fake_github.requests_to("", "GET")
        if "/git/blobs/" in r.path
    }


def test_named_files_too_large_to_show_are_listed_with_their_size_and_never_read(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["data/big_a.py", "app/views.py", "data/big_b.py"]}
    openai_fake.content = change(
        {"path": "app/views.py", "action": "edit", "edits": [{"search": "'hi'", "replace": "'hello'"}]}
    )

    execution = run_execution(create_task(title="Say hello", description="app/views.py says hi."))

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert blobs_read(fake_github).isdisjoint({"data/big_a.py", "data/big_b.py"})
    [completion] = openai_fake.completions()
    prompt = completion["messages"][1]["content"]
    assert f'<file path="app/views.py">\n{SEED_FILES["app/views.py"]}\n</file>' in prompt
    assert '- "data/big_a.py" (300,000 bytes: not shown, over the context limit' in prompt
    assert '- "data/big_b.py" (300,000 bytes: not shown, over the context limit' in prompt
    assert_ledger_consistent(execution.period)


def test_an_edit_of_a_file_too_large_to_change_is_refused_before_it_is_read(live, fake_github):
    anthropic_fake, openai_fake = live
    anthropic_fake.tool_input = {"plan": PLAN, "files": ["app/views.py"]}
    openai_fake.content = change(
        {"path": "data/big_a.py", "action": "edit", "edits": [{"search": "x = 1", "replace": "x = 2"}]}
    )

    execution = run_execution(create_task(title="Change x", description="x must be 2."))

    assert execution.status == Execution.Status.FAILED
    assert execution.error.startswith(
        'The change wants to edit "data/big_a.py" (300,000 bytes), larger than the 204,800 bytes a '
        "generated change may touch"
    )
    assert "data/big_a.py" not in blobs_read(fake_github)
    assert [c.step for c in execution.calls.all()] == ["analysis", "codegen"]  # both charged
    assert_ledger_consistent(execution.period)
