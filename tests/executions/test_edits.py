"""Applying the coder's proposal to the base content: exactly one place or a refusal, and every
refusal says where and why (the slips of real models on real files: test_edit_slips.py)."""

from pathlib import Path

import django
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from executions.changes.coder import failures_message
from executions.changes.edits import EditsFailed, apply, apply_edit, line_counts, unified_diff
from executions.changes.matching import Miss, closest_lines, is_elision, replace_once
from executions.changes.proposal import Edit, EditFailure, Proposal, ProposedFile
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


def test_a_replace_line_that_would_start_left_of_column_0_is_refused_not_clamped():
    with pytest.raises(ChangeRejected, match="would start left of column 0"):
        # The search is 4 columns deeper than the file: "  return 2" would go to column -2.
        apply_edit(
            VIEWS, '                return HttpResponse("hi, staff")', "                return 1\n  return 2"
        )


def test_a_part_of_a_line_is_replaced_only_where_no_whole_line_matches_and_it_is_unique():
    assert apply_edit(VIEWS, '"hi, staff"', '"hello, staff"') == VIEWS.replace(
        '"hi, staff"', '"hello, staff"'
    )
    with pytest.raises(
        ChangeRejected, match='matches 2 places inside lines \\(first line: "HttpResponse\\(\\\\"hi'
    ):
        apply_edit(VIEWS, 'HttpResponse("hi', "x")
    with pytest.raises(ChangeRejected, match="its replace has several lines: search for whole lines instead"):
        apply_edit(VIEWS, '"hi, staff"', '"hello,"\n"staff"')


def test_a_search_that_is_not_there_names_the_file_and_its_first_line():
    with pytest.raises(EditsFailed) as caught:
        apply(proposal(edit("app/views.py", ("def missing():\n    pass", "x"))), {"app/views.py": VIEWS})

    assert str(caught.value) == (
        'edit 1 of "app/views.py": the search text was not found (first line: "def missing():")'
    )
    assert caught.value.failures == [
        EditFailure("app/views.py", 'the search text was not found (first line: "def missing():")', 1, "")
    ]


def test_every_failure_of_an_answer_is_reported_with_what_a_second_try_needs():
    settings_py = "DEBUG = True\nALLOWED_HOSTS = ['*']\nTIME_ZONE = 'UTC'\n"

    with pytest.raises(EditsFailed) as caught:
        apply(
            proposal(
                edit(
                    "app/settings.py",
                    ("DEBUG=True", "DEBUG=False"),  # not there as written
                    ("TIME_ZONE = 'UTC'", "TIME_ZONE = 'Europe/Paris'"),  # fine: still applied
                    ("TIME_ZONE = 'UTC'", "x"),  # gone after the previous edit
                ),
                edit("app/views.py", ('return HttpResponse("hi', "x")),
                ProposedFile("app/new.py", "create", content="def f(:\n    pass\n"),
            ),
            {"app/settings.py": settings_py, "app/views.py": VIEWS},
        )

    failures = caught.value.failures
    assert [(f.path, f.edit) for f in failures] == [
        ("app/settings.py", 1),
        ("app/settings.py", 3),
        ("app/views.py", 1),
        ("app/new.py", None),
    ]
    assert failures[0].lines == "1| DEBUG = True\n2| ALLOWED_HOSTS = ['*']\n3| TIME_ZONE = 'UTC'"
    assert failures[1].lines.startswith("1| DEBUG = True\n") and "Europe/Paris" in failures[1].lines
    assert failures[3].reason == 'it no longer parses as Python: line 1: "def f(:"'
    assert failures[3].lines == "1| def f(:\n2|     pass"
    assert str(caught.value).startswith('4 problems: edit 1 of "app/settings.py": the search text was not')


def test_closest_lines_find_the_run_the_model_meant_in_a_real_file():
    source = (Path(django.__file__).parent / "db/models/query.py").read_text()
    search = (
        "        if id_list is not None:\n"
        "            if not id_list:\n"
        "                return []\n"  # the model misremembered the line
        '            filter_key = "{}__in".format(field_name)\n'
    )
    at = source[: source.index('            filter_key = "{}__in"')].count("\n") + 1

    with pytest.raises(Miss) as caught:
        replace_once(source, search, "x")

    shown = caught.value.lines.splitlines()
    assert len(shown) == 4 + 2 * 3  # the run, and three lines either side
    assert shown[3 + 3] == f'{at}|             filter_key = "{{}}__in".format(field_name)'
    assert shown[3 + 2] == f"{at - 1}|                 return {{}}"
    assert closest_lines(source, "nothing = like(this, at_all) + 42\n") == ""


def test_the_message_for_a_second_try_quotes_the_file_s_actual_lines():
    source = (Path(django.__file__).parent / "shortcuts.py").read_text()
    answer = proposal(
        edit(
            "django/shortcuts.py",
            # The model "remembered" single quotes.
            ("    if hasattr(to, 'get_absolute_url'):\n        return to.get_absolute_url()\n", "x"),
        )
    )

    with pytest.raises(EditsFailed) as caught:
        apply(answer, {"django/shortcuts.py": source})

    message = failures_message(caught.value.failures)
    at = source[: source.index('    if hasattr(to, "get_absolute_url"):')].count("\n") + 1
    assert message.startswith("Your previous answer could not be applied, so nothing was changed.")
    assert (
        '- edit 1 of "django/shortcuts.py": the search text was not found (first line: "if hasattr('
        in message
    )
    assert f'\n    {at}|     if hasattr(to, "get_absolute_url"):\n' in message  # the real quotes


def test_an_ambiguous_search_is_refused():
    with pytest.raises(
        ChangeRejected, match=r'matches 2 places inside lines \(first line: "return HttpResponse\(\\"hi'
    ):
        apply(proposal(edit("app/views.py", ('return HttpResponse("hi', "x"))), {"app/views.py": VIEWS})


def test_overlapping_places_are_ambiguous_too():
    with pytest.raises(ChangeRejected, match="matches 2 places"):
        apply_edit("x = ':::'\n", "::", "-")
    with pytest.raises(ChangeRejected, match="matches 2 places"):
        apply_edit("a\na\na\n", "a\na", "b")


def test_a_search_ambiguous_once_indentation_is_ignored_is_refused():
    text = "class A:\n    def a(self):\n        pass\n\nclass B:\n    def a(self):\n        pass\n"

    with pytest.raises(ChangeRejected, match="matches 2 places once indentation is ignored"):
        apply_edit(text, "def a(self):\n    pass", "def a(self):\n    return 1")


def test_an_exact_copy_does_not_win_over_the_same_lines_at_another_indentation():
    # In Django's signal dispatcher the line is at 12, 20, 16 and 24 spaces. A model that copied
    # one exactly and one that slipped on its indentation write the same search: refused.
    source = (Path(django.__file__).parent / "dispatch/dispatcher.py").read_text()

    with pytest.raises(Miss, match="matches 4 places once indentation is ignored") as caught:
        replace_once(source, "                responses.append((receiver, response))", "x")

    # A second try is shown the first three places, numbered, to pick one with more context.
    places = caught.value.lines.split("\n⋮\n")
    assert len(places) == 3 and all(len(place.split("\n")) == 3 for place in places)
    at = source[: source.index("            responses.append((receiver, response))")].count("\n") + 1
    assert places[0].split("\n")[1] == f"{at}|             responses.append((receiver, response))"


def test_a_search_ambiguous_once_blank_lines_are_ignored_is_refused():
    text = "def a():\n    x = 1\n\n    return x\n\n\ndef b():\n    x = 1\n    return x\n"

    with pytest.raises(ChangeRejected, match="matches 2 places once indentation and blank lines are ignored"):
        apply_edit(text, "x = 1\n\n\nreturn x", "x = 2\nreturn x")


def test_elision_parts_must_be_in_the_file_s_order_and_paired_in_the_replace():
    text = "def a():\n    one = 1\n    two = 2\n    three = 3\n    return one\n"

    with pytest.raises(ChangeRejected, match="not in the file's order"):
        apply_edit(text, "    three = 3\n    ...\n    one = 1\n", "    three = 3\n    ...\n    one = 1\n")
    with pytest.raises(ChangeRejected, match="1 elision marker line\\(s\\) but its replace has 0"):
        apply_edit(text, "def a():\n    ...\n    return one\n", "def a():\n    return one\n")
    with pytest.raises(ChangeRejected, match="only elision markers"):
        apply_edit(text, "# ...\n", "# ...\n")
    assert apply_edit(
        text, "def a():\n// ... existing code ...\n    return one\n", "def a():\n...\n    return two\n"
    ) == (text.replace("return one", "return two"))


def test_a_python_ellipsis_body_is_code_when_it_is_in_the_file():
    stub = "class Proto:\n    def read(self) -> bytes:\n        ...\n"

    result = apply_edit(
        stub,
        "    def read(self) -> bytes:\n        ...\n",
        "    def read(self, n: int) -> bytes:\n        ...\n",
    )

    assert result == stub.replace("(self)", "(self, n: int)")


@pytest.mark.parametrize(
    "line, marker",
    [
        ("...", True),
        ("    # ...", True),
        ("// ... existing code ...", True),
        ("# ... rest of the file unchanged ...", True),
        ("/* ... */", True),
        ("<!-- … -->", True),
        ("# (rest of the method is unchanged) ...", True),
        ("# Wait for it...", False),
        ("pass  # ...", False),
        ("# TODO: fix this...", False),
        ("print('...')", False),
    ],
)
def test_what_reads_as_an_elision_marker(line, marker):
    assert is_elision(line) is marker


@pytest.mark.parametrize(
    "proposed, reason",
    [
        (
            ProposedFile("app/views.py", "create", content="x"),
            '"app/views.py": the change creates it, but it already exists: edit it instead',
        ),
        (
            edit("app/missing.py", ("a", "b")),
            '"app/missing.py": the change wants to edit it, but the base commit',
        ),
        (
            ProposedFile("app/missing.py", "rewrite", content="x"),
            '"app/missing.py": the change wants to rewrite it',
        ),
        (
            ProposedFile("app/missing.py", "delete"),
            '"app/missing.py": the change wants to delete it, but the base',
        ),
        (edit("logo.png", ("a", "b")), '"logo.png": the change wants to edit it, but it is not a text file'),
    ],
)
def test_actions_on_the_wrong_kind_of_path_are_refused(proposed, reason):
    with pytest.raises(EditsFailed) as caught:
        apply(proposal(proposed), {"app/views.py": VIEWS, "logo.png": None})

    assert str(caught.value).startswith(reason)
    assert caught.value.failures[0].edit is None


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


def test_a_rewrite_is_for_files_of_at_most_rewrite_max_lines(settings):
    settings.REWRITE_MAX_LINES = 3
    rewrite = ProposedFile("a.txt", "rewrite", content="new\n")

    assert apply(proposal(rewrite), {"a.txt": "1\n2\n3\n"}).files[0].content == "new\n"
    with pytest.raises(EditsFailed, match='"a.txt": it has 4 lines and a rewrite may replace at most 3'):
        apply(proposal(rewrite), {"a.txt": "1\n2\n3\n4\n"})


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


# --- properties --------------------------------------------------------------------------------

code_line = st.builds(
    lambda level, text: "    " * level + text,
    st.integers(0, 3),
    st.text(alphabet="abcdef ()=:_,", min_size=1, max_size=16).filter(lambda t: t.strip() == t and t),
)
lines = st.lists(st.one_of(code_line, st.just("")), max_size=12)


@st.composite
def edited_file(draw):
    """A file with one run of lines that only one place can hold (its first and last lines carry
    tokens found nowhere else), the run as a model might copy it (slipped), and a replace."""
    before, middle, after = draw(lines), draw(lines), draw(lines)
    level = draw(st.integers(0, 2))
    run = ["    " * level + "start_token()", *middle, "    " * level + "end_token()"]
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    last = draw(st.sampled_from([eol, ""]))
    # Real files indent by a unit of 4 somewhere: without such a line, a tab's width is unknown.
    unit = ["def head():", "    pass"]
    before, after = (unit + before, after) if draw(st.booleans()) else (before, after + unit)
    content = bom + eol.join(before + run + after) + last
    # The slips: another indentation (deeper or shallower), blank lines dropped, tabs for spaces,
    # the model's own line endings, blank lines around the search.
    shift = draw(st.integers(0, 2)) * 4 - min(_lead(line) for line in run if line.strip())
    indent = "\t" if draw(st.booleans()) else "    "

    def copied(line):
        return indent * ((_lead(line) + shift) // 4) + line.lstrip(" ") if line.strip() else line

    search_lines = [copied(line) for line in run if line.strip() or draw(st.booleans())]
    new_lines = [copied(run[0]), *(copied("    " * (_lead(run[0]) // 4) + line) for line in draw(lines))]
    model_eol = draw(st.sampled_from(["\n", "\r\n"]))
    search = (
        "\n" * draw(st.integers(0, 2)) + model_eol.join(search_lines) + model_eol * draw(st.integers(0, 2))
    )
    replace = model_eol.join(new_lines)
    return content, search, replace, bom + "".join(line + eol for line in before), after, eol, bom, last


def _lead(line):
    return len(line) - len(line.lstrip(" "))


@given(edited_file())
def test_text_outside_the_matched_lines_never_changes(case):
    content, search, replace, head, after, eol, _bom, last = case

    result = replace_once(content, search, replace)

    assert result.startswith(head)
    assert result.endswith(eol.join(after) + last if after else "")
    assert "start_token()" in result[len(head) :] and "end_token()" not in result


@given(edited_file())
def test_line_endings_and_the_bom_are_kept(case):
    content, search, replace, _head, _after, eol, bom, _last = case

    result = replace_once(content, search, replace)

    assert result.startswith(bom) and result.count("\ufeff") == len(bom)
    body = result[len(bom) :]
    if eol == "\r\n":
        assert body.count("\n") == body.count("\r\n")
    else:
        assert "\r" not in body
    assert body.endswith(eol) == content.endswith(eol)


@given(block=st.lists(code_line, min_size=1, max_size=4), between=lines, data=st.data())
def test_an_ambiguous_search_is_never_applied(block, between, data):
    # Two copies of the block, and nothing else the search could mean better.
    assume(not {line.strip() for line in between} & {line.strip() for line in block})
    content = "\n".join([*block, *between, *block]) + "\n"
    shift = data.draw(st.integers(0, 2))
    search = "\n".join("    " * shift + line for line in block)

    with pytest.raises(Miss, match="matches [0-9]+ places"):
        replace_once(content, search, data.draw(st.text(alphabet="xyz \n", max_size=20)))


@given(left=st.text(alphabet="ab", max_size=6), right=st.text(alphabet="ab", max_size=6))
def test_a_part_of_a_line_found_twice_is_never_applied(left, right):
    content = f"x = {left}frag(){right}\ny = {right}frag(){left}\n"

    with pytest.raises(Miss, match="matches 2 places"):
        replace_once(content, "frag()", "other()")
