"""Retrieval on a real tree no one here wrote: Django REST framework's installed source laid out as
a project (``src/rest_framework/``, shallow tests and docs beside it), with a small history made
here. One test per signal of what a task names (docs/context.md: "What the task names"); one on
Click's installed source (a dependency of import-linter) for the excerpts a named file keeps."""

import subprocess
from dataclasses import replace
from pathlib import Path

import click
import pytest
import rest_framework

from executions.context import repoindex, repomap
from executions.repositories.local_git import LocalGitGateway

SOURCE = Path(rest_framework.__file__).parent
CLICK = Path(click.__file__).parent
ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, env={**ENV, "PATH": "/usr/bin:/bin"})


def commit(root: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def drf_repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drf")
    git(root, "init", "-q", "-b", "main")
    files = {
        f"src/rest_framework/{p.relative_to(SOURCE)}": p.read_text()
        for p in SOURCE.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    files["pyproject.toml"] = '[project]\nname = "djangorestframework"\n'
    # Shallow tests and docs whose names share the task's words: a shallow-first listing of 200
    # would hold these and drop the package's deep modules.
    for n in range(240):
        files[f"tests/test_throttle_{n:03}.py"] = f"def test_throttle_{n}():\n    assert True\n"
    files["docs/throttling.md"] = "# Throttling\n\nHow throttling works.\n"
    commit(root, files, "the project")
    # History: the throttling module and the pagination module (which do not refer to each other)
    # change together three times.
    for n in range(3):
        changed = {}
        for path in ("src/rest_framework/throttling.py", "src/rest_framework/pagination.py"):
            changed[path] = (root / path).read_text() + f"\n# change {n}\n"
        commit(root, changed, f"throttling and pagination {n}")
    return root


@pytest.fixture
def gateway(drf_repo):
    return LocalGitGateway(drf_repo)


def context_for(gateway, task):
    index = repoindex.index_for(gateway.snapshot(), gateway)
    return index, repomap.task_context(index, gateway, task, map_tokens=2000, file_bytes=40000)


def lines_shown(text: str) -> set[int]:
    return {int(m.group(1)) for line in text.split("\n") if (m := repomap.excerpts.LINE_NUMBER.match(line))}


def test_a_qualified_name_shows_that_method_of_a_file_too_large_to_show_whole(gateway):
    task = "Task: ListSerializer.to_representation drops the context for nested items"
    _index, context = context_for(gateway, task)

    path = "src/rest_framework/serializers.py"  # 72 KB: too large to show whole
    assert next(iter(context.shown)) == path
    source = (gateway.path / path).read_text().split("\n")
    start = next(
        n for n, line in enumerate(source, 1) if line.strip() == "def to_representation(self, data):"
    )
    assert "class ListSerializer" in source[[n for n in range(start) if source[n].startswith("class ")][-1]]
    assert set(range(start, start + 10)) <= lines_shown(context.shown[path])


def test_a_quoted_error_message_leads_to_the_only_definition_raising_it(gateway):
    task = """Task: A typo in the serializer's fields raises "Field name `titel` is not valid for model `Book` in `app.BookSerializer`."

It should suggest the closest field name."""
    _index, context = context_for(gateway, task)

    path = "src/rest_framework/serializers.py"  # the one file holding it; too large to show whole
    assert next(iter(context.shown)) == path
    source = (gateway.path / path).read_text().split("\n")
    start = next(n for n, t in enumerate(source, 1) if "def build_unknown_field(" in t)
    end = next(n for n, t in enumerate(source, 1) if "Field name `%s` is not valid" in t) + 2
    assert set(range(start, end + 1)) <= lines_shown(context.shown[path])  # the raising method, whole
    # Without the quote (and without "field name", whose words alone now lead there), it is not shown.
    _index, plain = context_for(gateway, "Task: the serializer raises an unclear error")
    assert start not in lines_shown(plain.shown.get(path, ""))


def test_words_of_the_title_found_as_written_in_a_message_lead_to_the_code_holding_it(gateway):
    _index, context = context_for(gateway, "Task: says not a valid string for bytes")

    # Unquoted, but "not a valid string" is CharField's error message, in fields.py alone (72 KB):
    # its excerpt shows the message's line.
    path = "src/rest_framework/fields.py"
    source = (gateway.path / path).read_text().split("\n")
    message = next(n for n, t in enumerate(source, 1) if "_('Not a valid string.')" in t)
    assert message in lines_shown(context.shown[path])


def test_a_file_holding_only_a_run_of_the_title_words_takes_a_quarter_of_the_budget(gateway):
    index, context = context_for(gateway, "Task: says not a valid string for bytes")

    # fields.py holds "not a valid string" (no name the task spells): past the first file shown,
    # its excerpt takes a quarter share, not half, and the room left shows the files ranked next.
    path = "src/rest_framework/fields.py"
    assert list(context.shown).index(path) > 0
    assert len(context.shown[path].encode()) <= 40000 // 4
    ranked = [p for p, _score in repomap.rank(index, "Task: says not a valid string for bytes")]
    after = [p for p in context.shown if ranked.index(p) > ranked.index(path)]
    assert sum(len(context.shown[p].encode()) for p in after) > 10000


def test_a_setting_name_leads_to_the_code_using_it(gateway):
    task = "Task: UNAUTHENTICATED_USER = None should give an anonymous request no user at all"
    _index, context = context_for(gateway, task)

    shown = list(context.shown)
    assert "src/rest_framework/request.py" in shown[:3]
    assert "src/rest_framework/settings.py" in shown[:3]


def test_a_deep_source_file_comes_before_shallow_tests_and_docs(gateway, drf_repo):
    index, context = context_for(gateway, "Task: throttling should allow a burst rate")

    ranked = [path for path, _score in repomap.rank(index, "Task: throttling should allow a burst rate")]
    assert ranked[0] == "src/rest_framework/throttling.py"
    assert ranked.index("src/rest_framework/throttling.py") < ranked.index("docs/throttling.md")
    assert next(iter(context.shown)) == "src/rest_framework/throttling.py"
    # The listing is cut to 200 paths: the package's deep modules are in it, not 200 shallow tests.
    listing = repomap.overview(gateway.snapshot(), index)
    assert '"src/rest_framework/authtoken/management/commands/drf_create_token.py"' in listing
    assert listing.count('"tests/test_throttle_') < 200 - 70


def test_files_that_change_together_lift_each_other(gateway):
    index = repoindex.index_for(gateway.snapshot(), gateway)
    task = "Task: the SimpleRateThrottle should allow a burst rate"

    with_history = dict(repomap.rank(index, task))
    without = dict(repomap.rank(replace(index, history=[], commit_sha="no-history"), task))

    pagination, throttling = "src/rest_framework/pagination.py", "src/rest_framework/throttling.py"
    assert [pagination, throttling] in [sorted(c) for c in index.history]
    # Both changed lately (a little each); the file that changed with the lead is lifted more.
    assert with_history[pagination] - without[pagination] > with_history[throttling] - without[throttling] > 0
    assert sorted(with_history, key=with_history.get, reverse=True).index(pagination) < sorted(
        without, key=without.get, reverse=True
    ).index(pagination)


def test_a_task_naming_nothing_shows_the_files_changed_most_lately(gateway):
    index, context = context_for(gateway, "Task: fix mypy findings")

    # Nothing in the tree is named so: the history's busiest source files (changed three times
    # each) come first, not the shallow pyproject.toml, docs and tests, nor what they refer to.
    assert list(context.shown)[:2] == ["src/rest_framework/pagination.py", "src/rest_framework/throttling.py"]
    without = repomap.rank(replace(index, history=[], commit_sha="no-history"), "Task: fix mypy findings")
    assert "src/rest_framework/pagination.py" not in [path for path, _score in without[:12]]


def test_a_release_task_shows_the_file_that_sets_the_version(gateway):
    _index, context = context_for(gateway, "Task: release version 3.99.1")

    path = "src/rest_framework/__init__.py"  # __version__ = '...'; "version" alone ranks versioning.py first
    assert path in context.shown
    assert "__version__ = " in context.shown[path]


def test_a_large_file_not_first_is_shown_as_its_best_definitions_beside_more_files(gateway):
    task = "Task: DjangoFilterBackend and OrderingFilter ignore the view's queryset"
    _index, context = context_for(gateway, task)

    shown = list(context.shown)
    assert shown[0] == "src/rest_framework/filters.py"  # first: shown whole
    assert not repomap.excerpts.is_excerpt(context.shown[shown[0]])
    # Past the first, a file over a quarter of the budget (validators.py, 16 KB) is an excerpt of
    # its definitions that matter, and the room left shows more files.
    quarter = 40000 // 4
    assert all(len(text.encode()) <= quarter for path, text in list(context.shown.items())[1:])
    assert repomap.excerpts.is_excerpt(context.shown["src/rest_framework/validators.py"])
    assert len(shown) >= 4


def test_an_excerpt_shows_the_head_of_the_class_around_the_method_it_shows(gateway):
    task = "Task: ModelSerializer.build_relational_field ignores the related model's to_field"
    _index, context = context_for(gateway, task)

    path = "src/rest_framework/serializers.py"
    source = (gateway.path / path).read_text().split("\n")
    method = next(n for n, t in enumerate(source, 1) if "def build_relational_field(" in t)
    head = next(n for n, t in enumerate(source, 1) if t.startswith("class ModelSerializer("))
    shown = lines_shown(context.shown[path])
    assert method in shown
    assert method - head > 400  # far apart: not shown as the method's surroundings
    assert set(range(head, head + 3)) <= shown  # the class's signature and its docstring's start


@pytest.fixture(scope="module")
def click_repo(tmp_path_factory) -> Path:
    """Click's installed source as ``src/click/``, and four modules whose names hold every word of
    the task below (one small function each and much else): they outrank, by words alone, the
    module using the name the task spells."""
    root = tmp_path_factory.mktemp("click")
    git(root, "init", "-q", "-b", "main")
    files = {
        f"src/click/{p.relative_to(CLICK)}": p.read_text()
        for p in CLICK.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    filler = "\n\n".join(
        f"def helper_{i}(value):\n    for _ in range(3):\n        value = value\n    return value\n"
        for i in range(120)
    )
    for n in range(4):
        files[f"src/click/temporary_file_mode_{n}.py"] = (
            f"def named_temporary_file_mode_{n}(mode):\n    return mode\n\n\n{filler}"
        )
    commit(root, files, "the project")
    return root


def test_a_large_file_using_the_name_the_task_spells_keeps_an_excerpt_against_files_matching_its_words(
    click_repo,
):
    gateway = LocalGitGateway(click_repo)
    task = "Task: Changed `tempfile.NamedTemporaryFile` mode to `w`"
    index, context = context_for(gateway, task)

    ranked = [path for path, _score in repomap.rank(index, task)]
    path = "src/click/_termui_impl.py"  # the only module calling NamedTemporaryFile
    large = [p for p in ranked[: ranked.index(path)] if index.files[p] > 40000 // 4]
    assert len(large) >= repomap.MAX_EXCERPTED_FILES  # as many large files rank above it
    assert repomap.excerpts.is_excerpt(context.shown[path])
    assert "NamedTemporaryFile(" in context.shown[path]
