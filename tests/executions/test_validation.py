"""Validating a generated change: only safe, small, well-formed changes are published."""

import json
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executions.changes.coder import parse_change
from executions.changes.proposal import Edit
from executions.changes.validation import MAX_FILE_BYTES
from executions.errors import ChangeRejected
from executions.repositories.paths import unsafe_path_reason


def answer(*files, summary="A change."):
    """The coder's answer creating each ``(path, content)``."""
    changes = [{"path": p, "action": "create", "content": c, "edits": []} for p, c in files]
    return json.dumps({"summary": summary, "changes": changes})


def one(**change):
    return json.dumps({"summary": "x", "changes": [{"content": "", "edits": [], **change}]})


def test_a_good_change_is_accepted_as_it_is():
    text = json.dumps(
        {
            "summary": "A change.",
            "changes": [
                {"path": "app/health.py", "action": "create", "content": "def health(): ...\n", "edits": []},
                {
                    "path": "README.md",
                    "action": "edit",
                    "content": "",
                    "edits": [{"search": "# Hi", "replace": "# Hello"}],
                },
                {"path": "old.txt", "action": "delete", "content": "", "edits": []},
            ],
        }
    )

    change = parse_change(text)

    assert change.summary == "A change."
    assert [(f.path, f.action, f.content, f.edits) for f in change.files] == [
        ("app/health.py", "create", "def health(): ...\n", []),
        ("README.md", "edit", "", [Edit("# Hi", "# Hello")]),
        ("old.txt", "delete", "", []),
    ]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("not json", "not valid JSON"),
        ("[]", 'exactly "summary" and "changes"'),
        ('{"summary": "x", "changes": [], "extra": 1}', 'exactly "summary" and "changes"'),
        ('{"summary": 3, "changes": []}', '"summary" must be a string'),
        (answer(), "1 to 20 changes, not 0"),
        (answer(*[(f"f{i}.txt", "x") for i in range(21)]), "1 to 20 changes, not 21"),
        ('{"summary": "x", "changes": [{"path": "a"}]}', '"path", "action", "content" and "edits"'),
        (one(path=1, action="create"), "must be strings"),
        (one(path="a.txt", action="move"), 'unknown action "move"'),
        (one(path="a.txt", action="edit"), "at least one"),
        (one(path="a.txt", action="edit", edits=[{"search": "  ", "replace": "x"}]), "empty search"),
        (one(path="a.txt", action="edit", edits=[{"search": "a"}]), 'strings "search" and "replace"'),
        (answer(("a.txt", "x\x00y")), "NUL byte"),
        (answer(("big.txt", "x" * (MAX_FILE_BYTES + 1))), "204,801 bytes; the limit is 204,800"),
        (answer(("a.txt", "1"), ("a.txt", "2")), 'writes "a.txt" twice'),
        (answer(("a", "1"), ("a/b", "2")), 'writes "a" as a file and as a folder'),
        (answer(("a.txt", "\ud800")), "not valid Unicode"),
    ],
)
def test_a_bad_change_is_rejected_with_its_reason(text, reason):
    with pytest.raises(ChangeRejected, match=reason.replace("(", r"\(")):
        parse_change(text)


@pytest.mark.parametrize(
    "path, reason",
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/x", "absolute"),
        ("../outside", "leaves the repository"),
        ("a/../../b", "leaves the repository"),
        ("./a", "not normalised"),
        ("a//b", "not normalised"),
        ("a/", "not normalised"),
        ("a\\b", "backslash"),
        (".git/config", "inside .git/"),
        ("sub/.GIT/hooks/pre-commit", "inside .git/"),
        (".github/workflows/ci.yml", "CI workflows"),
        (".GitHub/Workflows/ci.yml", "CI workflows"),
        ("a\nb", "control character"),
    ],
)
def test_unsafe_paths_are_named(path, reason):
    assert reason in unsafe_path_reason(path)
    with pytest.raises(ChangeRejected, match="unsafe path"):
        parse_change(answer((path, "x")))


OTHER_CI_FILES = [
    ".circleci/config.yml",
    ".gitlab-ci.yml",
    ".travis.yml",
    "azure-pipelines.yml",
    "ci/azure-pipelines.yaml",
    "Jenkinsfile",
    "build/JENKINSFILE",
    ".buildkite/pipeline.yml",
    "bitbucket-pipelines.yml",
    ".github/dependabot.yml",
    ".CircleCI/config.yml",
]


@pytest.mark.parametrize("path", OTHER_CI_FILES)
def test_other_ci_systems_files_are_refused_under_the_same_switch(path, settings):
    assert "CI workflows, actions and pipeline files" in unsafe_path_reason(path)
    with pytest.raises(ChangeRejected, match="ALLOW_WORKFLOW_CHANGES is off"):
        parse_change(answer((path, "x")))

    settings.ALLOW_WORKFLOW_CHANGES = True
    assert parse_change(answer((path, "x"))).files[0].path == path


@pytest.mark.parametrize(
    "path", ["docs/circleci.md", "jenkinsfile.md", "src/.travis.yml.txt", "dependabot.yml"]
)
def test_look_alikes_of_ci_files_are_ordinary_files(path):
    assert unsafe_path_reason(path) == ""


def test_workflows_may_be_allowed_by_setting(settings):
    settings.ALLOW_WORKFLOW_CHANGES = True

    change = parse_change(answer((".github/workflows/ci.yml", "on: push\n")))

    assert change.files[0].path == ".github/workflows/ci.yml"
    assert ".git" in unsafe_path_reason(".git/config", allow_workflows=True)


@given(st.text(max_size=60))
def test_every_accepted_path_is_relative_normalised_and_inside_the_repository(path):
    if unsafe_path_reason(path):
        return
    assert not path.startswith("/")
    assert posixpath.normpath(path) == path
    inside = posixpath.normpath(posixpath.join("/repo", path))
    assert inside.startswith("/repo/") and not inside.startswith("/repo/../")  # "..0" is a fine name
    assert posixpath.normpath(posixpath.join("/repo", path)).startswith("/repo/")
    assert ".git" not in path.lower().split("/")


@given(st.text(max_size=200))
def test_any_answer_is_either_a_change_or_a_reason(text):
    try:
        parse_change(text)
    except ChangeRejected as exc:
        assert str(exc) and "\n" not in str(exc)
