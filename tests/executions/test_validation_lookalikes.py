"""Paths that change CI or git behaviour, or only look harmless, are refused (issue 20, item 3)."""

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executions.changes.coder import parse_change
from executions.errors import ChangeRejected
from executions.repositories.paths import unsafe_path_reason


def answer(path: str) -> str:
    return json.dumps(
        {"summary": "s", "changes": [{"path": path, "action": "create", "content": "x\n", "edits": []}]}
    )


def refused(path: str, *, allow_workflows: bool = False) -> str:
    reason = unsafe_path_reason(path, allow_workflows=allow_workflows)
    assert reason, f"{path!r} was accepted"
    with pytest.raises(ChangeRejected, match="unsafe path"):
        parse_change(answer(path), allow_workflows=allow_workflows)
    return reason


def test_a_composite_action_is_refused_unless_workflow_changes_are_allowed():
    assert "CI" in refused(".github/actions/setup/action.yml")
    assert "CI" in refused(".github/actions/setup/scripts/install.sh")
    assert not unsafe_path_reason(".github/actions/setup/action.yml", allow_workflows=True)


def test_an_action_file_anywhere_under_github_is_refused():
    assert "CI" in refused(".github/setup/action.yaml")


def test_other_github_files_stay_allowed():
    assert not unsafe_path_reason(".github/CODEOWNERS")
    assert not unsafe_path_reason(".github/ISSUE_TEMPLATE/bug.md")


def test_gitmodules_is_refused_even_with_workflow_changes_allowed():
    assert ".gitmodules" in refused(".gitmodules", allow_workflows=True)
    assert ".gitmodules" in refused("vendor/lib/.GitModules", allow_workflows=True)


def test_a_zero_width_space_after_git_is_refused():
    assert "U+200B" in refused(".git\u200b/config", allow_workflows=True)


def test_a_fullwidth_dot_git_is_refused():
    assert ".git" in refused("\uff0egit/config", allow_workflows=True)  # ．git


def test_fullwidth_letters_spelling_git_are_refused():
    assert ".git" in refused(".\uff47\uff49\uff54/hooks/pre-commit", allow_workflows=True)  # .ｇｉｔ


def test_a_trailing_space_in_a_segment_is_refused():
    assert "trailing" in refused(".git /config", allow_workflows=True)
    assert "trailing" in refused("docs/readme.md ")


def test_a_trailing_dot_in_a_segment_is_refused():
    assert "trailing" in refused(".git./config", allow_workflows=True)
    assert "trailing" in refused("src./app.py")


def test_a_right_to_left_override_is_refused():
    assert "U+202E" in refused("src/invoice\u202egnp.py")


def test_a_fullwidth_github_workflows_is_refused():
    assert "CI" in refused("\uff0egithub/workflows/ci.yml")


def test_ordinary_unicode_names_stay_allowed():
    assert not unsafe_path_reason("docs/café.md")
    assert not unsafe_path_reason("docs/日本語.md")
    assert not unsafe_path_reason("app/.gitignore")


@given(st.text(max_size=40))
def test_no_accepted_path_is_git_or_holds_invisible_characters(path):
    if unsafe_path_reason(path, allow_workflows=True):
        return
    parts = unicodedata.normalize("NFKC", path).casefold().split("/")
    assert ".git" not in parts and ".gitmodules" not in parts
    assert not any(unicodedata.category(c) in ("Cf", "Cc") for c in path)
    assert all(part == part.rstrip(" .") for part in path.split("/"))
