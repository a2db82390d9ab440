"""Reading the analyst's submit_plan call: the plan, the files it names, and what is wrong with it."""

import pytest

from budget.pricing import Usage
from executions.analysis.analyst import MAX_PLAN_FILES, REVISION_HEADER, plan_from, revision_part
from executions.errors import ChangeRejected
from executions.providers.base import Completion
from executions.providers.simulated import REVISION_MARK

KNOWN = {f"app/m{i}.py": 10 for i in range(20)} | {"README.md": 5}


def answered(tool_input, *, truncated=False):
    return Completion(
        text="", usage=Usage(input_tokens=1, output_tokens=1), tool_input=tool_input, truncated=truncated
    )


def test_the_plan_keeps_known_paths_in_order_and_notes_the_rest():
    plan = plan_from(
        answered({"plan": "  Do it.\n", "files": ["README.md", "./app/m1.py", "app/nope.py", "README.md"]}),
        KNOWN,
    )

    assert (plan.text, plan.files, plan.dropped) == ("Do it.", ["README.md", "app/m1.py"], ["app/nope.py"])
    assert plan.note == 'The plan named 1 path(s) the base commit does not hold (dropped): "app/nope.py"'


def test_at_most_twelve_files_are_kept():
    plan = plan_from(answered({"plan": "x", "files": sorted(KNOWN)}), KNOWN)

    assert len(plan.files) == MAX_PLAN_FILES and len(plan.dropped) == len(KNOWN) - MAX_PLAN_FILES


def test_no_files_is_a_plan_too():
    assert plan_from(answered({"plan": "Add a file.", "files": []}), KNOWN).files == []


@pytest.mark.parametrize(
    "completion, reason",
    [
        (answered(None), "answered without calling submit_plan, so it gave no plan"),
        (answered(None, truncated=True), "stopped at max_tokens before it called submit_plan"),
        (answered({"plan": "", "files": []}), "returned an empty plan"),
        (answered({"plan": 3, "files": []}), "returned an empty plan"),
        (answered({"plan": "x", "files": "README.md"}), '"files" that is not a list of paths'),
        (answered({"plan": "x", "files": [1]}), '"files" that is not a list of paths'),
    ],
)
def test_a_missing_or_malformed_call_is_refused_with_a_reason(completion, reason):
    with pytest.raises(ChangeRejected, match=reason):
        plan_from(completion, KNOWN)


def test_the_simulated_analyst_reads_a_revision_prompt_by_its_header():
    """The simulated analyst tells a revision by the words of the analyst's revision header."""
    assert REVISION_MARK in REVISION_HEADER
    part = revision_part(where="#7", branch="ai/1-x", head_sha="a" * 40, feedback={"kind": "review"}, diff="")
    assert part.find(REVISION_MARK) < part.find("{")
