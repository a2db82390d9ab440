"""Applying the coder's proposal to the base content: strict, and every refusal says where and why."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from executions.changes.coder import Edit, Proposal, ProposedFile
from executions.changes.edits import apply, apply_edit, line_counts, unified_diff
from executions.errors import ChangeRejected

VIEWS = """\
from django.http import HttpResponse


class Index:
    def get(self, request):
        if request.user.is_staff:
            return HttpResponse("hi, staff")
        return HttpResponse("hi")


def health(request):
    return HttpResponse("ok")
"""


def edit(path, *pairs):
    return ProposedFile(path, "edit", edits=[Edit(s, r) for s, r in pairs])


def proposal(*files):
    return Proposal(summary="A change.", files=list(files))


def test_an_exact_edit_changes_that_place_and_counts_its_lines():
    change = apply(
        proposal(
            edit("app/views.py", ('return HttpResponse("ok")', 'return HttpResponse("ok", status=200)'))
        ),
        {"app/views.py": VIEWS},
        base_sha="abc",
    )

    [f] = change.files
    assert f.content == VIEWS.replace('HttpResponse("ok")', 'HttpResponse("ok", status=200)')
    assert (f.added, f.removed, f.deleted, change.base_sha) == (1, 1, False, "abc")


def test_edits_apply_in_order_each_to_what_the_previous_left():
    result = apply_edit(apply_edit("a = 1\nb = 2\n", "a = 1", "a = 10"), "a = 10\nb = 2", "a = 10\nb = 20")

    assert result == "a = 10\nb = 20\n"


def test_an_edit_whose_indentation_differs_matches_and_is_reindented():
    # The model dropped the method's indentation: the block still matches, and the replacement
    # lands at the file's indentation.
    search = 'if request.user.is_staff:\n    return HttpResponse("hi, staff")'
    replace = 'if request.user.is_staff:\n    return HttpResponse("hello, staff")'

    result = apply_edit(VIEWS, search, replace)

    assert '        if request.user.is_staff:\n            return HttpResponse("hello, staff")\n' in result
    assert result.replace("hello", "hi") == VIEWS


def test_a_search_that_is_not_there_names_the_file_and_its_first_line():
    with pytest.raises(ChangeRejected) as caught:
        apply(proposal(edit("app/views.py", ("def missing():\n    pass", "x"))), {"app/views.py": VIEWS})

    assert str(caught.value) == (
        'edit 1 of "app/views.py": the search text was not found (first line: "def missing():").'
    )


def test_an_ambiguous_search_is_refused():
    with pytest.raises(ChangeRejected, match=r'matches 2 places \(first line: "return HttpResponse\(\\"hi'):
        apply(proposal(edit("app/views.py", ('return HttpResponse("hi', "x"))), {"app/views.py": VIEWS})


def test_overlapping_places_are_ambiguous_too():
    with pytest.raises(ChangeRejected, match="matches 2 places"):
        apply_edit("x = ':::'\n", "::", "-")


def test_a_search_ambiguous_once_indentation_is_ignored_is_refused():
    text = "class A:\n    def a(self):\n        pass\n\nclass B:\n    def a(self):\n        pass\n"

    with pytest.raises(ChangeRejected, match="matches 2 places once indentation is ignored"):
        apply_edit(text, "def a(self):\n    pass", "def a(self):\n    return 1")


@pytest.mark.parametrize(
    "proposed, reason",
    [
        (
            ProposedFile("app/views.py", "create", content="x"),
            'creates "app/views.py", but it already exists',
        ),
        (edit("app/missing.py", ("a", "b")), 'edit "app/missing.py", but the base commit has no such file'),
        (ProposedFile("app/missing.py", "rewrite", content="x"), 'rewrite "app/missing.py", but the base'),
        (ProposedFile("app/missing.py", "delete"), 'delete "app/missing.py", but the base commit has no'),
        (edit("logo.png", ("a", "b")), 'edit "logo.png", which is not a text file'),
    ],
)
def test_actions_on_the_wrong_kind_of_path_are_refused(proposed, reason):
    with pytest.raises(ChangeRejected, match=reason.replace("(", r"\(")):
        apply(proposal(proposed), {"app/views.py": VIEWS, "logo.png": None})


def test_create_rewrite_and_delete():
    change = apply(
        proposal(
            ProposedFile("app/new.py", "create", content="x = 1\n"),
            ProposedFile("README.md", "rewrite", content="# New\n"),
            ProposedFile("app/views.py", "delete"),
        ),
        {"README.md": "# Old\n\nText.\n", "app/views.py": VIEWS},
    )

    assert [(f.path, f.deleted, f.added, f.removed) for f in change.files] == [
        ("app/new.py", False, 1, 0),
        ("README.md", False, 1, 3),
        ("app/views.py", True, 0, 12),
    ]
    diff = unified_diff(change, {"README.md": "# Old\n\nText.\n", "app/views.py": VIEWS})
    assert "--- /dev/null\n+++ b/app/new.py\n" in diff and "+++ /dev/null" in diff
    assert "-# Old\n" in diff and "+# New\n" in diff


def test_a_file_left_as_it_was_is_dropped_and_nothing_left_is_no_changes():
    kept = apply(
        proposal(
            ProposedFile("README.md", "rewrite", content="# Same\n"),
            edit("app/views.py", ('HttpResponse("hi")', 'HttpResponse("hello")')),
        ),
        {"README.md": "# Same\n", "app/views.py": VIEWS},
    )
    assert [f.path for f in kept.files] == ["app/views.py"]

    with pytest.raises(ChangeRejected, match="has no changes"):
        apply(proposal(edit("app/views.py", ("def health", "def health"))), {"app/views.py": VIEWS})


def test_a_result_over_the_size_limit_is_refused():
    with pytest.raises(ChangeRejected, match="the limit is 204,800"):
        apply(proposal(edit("a.txt", ("x", "y" * 210_000))), {"a.txt": "x\n"})


def test_line_counts_match_a_line_diff():
    assert line_counts("a\nb\nc\n", "a\nB\nc\nd\n") == (2, 1)
    assert line_counts("", "") == (0, 0)


lines = st.lists(st.text(alphabet="abcdef ()=:_\t", max_size=12), min_size=1, max_size=30)


@given(lines=lines, data=st.data())
def test_an_edit_built_from_a_unique_snippet_changes_only_that_snippet(lines, data):
    base = "\n".join(lines) + "\n"
    start = data.draw(st.integers(0, len(base) - 1))
    end = data.draw(st.integers(start + 1, len(base)))
    snippet = base[start:end]
    assume(snippet.strip() and base.find(snippet, start + 1) == -1 and base.find(snippet) == start)
    replacement = data.draw(st.text(alphabet="xyz\n ", max_size=20))

    result = apply_edit(base, snippet, replacement)

    assert result == base[:start] + replacement + base[end:]


@given(lines=lines, data=st.data())
def test_an_applied_edit_reverses_with_the_swapped_edit(lines, data):
    base = "\n".join(lines) + "\n"
    i = data.draw(st.integers(0, len(lines) - 1))
    target = lines[i]
    assume(target.strip() and base.find(target, base.find(target) + 1) == -1)
    new = "NEW_" + target.strip()
    assume(new not in base)

    changed = apply_edit(base, target, new)

    assert changed.count(new) == 1 and apply_edit(changed, new, target) == base
