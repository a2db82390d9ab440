"""The syntax check on real files: a change that breaks a file that parsed is refused, naming the
path, the line and its text; a base that already failed is not held against the change."""

from pathlib import Path

import django
import playwright
import pytest

from executions.changes.edits import EditsFailed, apply
from executions.changes.proposal import Edit, Proposal, ProposedFile
from executions.changes.syntax import Problem, problem, regression

DJANGO = Path(django.__file__).parent
PLAYWRIGHT = Path(playwright.__file__).parent / "driver" / "package"
REPO = Path(__file__).resolve().parents[2]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def broken(text: str, old: str, new: str) -> tuple[str, int]:
    """``text`` with ``old`` (once) made ``new``, and the 1-based line where that happens."""
    assert text.count(old) == 1
    return text.replace(old, new), text[: text.index(old)].count("\n") + 1


# Real files of every kind the check knows, each with a slip that breaks it.
CASES = [
    ("django/shortcuts.py", read(DJANGO / "shortcuts.py"), "def redirect(to,", "def redirect(to,,", "Python"),
    (
        "admin/js/actions.js",
        read(DJANGO / "contrib/admin/static/admin/js/actions.js"),
        "            el.classList.remove('hidden');",
        "            el.classList.remove('hidden';",
        "JavaScript",
    ),
    (
        "types/structs.d.ts",
        read(PLAYWRIGHT / "types/structs.d.ts"),
        "export type EvaluationArgument = {};",
        "export type EvaluationArgument = {;",
        "TypeScript",
    ),
    (
        "package.json",
        read(PLAYWRIGHT / "package.json"),
        '"license": "Apache-2.0",',
        '"license": "Apache-2.0"',
        "JSON",
    ),
    (
        "pyproject.toml",
        read(REPO / "pyproject.toml"),
        'name = "pr-orchestrator"',
        'name = "pr-orchestrator',
        "TOML",
    ),
    ("docker-compose.yml", read(REPO / "docker-compose.yml"), "  build: .\n", "  build: [.\n", "YAML"),
]


@pytest.mark.parametrize("path, text, old, new, kind", CASES, ids=[c[0] for c in CASES])
def test_a_real_file_parses_and_the_slip_that_breaks_it_is_found(path, text, old, new, kind):
    assert problem(path, text) is None
    bad, line = broken(text, old, new)

    found = regression(path, text, bad)

    assert found is not None and found.kind == kind
    assert abs(found.line - line) <= 1  # where the parser noticed: that line or the next
    assert found.text == bad.split("\n")[found.line - 1]


def test_a_change_that_breaks_a_file_is_refused_with_the_lines_around_the_break():
    text = read(DJANGO / "contrib/admin/static/admin/js/actions.js")
    search = "            el.classList.remove('hidden');"

    with pytest.raises(EditsFailed) as caught:
        apply(
            Proposal(
                "x", [ProposedFile("actions.js", "edit", edits=[Edit(search, search.replace(");", ";"))])]
            ),
            {"actions.js": text},
        )

    [failure] = caught.value.failures
    assert failure.reason.startswith("it no longer parses as JavaScript: line ")
    assert failure.reason == "it no longer parses as JavaScript: line 6: \"el.classList.remove('hidden';\""
    assert failure.lines.split("\n")[3] == "6|             el.classList.remove('hidden';"


def test_a_base_that_did_not_parse_is_not_held_against_the_change():
    assert regression("notes.json", '{"a": 1,}', '{"a": 2,}') is None
    assert regression("a.py", "def f(:\n", "def g(:\n") is None


def test_a_new_file_must_parse():
    assert regression("new.py", None, "def f(:\n    pass\n") == Problem("Python", 1, "def f(:")
    assert regression("new.yaml", None, "a: [1\n") is not None


def test_kinds_of_file_with_no_checker_are_not_checked():
    assert problem("README.md", "# ((( unbalanced") is None
    assert problem("Makefile", "all:\n\t@echo {") is None


def test_a_bom_is_not_a_syntax_error():
    assert problem("a.json", '\ufeff{"a": 1}') is None
    assert problem("a.py", "\ufeffimport os\n") is None
