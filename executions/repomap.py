"""What the models see of the repository: a per-commit index and a map ranked for each task.

``index_for(snapshot, gateway)`` lists the files worth showing (no binaries, vendored or generated
trees, lock files, files over 200 KB, ``CONTEXT_EXCLUDE`` patterns) and the definitions of every
source file (classes, functions, methods with their signature lines, by tree-sitter). It depends
only on the commit, so it is built once per commit SHA and kept as a JSON file under
``CONTEXT_CACHE_DIR`` (and in memory), and later executions on that commit reuse it.

``task_context(...)`` ranks the files for one task with BM25 (the task's words and identifiers
against each file's path and symbol names; a file defining an identifier the task names, or a path
it names, comes first), renders the map within ``CONTEXT_MAP_TOKENS`` and picks the content of the
best-ranked files within ``CONTEXT_FILE_BYTES``. See docs/context.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import pathspec
from django.conf import settings

if TYPE_CHECKING:
    from executions.gateways.base import RepositoryGateway, Snapshot

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

INDEX_VERSION = 2  # bump when the cached index's shape or the extraction changes
BYTES_PER_TOKEN = 4  # the map's token estimate; code averages 3-4 bytes per token in both vendors'
MAX_INDEXED_FILE_BYTES = 200 * 1024  # larger files are skipped (the coder could not write them either)
MAX_INDEXED_FILES = 5000  # source files parsed per commit (reads cost a request each on GitHub)
MAX_SHOWN_FILES = 12  # files whose whole content the analyst sees (within CONTEXT_FILE_BYTES)
MAX_CANDIDATES = 60  # best-ranked files considered for showing
READ_BATCH = 6
MIN_ROOM = 500  # bytes of the file budget not worth another read
MAX_LISTED_PATHS = 200  # paths in the commit-stable overview
MAX_README_BYTES = 3000
MAX_SIGNATURE_CHARS = 160

# gitignore-style: what is never worth a model's tokens.
DEFAULT_EXCLUDES = [
    # vendored and generated trees
    "node_modules/",
    "vendor/",
    "vendored/",
    "third_party/",
    "bower_components/",
    "dist/",
    "build/",
    ".venv/",
    "venv/",
    "site-packages/",
    "__pycache__/",
    ".tox/",
    ".mypy_cache/",
    "coverage/",
    "*.min.js",
    "*.min.css",
    "*.map",
    "*_pb2.py",
    "*.pb.go",
    "*.generated.*",
    # lock files
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Pipfile.lock",
    "Cargo.lock",
    "composer.lock",
    "Gemfile.lock",
    "go.sum",
    "uv.lock",
    "*.lock",
    # binaries
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.ico",
    "*.webp",
    "*.bmp",
    "*.pdf",
    "*.zip",
    "*.gz",
    "*.tgz",
    "*.bz2",
    "*.xz",
    "*.7z",
    "*.whl",
    "*.egg",
    "*.jar",
    "*.class",
    "*.so",
    "*.dylib",
    "*.dll",
    "*.exe",
    "*.bin",
    "*.o",
    "*.a",
    "*.pyc",
    "*.mo",
    "*.woff",
    "*.woff2",
    "*.ttf",
    "*.otf",
    "*.eot",
    "*.mp3",
    "*.mp4",
    "*.mov",
    "*.wav",
    "*.ogg",
    "*.sqlite",
    "*.sqlite3",
    "*.db",
    "*.psd",
    "*.xlsx",
    "*.docx",
]

README_NAMES = ("README.md", "README.rst", "README.txt", "README")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATHLIKE = re.compile(r"[\w.-]+(?:/[\w.-]+)+")
_SUBWORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by do does for from has have if in into is it its make not of on or so "
    "that the their them then there these this to was when where which while with without should "
    "would can could must add use used new it's our we you your all any each one two also only".split()
)


# --- the per-commit index ----------------------------------------------------------------------


@dataclass(frozen=True)
class RepoIndex:
    commit_sha: str
    tree: dict[str, int]  # every file of the commit -> size in bytes
    files: dict[str, int]  # the files worth showing (a subset of ``tree``)
    symbols: dict[str, list[list]]  # path -> [[line, depth, name, signature], ...]
    readme: str = ""


def selected_paths(sizes: dict[str, int]) -> dict[str, int]:
    """The files worth showing a model, from a commit's full listing."""
    spec = _exclude_spec(tuple(settings.CONTEXT_EXCLUDE))
    return {
        path: size
        for path, size in sizes.items()
        if size <= MAX_INDEXED_FILE_BYTES and not _control(path) and not spec.match_file(path)
    }


@lru_cache(maxsize=8)
def _exclude_spec(extra: tuple[str, ...]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *extra])


def _control(path: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in path)


_memory: dict[str, RepoIndex] = {}


def index_for(snapshot: Snapshot, gateway: RepositoryGateway) -> RepoIndex:
    """The commit's index: from memory, else from the cache file, else built (and cached)."""
    key = _cache_key(snapshot.commit_sha)
    if key in _memory:
        return _memory[key]
    path = Path(settings.CONTEXT_CACHE_DIR) / f"{key}.json"
    index = _load(path)
    if index is None:
        index = build_index(snapshot, gateway)
        _store(path, index)
    if len(_memory) >= 8:
        _memory.pop(next(iter(_memory)))
    _memory[key] = index
    return index


def clear_memory_cache() -> None:
    _memory.clear()


def _cache_key(commit_sha: str) -> str:
    # The excludes change what is listed, so they are part of the key; the commit is the rest.
    options = json.dumps([INDEX_VERSION, sorted(settings.CONTEXT_EXCLUDE)])
    return f"{commit_sha}-{hashlib.sha1(options.encode()).hexdigest()[:8]}"


def _load(path: Path) -> RepoIndex | None:
    try:
        data = json.loads(path.read_bytes())
        return RepoIndex(
            data["commit_sha"], data["tree"], data["files"], data["symbols"], data.get("readme", "")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: rebuilt


def _store(path: Path, index: RepoIndex) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(index.__dict__, separators=(",", ":")))
        os.replace(partial, path)  # atomic: a reader sees the whole file or none
    except OSError as exc:
        log.warning("could not cache the repository index in %s: %s", path.parent, exc)


def build_index(snapshot: Snapshot, gateway: RepositoryGateway) -> RepoIndex:
    tree = gateway.list_files(snapshot.commit_sha)
    files = selected_paths(tree)
    sources = [p for p in sorted(files) if _language_of(p)][:MAX_INDEXED_FILES]
    readme = next((p for p in README_NAMES if p in files), None)
    symbols: dict[str, list[list]] = {}
    readme_text = ""
    for start in range(0, len(sources) + 1, 500):
        chunk = sources[start : start + 500] + ([readme] if readme and start == 0 else [])
        for path, raw in gateway.read_files(snapshot.commit_sha, chunk).items():
            if path == readme:
                readme_text = raw[:MAX_README_BYTES].decode("utf-8", "ignore")
            if path in sources and b"\0" not in raw:
                symbols[path] = definitions(path, raw)
    return RepoIndex(snapshot.commit_sha, tree, files, symbols, readme_text)


# --- definitions, by tree-sitter ----------------------------------------------------------------

# node type -> the field holding its body (what is left out of the signature line); None: one line
_DEFINITIONS = {
    "python": {"class_definition": "body", "function_definition": "body"},
    "javascript": {
        "class_declaration": "body",
        "function_declaration": "body",
        "generator_function_declaration": "body",
        "method_definition": "body",
    },
    "go": {"function_declaration": "body", "method_declaration": "body", "type_spec": None},
}
# nodes whose children may hold definitions at the same depth (decorators, exports, type groups)
_WRAPPERS = {"decorated_definition", "export_statement", "type_declaration"}
_CLASSES = {"class_definition", "class_declaration"}
_EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".go": "go",
}


def _language_of(path: str) -> str | None:
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())


@cache
def _parser(language: str):
    from tree_sitter import Language, Parser

    if language == "python":
        import tree_sitter_python as grammar
    elif language == "javascript":
        import tree_sitter_javascript as grammar
    else:
        import tree_sitter_go as grammar
    return Parser(Language(grammar.language()))


def definitions(path: str, source: bytes) -> list[list]:
    """``[[line, depth, name, signature], ...]`` of ``source``'s classes, functions and methods
    (functions nested inside functions are left out: they are not part of a file's interface)."""
    language = _language_of(path)
    if language is None:
        return []
    tree = _parser(language).parse(source)
    found: list[list] = []
    _walk(tree.root_node, 0, _DEFINITIONS[language], source, found)
    return found


def _walk(node, depth: int, kinds: dict, source: bytes, found: list[list]) -> None:
    for child in node.named_children:
        if child.type in kinds:
            name = child.child_by_field_name("name")
            if name is None:
                continue
            body = child.child_by_field_name(kinds[child.type]) if kinds[child.type] else None
            found.append(
                [
                    child.start_point[0] + 1,
                    depth,
                    name.text.decode("utf-8", "replace"),
                    _signature(child, body, source),
                ]
            )
            if child.type in _CLASSES and body is not None:
                _walk(body, depth + 1, kinds, source, found)
        elif child.type in _WRAPPERS:
            _walk(child, depth, kinds, source, found)


def _signature(node, body, source: bytes) -> str:
    end = body.start_byte if body is not None else source.find(b"\n", node.start_byte)
    text = source[node.start_byte : end if end > node.start_byte else node.end_byte].decode(
        "utf-8", "replace"
    )
    text = " ".join(text.split()).rstrip(":{ ")
    return text if len(text) <= MAX_SIGNATURE_CHARS else text[: MAX_SIGNATURE_CHARS - 1] + "…"


# --- ranking for a task --------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Lower-case search terms: each identifier whole and split into its words (snake, camel)."""
    terms = []
    for word in _WORD.findall(text):
        parts = [p.lower() for chunk in word.split("_") for p in _SUBWORD.findall(chunk)]
        whole = word.lower()
        terms.extend(t for t in {whole, *parts} if len(t) > 1 and t not in STOPWORDS)
    return terms


def rank(index: RepoIndex, task: str) -> list[tuple[str, float]]:
    """Every listed file with its score for ``task``, best first (ties: shallow paths first)."""
    paths, retriever = _retriever(index)
    scores = [0.0] * len(paths)
    known = [w for w in words_of(task) if w in retriever.vocab_dict] if paths else []
    if known:
        scores = [float(s) for s in retriever.get_scores(known)]
    top = max(scores, default=0.0) + 1.0
    named = _named_identifiers(task)
    mentioned = {m.strip("./") for m in _PATHLIKE.findall(task)}
    for i, path in enumerate(paths):
        # What the task names outright beats any word statistics.
        if path in mentioned:
            scores[i] += 2 * top
        if named and any(s[2] in named for s in index.symbols.get(path, [])):
            scores[i] += top
    order = sorted(range(len(paths)), key=lambda i: -scores[i])
    return [(paths[i], scores[i]) for i in order]


_retrievers: dict[str, tuple[list[str], bm25s.BM25]] = {}


def _retriever(index: RepoIndex) -> tuple[list[str], bm25s.BM25]:
    """The commit's BM25 index over each file's path and symbol names (kept for the commit)."""
    if index.commit_sha not in _retrievers:
        paths = sorted(index.files, key=lambda p: (p.count("/"), p))
        corpus = [
            words_of(p.replace("/", " ").replace(".", " "))
            + [w for s in index.symbols.get(p, []) for w in words_of(s[2])]
            for p in paths
        ]
        retriever = bm25s.BM25()
        if paths:
            retriever.index(corpus, show_progress=False)
        if len(_retrievers) >= 4:
            _retrievers.pop(next(iter(_retrievers)))
        _retrievers[index.commit_sha] = (paths, retriever)
    return _retrievers[index.commit_sha]


def _named_identifiers(task: str) -> set[str]:
    """Identifiers the task spells as code: snake_case, CamelCase, ``quoted`` or called()."""
    named = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", task))
    named |= {w for w in _WORD.findall(task) if "_" in w.strip("_") or re.search(r"[a-z][A-Z]", w)}
    named |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\(", task))
    return {n.rsplit(".", 1)[-1] for n in named}


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def render_map(index: RepoIndex, ranked: list[tuple[str, float]], token_budget: int) -> str:
    """The ranked files with their definitions, cut to ``token_budget`` (estimated) tokens."""
    budget = token_budget * BYTES_PER_TOKEN
    blocks, used = [], 0
    for path, _score in ranked:
        lines = [path] + [
            f"{'  ' * (depth + 1)}{sig}" for _line, depth, _name, sig in index.symbols.get(path, [])
        ]
        block = "\n".join(lines) + "\n"
        size = len(block.encode("utf-8"))
        if used + size <= budget:
            blocks.append(block)
            used += size
            continue
        # Part of the file that does not fit whole, then stop: the map is full.
        while len(lines) > 1 and used + len(("\n".join(lines) + "\n  …\n").encode("utf-8")) > budget:
            lines.pop()
        if len(lines) > 1 or used + len(lines[0]) + 1 <= budget:
            partial = "\n".join(lines) + ("\n  …\n" if len(lines) > 1 else "\n")
            if used + len(partial.encode("utf-8")) <= budget:
                blocks.append(partial)
        break
    return "".join(blocks)


# --- what one task's prompts carry ----------------------------------------------------------------


@dataclass(frozen=True)
class TaskContext:
    """The task-specific part of the analysis prompt, and what the pipeline checks against."""

    repo_map: str
    shown: dict[str, str] = field(default_factory=dict)  # path -> content, best first

    def as_prompt(self) -> str:
        files = "".join(file_block(path, text) for path, text in self.shown.items())
        return f"Repository map (files ranked for this task, with their definitions):\n{self.repo_map}\n" + (
            f"Content of the most relevant files:\n\n{files}" if files else ""
        )


FILE_BLOCK = '<file path="{path}">\n{content}\n</file>\n\n'
FILE_BLOCK_OVERHEAD = len(FILE_BLOCK.format(path="", content="").encode("utf-8"))


def file_block(path: str, content: str) -> str:
    return FILE_BLOCK.format(path=path, content=content)


def decoded(raw: bytes) -> str | None:
    """Text a model can read, or None for binary content."""
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def task_context(
    index: RepoIndex, gateway: RepositoryGateway, task: str, *, map_tokens: int, file_bytes: int
) -> TaskContext:
    ranked = rank(index, task)
    # Nothing matched (a tiny repository, a vague task): the shallowest files are the best guess.
    relevant = [path for path, score in ranked if score > 0][:MAX_CANDIDATES] or [
        path for path, _score in ranked[:MAX_SHOWN_FILES]
    ]
    shown: dict[str, str] = {}
    room = file_bytes
    # Whole files, best first, while they fit; read a few at a time (a read is a request on GitHub).
    while relevant and room >= MIN_ROOM and len(shown) < MAX_SHOWN_FILES:
        batch = [p for p in relevant if index.files[p] <= room][:READ_BATCH]
        relevant = relevant[relevant.index(batch[-1]) + 1 :] if batch else []
        contents = gateway.read_files(index.commit_sha, batch) if batch else {}
        for path in batch:
            text = decoded(contents[path]) if path in contents else None
            size = len(text.encode("utf-8")) if text is not None else room + 1
            if size <= room and len(shown) < MAX_SHOWN_FILES:
                shown[path] = text
                room -= size
    return TaskContext(repo_map=render_map(index, ranked, map_tokens), shown=shown)


def overview(snapshot: Snapshot, index: RepoIndex) -> str:
    """The commit-stable part: the same for every task on this commit (cached by the vendors)."""
    listed = sorted(sorted(index.files, key=lambda p: (p.count("/"), p))[:MAX_LISTED_PATHS])
    more = len(index.files) - len(listed)
    return (
        f"Repository: {snapshot.name} (default branch {snapshot.default_branch}, commit {snapshot.commit_sha[:12]})\n\n"
        f"Files ({len(index.files):,} in all{f'; the {len(listed)} shallowest shown' if more else ''}):\n"
        + "\n".join(listed)
        + (f"\n\nREADME (excerpt):\n{index.readme}" if index.readme else "")
    )
