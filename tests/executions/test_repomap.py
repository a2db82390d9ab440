"""The repository map on real code no one here wrote: Django's own source, as a git repository."""

import shutil
import subprocess
from pathlib import Path

import django
import pytest

from executions.context import excerpts, repoindex, repomap
from executions.repositories.local_git import LocalGitGateway


@pytest.fixture(scope="session")
def django_repo(tmp_path_factory) -> Path:
    """Django's installed source (``django/`` without its translations and static assets: about
    1,700 files, 720 of them Python) committed to a fresh repository."""
    root = tmp_path_factory.mktemp("django-source")
    shutil.copytree(
        Path(django.__file__).parent,
        root / "django",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "locale", "static"),
    )
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Django"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return root


class CountingGateway(LocalGitGateway):
    """The real local gateway, counting the files it is asked to read."""

    reads = 0

    def read_files(self, commit_sha, paths):
        self.reads += len(paths)
        return super().read_files(commit_sha, paths)


@pytest.fixture
def gateway(django_repo):
    # The index stays in memory between these tests (one commit): each would otherwise build it.
    return CountingGateway(django_repo)


def context_for(gateway, task, *, map_tokens=2000, file_bytes=40000):
    index = repoindex.index_for(gateway.snapshot(), gateway)
    return index, repomap.task_context(index, gateway, task, map_tokens=map_tokens, file_bytes=file_bytes)


@pytest.mark.parametrize(
    "task, defined_in",
    [
        ("get_object_or_404 should say which model was not found", "django/shortcuts.py"),
        (
            "Paginator.get_page() must accept a page number given as a float string",
            "django/core/paginator.py",
        ),
        ("Let `escape_leading_slashes` keep a trailing slash", "django/utils/http.py"),
        ("CsrfViewMiddleware should log why it rejected a request", "django/middleware/csrf.py"),
    ],
)
def test_a_task_naming_a_function_shows_its_defining_file(gateway, task, defined_in):
    _index, context = context_for(gateway, task)

    assert context.repo_map.startswith(f'"{defined_in}"\n')  # ranked first in the map
    assert defined_in in context.shown  # and the analyst reads its whole content
    assert context.shown[defined_in] == (gateway.path / defined_in).read_text()


def test_a_best_ranked_file_too_large_to_show_whole_gives_its_best_matching_definitions(gateway):
    task = "Task: QuerySet.in_bulk() should name the model when field_name is not unique"
    _index, context = context_for(gateway, task)

    query = (gateway.path / "django/db/models/query.py").read_text()
    shown = context.shown["django/db/models/query.py"]  # 107 KB: an excerpt, in half the budget
    assert excerpts.is_excerpt(shown) and len(shown.encode()) <= 20_000
    lines = query.split("\n")
    start = lines.index('    def in_bulk(self, id_list=None, *, field_name="pk"):') + 1
    end = lines.index('    async def ain_bulk(self, id_list=None, *, field_name="pk"):') - 1
    assert excerpts.numbered(lines[start - 1 : end], start) in shown  # in_bulk whole, numbered
    assert "Outline" not in shown  # the map lists the file's definitions already
    assert repomap.best_definitions("django/db/models/query.py", query, task)[0] == "QuerySet.in_bulk"
    assert sum(len(t.encode()) for t in context.shown.values()) <= 40_000


def test_a_definitions_name_written_as_one_word_matches_the_tasks_word_inside_it():
    path = Path(django.__file__).parent / "utils/datastructures.py"
    task = "Task: setting a default list on a MultiValueDict shares it between keys"

    best = repomap.best_definitions("django/utils/datastructures.py", path.read_text(), task)

    # "list" and "default" are inside setlistdefault (one word, not split): it comes first, before
    # the longer update() whose body holds more of the task's words by its length.
    assert best[0] == "MultiValueDict.setlistdefault"


def test_the_map_lists_signatures_under_their_file(gateway):
    _index, context = context_for(gateway, "get_object_or_404 should say which model was not found")

    block = context.repo_map.split("\n\n")[0]
    assert "  def get_object_or_404(klass, *args, **kwargs)\n" in context.repo_map
    assert block.startswith('"django/shortcuts.py"\n  def render(')


@pytest.mark.parametrize("map_tokens, file_bytes", [(2000, 40000), (300, 5000), (5000, 100000)])
def test_the_map_and_the_files_stay_within_their_budgets(gateway, settings, map_tokens, file_bytes):
    _index, context = context_for(
        gateway,
        "Model.save() should refuse an unsaved related object",
        map_tokens=map_tokens,
        file_bytes=file_bytes,
    )

    tokens = repomap.estimate_tokens(context.repo_map)
    assert map_tokens * 0.9 <= tokens <= map_tokens  # full, and never over
    assert sum(len(t.encode()) for t in context.shown.values()) <= file_bytes
    assert 1 <= len(context.shown) <= repomap.MAX_SHOWN_FILES


def test_the_second_build_on_the_same_commit_comes_from_the_cache(gateway, settings):
    repoindex.clear_memory_cache()
    snapshot = gateway.snapshot()
    first = repoindex.index_for(snapshot, gateway)
    cold_reads = gateway.reads
    repoindex.clear_memory_cache()  # as a new worker process would start

    second = repoindex.index_for(gateway.snapshot(), gateway)

    assert cold_reads > 700 and gateway.reads == cold_reads  # nothing read again
    assert second == first and len(first.symbols) > 700
    [cached] = Path(settings.CONTEXT_CACHE_DIR).glob(
        f"*/{snapshot.commit_sha}-*.json"
    )  # a folder per repository
    assert cached.stat().st_size > 100_000


def test_a_new_commit_gets_a_new_index(tmp_path):
    gateway = LocalGitGateway(tmp_path / "repo")
    first = repoindex.index_for(gateway.snapshot(), gateway)  # the sandbox's first commit: a README
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    (tmp_path / "repo" / "helpers.py").write_text("def brand_new_helper(x):\n    return x\n")
    for args in (["add", "-A"], ["commit", "-qm", "new"]):
        subprocess.run(
            ["git", "-C", str(tmp_path / "repo"), *args], check=True, env={**env, "PATH": "/usr/bin:/bin"}
        )

    second = repoindex.index_for(gateway.snapshot(), gateway)

    assert second.commit_sha != first.commit_sha
    assert second.symbols["helpers.py"] == [[1, 0, "brand_new_helper", "def brand_new_helper(x)", 2]]
    assert "helpers.py" not in first.files and "Sandbox repository" in first.readme


def test_binaries_lock_files_vendored_trees_big_files_and_excludes_are_left_out(settings):
    settings.CONTEXT_EXCLUDE = ["docs/internal/", "*.snap"]
    sizes = {
        "app/views.py": 100,
        "README.md": 50,
        "package-lock.json": 10,
        "poetry.lock": 10,
        "static/logo.png": 10,
        "node_modules/left-pad/index.js": 10,
        "web/vendor/jquery.js": 10,
        "web/app.min.js": 10,
        "app/huge.py": 300_000,
        "docs/internal/notes.md": 10,
        "tests/__snapshots__/a.snap": 10,
    }

    assert set(repoindex.selected_paths(sizes)) == {"app/views.py", "README.md"}


def test_definitions_in_python_javascript_and_go():
    python = b"import x\n\n@decorator\ndef top(a, b=1) -> int:\n    def inner(): pass\n    return a\n\nclass K(Base):\n    async def m(self, *args):\n        pass\n"
    javascript = b"export function f(a, b) { return a }\nclass C extends D {\n  method(x) { return x }\n}\n"
    go = b"package p\n\ntype Server struct {\n\tn int\n}\n\nfunc (s *Server) Run(ctx context.Context) error {\n\treturn nil\n}\n"

    assert repoindex.definitions("a.py", python) == [
        [4, 0, "top", "def top(a, b=1) -> int", 6],
        [8, 0, "K", "class K(Base)", 10],
        [9, 1, "m", "async def m(self, *args)", 10],
    ]
    assert repoindex.definitions("a.js", javascript) == [
        [1, 0, "f", "function f(a, b)", 1],
        [2, 0, "C", "class C extends D", 4],
        [3, 1, "method", "method(x)", 3],
    ]
    assert repoindex.definitions("a.go", go) == [
        [3, 0, "Server", "Server struct", 5],
        [7, 0, "Run", "func (s *Server) Run(ctx context.Context) error", 9],
    ]
    assert repoindex.definitions("a.txt", b"def nope(): pass") == []


def test_a_noun_in_ction_matches_the_verb_a_definition_is_named_for():
    path = Path(django.__file__).parent / "dispatch/dispatcher.py"
    task = "Task: receiver connection with weak=False is dropped"

    best = repomap.best_definitions("django/dispatch/dispatcher.py", path.read_text(), task)

    # "connection" is read as "connect" too: Signal.connect comes first, not the receiver helpers.
    assert best[0] == "Signal.connect"
    assert "connect" in repomap.words_of("connections")
