"""What the coder sees of a file too large to show whole, on Django's own db/models/query.py
(107 KB): the outline, the definitions that matter, within the budget, and edits written against
the excerpt apply to the whole file."""

import re
from pathlib import Path

import django
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executions.changes.edits import apply
from executions.changes.proposal import Edit, Proposal, ProposedFile
from executions.context import repoindex
from executions.context.excerpts import LINE_NUMBER, excerpt, names_for, numbered
from executions.context.repomap import named_identifiers, words_of

DJANGO = Path(django.__file__).parent
PATH = "django/db/models/query.py"
QUERY = (DJANGO / "db/models/query.py").read_text()
LINES = QUERY.split("\n")
TASK = "QuerySet.in_bulk() should accept a generator of ids without evaluating it twice"


def numbered_lines(text: str) -> dict[int, str]:
    """Every source line the excerpt shows, by its number, as the coder reads it."""
    return {int(m.group(1)): line[m.end() :] for line in text.split("\n") if (m := LINE_NUMBER.match(line))}


def test_a_task_about_in_bulk_shows_its_whole_body_and_the_outline_within_the_budget():
    shown = excerpt(
        PATH, QUERY, budget=40_000, names=["QuerySet.in_bulk"], identifiers=named_identifiers(TASK)
    )

    assert len(shown.encode()) <= 40_000
    assert shown.startswith(f'"{PATH}": {len(LINES) - 1:,} lines, {len(QUERY.encode()):,} bytes: too large')
    # The full body of QuerySet.in_bulk, with its lines numbered as in the file, and three lines
    # of context either side.
    [method] = [d for d in repoindex.spans(PATH, QUERY.encode()) if d.qualname == "QuerySet.in_bulk"]
    lines = numbered_lines(shown)
    assert all(lines[n] == LINES[n - 1] for n in range(method.start - 3, method.end + 4))
    assert f'{method.line}|     def in_bulk(self, id_list=None, *, field_name="pk"):' in shown
    # Every definition of the file in the outline, with its line number.
    outline = shown.split("Outline (line: definition):\n")[1].split("\n\n")[0].split("\n")
    definitions = repoindex.spans(PATH, QUERY.encode())
    assert len(outline) == len(definitions) > 150
    assert f'{method.line}:   def in_bulk(self, id_list=None, *, field_name="pk")' in [
        o.strip() for o in outline
    ]
    # Whatever else it shows is the file's own text, line for line.
    assert all(LINES[n - 1] == text for n, text in lines.items())


def test_an_edit_copied_from_the_excerpt_applies_to_the_whole_file_and_nothing_else_changes():
    shown = excerpt(PATH, QUERY, budget=40_000, names=["QuerySet.in_bulk"], identifiers={"in_bulk"})
    # The model copies three numbered lines as they are shown, markers and all, and changes one.
    copied = [line for line in shown.split("\n") if "id_list = tuple(id_list)" in line]
    at = shown.split("\n").index(copied[0])
    search = "\n".join(shown.split("\n")[at - 1 : at + 2])
    replace = search.replace("id_list = tuple(id_list)", "id_list = tuple(dict.fromkeys(id_list))")

    [f] = apply(
        Proposal("Deduplicate.", [ProposedFile(PATH, "edit", edits=[Edit(search, replace)])]), {PATH: QUERY}
    ).files

    expected = QUERY.replace(
        "            id_list = tuple(id_list)\n", "            id_list = tuple(dict.fromkeys(id_list))\n"
    )
    assert QUERY.count("            id_list = tuple(id_list)\n") == 1
    assert f.content == expected and (f.added, f.removed) == (1, 1)


def test_a_named_definition_too_large_for_the_budget_is_noted_not_cut():
    shown = excerpt(PATH, QUERY, budget=20_000, names=["QuerySet", "QuerySet.in_bulk", "QuerySet.nope"])

    assert len(shown.encode()) <= 20_000
    assert 'Not shown: "QuerySet" (lines 279–' in shown and "larger than the room left" in shown
    assert '"QuerySet.nope" (no such definition)' in shown  # quoted: a name from the plan
    assert "def in_bulk(self, id_list=None" in shown


def test_a_tight_budget_keeps_the_named_body_and_cuts_the_outline_to_the_top_level():
    shown = excerpt(PATH, QUERY, budget=6_000, names=["QuerySet.in_bulk"])

    assert len(shown.encode()) <= 6_000
    assert (
        "Outline (top level only) (line: definition):\n" in shown
        and "\n 279: class QuerySet(AltersData)\n" in shown
    )
    assert "return {getattr(obj, field_name): obj for obj in qs}" in shown


@settings(max_examples=40)  # each example parses the 107 KB file again
@given(
    budget=st.integers(0, 60_000), names=st.sampled_from([[], ["QuerySet.in_bulk"], ["in_bulk", "delete"]])
)
def test_an_excerpt_never_exceeds_its_budget(budget, names):
    shown = excerpt(PATH, QUERY, budget=budget, names=names, identifiers={"in_bulk", "QuerySet"})

    assert len(shown.encode()) <= budget
    assert all(LINES[n - 1] == text for n, text in numbered_lines(shown).items())


def test_a_file_without_definitions_shows_the_lines_around_the_task_s_identifiers():
    css = (DJANGO / "contrib/admin/static/admin/css/base.css").read_text()

    shown = excerpt(
        "django/contrib/admin/static/admin/css/base.css", css, budget=3_000, identifiers={"breadcrumbs"}
    )

    lines = numbered_lines(shown)
    assert any("breadcrumbs" in text for text in lines.values()) and len(shown.encode()) <= 3_000


def test_names_for_picks_a_file_s_definitions_from_the_plan_s_list():
    wanted = [
        "query.py::QuerySet.in_bulk",
        "django/db/models/query.py::QuerySet.delete",
        "base.py::Model.save",
        "in_bulk",
    ]

    assert names_for(PATH, wanted) == ["QuerySet.in_bulk", "QuerySet.delete"]


def test_numbered_lines_read_back_with_their_marker():
    text = numbered(["def f():", "", "    return 1"], 98)

    assert text == " 98| def f():\n 99|\n100|     return 1"
    assert [LINE_NUMBER.sub("", line) for line in text.split("\n")] == ["def f():", "", "    return 1"]


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            b"class A:\n    @property\n    def x(self):\n        return 1\n\n    def y(self): pass\n",
            [("A", 1, 1, 6), ("A.x", 3, 2, 4), ("A.y", 6, 6, 6)],
        ),
    ],
)
def test_spans_give_qualified_names_and_lines_with_decorators(source, expected):
    assert [(d.qualname, d.line, d.start, d.end) for d in repoindex.spans("a.py", source)] == expected
    assert re.search(r"\bdef x\b", repoindex.spans("a.py", source)[1].signature)


def test_a_named_definition_larger_than_the_room_is_shown_as_its_head_and_its_lines_the_task_names():
    # QuerySet.bulk_create is ~4.8 KB: in a 3 KB budget it cannot be shown whole.
    task = "bulk_create() loses the objects' primary keys when batch_size splits them"
    terms = frozenset(words_of(task))
    shown = excerpt(
        PATH,
        QUERY,
        budget=3_000,
        names=["QuerySet.bulk_create"],
        outline=False,
        line_terms=lambda line: terms.intersection(words_of(line)),
    )

    assert len(shown.encode()) <= 3_000
    [method] = [d for d in repoindex.spans(PATH, QUERY.encode()) if d.qualname == "QuerySet.bulk_create"]
    lines = numbered_lines(shown)
    # Its signature and first lines (the docstring's start) ...
    assert set(range(method.line, method.line + 8)) <= set(lines)
    # ... and, further in, the lines holding the task's words (batch_size), as the file has them.
    far = [n for n in lines if method.line + 20 < n <= method.end]
    assert any("batch_size" in lines[n] for n in far)
    assert all(LINES[n - 1] == text for n, text in lines.items())
    assert f'"QuerySet.bulk_create" (lines {method.start}–{method.end}, shown in part)' in shown
