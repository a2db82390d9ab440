"""Every file editable, however large (issue 25, item 4): Django's own db/models/query.py (107 KB,
over CONTEXT_FILE_BYTES) in a repository on the GitHub fake. The analyst sees its best-matching
definitions, names the one to change, the coder sees the outline and that definition whole, and
the edit applies to the whole file. Over real HTTP: the anthropic, openai and PyGithub SDKs."""

import json
from pathlib import Path

import django
import pytest

from budget.pricing import input_token_bound
from executions.backlog.services import create_task
from executions.context.excerpts import numbered
from executions.models import Execution
from executions.pipeline.runner import prepare, run_execution
from executions.providers import providers_for_mode
from executions.repositories.gateways import get_gateway
from tests.executions.conftest import assert_charged_as_billed
from tests.fakes.anthropic import user_text
from tests.fakes.github import serving_github
from tests.fakes.openai import change

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

DJANGO = Path(django.__file__).parent
FILES = {  # a few of Django's files, as a repository
    f"django/{path}": (DJANGO / path).read_text()
    for path in ("db/models/query.py", "db/models/manager.py", "db/models/sql/constants.py", "shortcuts.py")
}
QUERY = FILES["django/db/models/query.py"]
LINES = QUERY.split("\n")
IN_BULK = (1125, 1169)  # QuerySet.in_bulk's lines in Django 5.2's query.py
OLD = (
    "            raise ValueError(\n                \"in_bulk()'s field_name must be a unique field but %r isn't.\"\n"
    "                % field_name\n            )\n"
)
NEW = (
    "            raise ValueError(\n                \"%s.in_bulk()'s field_name must be a unique field but %r isn't.\"\n"
    "                % (self.model.__name__, field_name)\n            )\n"
)


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files=FILES)
        yield fake


def test_a_task_about_in_bulk_shows_its_whole_body_and_the_edit_changes_nothing_else(live, fake_github):
    anthropic_fake, openai_fake = live
    assert LINES[IN_BULK[0] - 1].startswith("    def in_bulk(") and QUERY.count(OLD) == 1
    anthropic_fake.tool_input = {
        "plan": "Name the model in in_bulk()'s ValueError.",
        "files": ["django/db/models/query.py", "django/shortcuts.py"],
        "definitions": ["query.py::QuerySet.in_bulk", "shortcuts.py::nowhere", "manager.py::Manager"],
    }
    start = IN_BULK[0] + LINES[IN_BULK[0] - 1 : IN_BULK[1]].index(OLD.split("\n")[0])
    # The model copied the search from the excerpt, line numbers and all.
    search = numbered(OLD.split("\n")[:4], start)
    openai_fake.content = change(
        {"path": "django/db/models/query.py", "action": "edit", "edits": [{"search": search, "replace": NEW}]}
    )
    task = create_task(
        title="in_bulk() should name the model when field_name is not unique",
        description="QuerySet.in_bulk() raises a ValueError that does not say which model it was called on.",
    )
    reserved = prepare(task, providers=providers_for_mode(), gateway=get_gateway()).worst_case

    execution = run_execution(task)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    # The analyst saw the body of in_bulk, query.py's best-matching definition, not the whole file.
    [message] = anthropic_fake.messages()
    analysed = user_text(message)
    assert numbered(LINES[IN_BULK[0] - 1 : IN_BULK[1]], IN_BULK[0]) in analysed
    assert QUERY not in analysed and len(analysed.encode()) <= len(QUERY.encode())
    # The plan's definitions are kept for the files it named, the others noted.
    assert execution.plan_definitions == ["query.py::QuerySet.in_bulk", "shortcuts.py::nowhere"]
    assert '"manager.py::Manager"' in execution.plan_notes
    # The coder saw the outline and the whole of in_bulk, numbered; shortcuts.py whole.
    [completion] = openai_fake.completions()
    prompt = completion["messages"][1]["content"]
    excerpt = prompt.split('<file path="django/db/models/query.py">\n', 1)[1].split("\n</file>", 1)[0]
    assert excerpt.startswith(
        '"django/db/models/query.py": 2,764 lines, 107,026 bytes: too large to show whole.'
    )
    assert "\nOutline (line: definition):\n" in excerpt
    assert '\n1125:   def in_bulk(self, id_list=None, *, field_name="pk")\n' in excerpt
    assert "\n 279: class QuerySet(AltersData)\n" in excerpt
    assert numbered(LINES[IN_BULK[0] - 1 : IN_BULK[1]], IN_BULK[0]) in excerpt
    assert f'<file path="django/shortcuts.py">\n{FILES["django/shortcuts.py"]}\n</file>' in prompt
    assert 'Not shown: "nowhere" (no such definition).' not in excerpt  # another file's name
    # What was sent is within what was reserved for it.
    schema = json.dumps(completion["response_format"]["json_schema"]["schema"])
    assert input_token_bound(*(m["content"] for m in completion["messages"]), schema) <= (
        reserved.codegen.input_tokens
    )
    # The edit applied to the whole file: those four lines changed, every other byte as it was.
    after = fake_github.files_at(execution.commit_sha)
    assert after["django/db/models/query.py"] == QUERY.replace(OLD, NEW)
    assert {p: t for p, t in after.items() if p != "django/db/models/query.py"} == {
        p: t for p, t in FILES.items() if p != "django/db/models/query.py"
    }
    assert [c.try_number for c in execution.calls.filter(step="codegen")] == [1]
    assert_charged_as_billed(execution.period, anthropic_fake, openai_fake)
