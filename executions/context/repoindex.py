"""The per-commit index of a repository: which files are worth showing a model, and the
definitions each source file holds.

``index_for(snapshot, gateway)`` lists the files worth showing (no binaries, vendored or generated
trees, lock files, files over 200 KB, ``CONTEXT_EXCLUDE`` patterns) and the definitions of every
source file (classes, functions, methods with their signature lines, by tree-sitter with the
official per-language grammar wheels). It depends only on the commit, so it is built once per
commit SHA, kept as a JSON file under ``CONTEXT_CACHE_DIR`` in a folder per repository (and in
memory), and reused by later executions on that commit, in any process; a new commit's build
reuses the definitions of the files whose content this process has parsed before. ``executions.context.repomap`` ranks it for a task.

Beside the definitions, each source file's string literals and the names it uses
(``executions.context.references``) and, where the gateway has history, the files its recent
commits changed together are kept, so a task's quoted error message, setting name or call leads
to the code without reading the repository again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pathspec
from django.conf import settings

from executions.context import grammars, references

if TYPE_CHECKING:
    from executions.repositories.base import RepositoryGateway, Snapshot

log = logging.getLogger(__name__)

INDEX_VERSION = 3  # bump when the cached index's shape or the extraction changes
MAX_INDEXED_FILE_BYTES = 200 * 1024  # larger files are skipped (the coder could not write them either)
MAX_INDEXED_FILES = 5000  # source files parsed per commit (reads cost a request each on GitHub)
MAX_README_BYTES = 3000
MAX_SIGNATURE_CHARS = 160
README_NAMES = ("README.md", "README.rst", "README.txt", "README")

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


# --- the per-commit index ----------------------------------------------------------------------


@dataclass(frozen=True)
class RepoIndex:
    commit_sha: str
    tree: dict[str, int]  # every file of the commit -> size in bytes
    files: dict[str, int]  # the files worth showing (a subset of ``tree``)
    symbols: dict[str, list[list]]  # path -> [[line, depth, name, signature, end line], ...]
    readme: str = ""
    literals: dict[str, list[list]] = field(default_factory=dict)  # path -> [[line, text], ...]
    uses: dict[str, str] = field(default_factory=dict)  # path -> the names it uses, space-separated
    history: list[list[str]] = field(default_factory=list)  # recent commits' changed files


def selected_paths(sizes: dict[str, int]) -> dict[str, int]:
    """The files worth showing a model, from a commit's full listing."""
    extra = tuple(settings.CONTEXT_EXCLUDE)
    return {
        path: size for path, size in sizes.items() if size <= MAX_INDEXED_FILE_BYTES and _listed(path, extra)
    }


@lru_cache(maxsize=50_000)
def _listed(path: str, extra: tuple[str, ...]) -> bool:
    # Remembered per path: matching the excludes took half a second per commit of a large
    # repository, and commits close in history (a backtest's bases) list the same paths.
    return not _control(path) and not _exclude_spec(extra).match_file(path)


@lru_cache(maxsize=8)
def _exclude_spec(extra: tuple[str, ...]) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *extra])


def _control(path: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in path)


_memory: dict[str, RepoIndex] = {}


def index_for(snapshot: Snapshot, gateway: RepositoryGateway) -> RepoIndex:
    """The commit's index: from memory, else from the cache file, else built (and cached)."""
    key = f"{_folder(snapshot.name)}/{_cache_key(snapshot.commit_sha)}"
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
    _parsed.clear()


def _folder(repository: str) -> str:
    """A folder name per repository: readable, and unique (two names never share one)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", repository).strip("-.")[-60:] or "repository"
    return f"{readable}-{hashlib.sha1(repository.encode()).hexdigest()[:8]}"


def _cache_key(commit_sha: str) -> str:
    # The excludes change what is listed, so they are part of the key; the commit is the rest.
    options = json.dumps([INDEX_VERSION, sorted(settings.CONTEXT_EXCLUDE)])
    return f"{commit_sha}-{hashlib.sha1(options.encode()).hexdigest()[:8]}"


def _load(path: Path) -> RepoIndex | None:
    try:
        data = json.loads(path.read_bytes())
        return RepoIndex(**data)
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
    literals: dict[str, list[list]] = {}
    uses: dict[str, str] = {}
    readme_text = ""
    for start in range(0, len(sources) + 1, 500):
        chunk = sources[start : start + 500] + ([readme] if readme and start == 0 else [])
        for path, raw in gateway.read_files(snapshot.commit_sha, chunk).items():
            if path == readme:
                readme_text = raw[:MAX_README_BYTES].decode("utf-8", "ignore")
            if path in sources and b"\0" not in raw:
                symbols[path] = _definitions_by_content(path, raw)
                literals[path], uses[path] = references.literals(raw), references.names_used(raw)
    # Gateways without history (test stand-ins) give none; co-change is then simply not used.
    recent = getattr(gateway, "recent_changes", None)
    history = [
        [p for p in commit if p in files] for commit in (recent(snapshot.commit_sha) if recent else [])
    ]
    return RepoIndex(
        snapshot.commit_sha, tree, files, symbols, readme_text, literals, uses, [h for h in history if h]
    )


# A file's definitions depend only on its language and content: commits close in history (a
# backtest's bases, a branch's next commit) share most files, so a file's parse is reused by
# content rather than redone per commit (docs/benchmarks.md: backtest).
MAX_REMEMBERED_PARSES = 20_000
_parsed: dict[tuple[str | None, bytes], list[list]] = {}


def _definitions_by_content(path: str, raw: bytes) -> list[list]:
    key = (_language_of(path), hashlib.sha1(raw).digest())
    found = _parsed.get(key)
    if found is None:
        found = definitions(path, raw)
        if len(_parsed) >= MAX_REMEMBERED_PARSES:
            _parsed.pop(next(iter(_parsed)))
        _parsed[key] = found
    return [list(entry) for entry in found]


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


def _language_of(path: str) -> str | None:
    language = grammars.language_of(path)
    return language if language in _DEFINITIONS else None


@dataclass(frozen=True)
class Definition:
    """A class, function or method and the lines it spans (1-based, decorators included)."""

    line: int  # the line of its ``def``/``class``/``func`` keyword
    depth: int
    name: str
    qualname: str  # ``QuerySet.in_bulk``
    signature: str
    start: int  # its first line: its first decorator's, or ``line``
    end: int  # its last line


def definitions(path: str, source: bytes) -> list[list]:
    """``[[line, depth, name, signature, end line], ...]`` of ``source``'s classes, functions and
    methods (functions nested inside functions are left out: they are not part of a file's
    interface)."""
    return [[d.line, d.depth, d.name, d.signature, d.end] for d in spans(path, source)]


def spans(path: str, source: bytes) -> list[Definition]:
    """The same definitions as ``definitions``, with their qualified names and line spans."""
    language = _language_of(path)
    if language is None:
        return []
    tree = grammars.parser(language).parse(source)
    found: list[Definition] = []
    _walk(tree.root_node, (), _DEFINITIONS[language], source, found, None)
    return found


def _walk(node, outer: tuple[str, ...], kinds: dict, source: bytes, found: list, decorated) -> None:
    for child in node.named_children:
        if child.type in kinds:
            name = child.child_by_field_name("name")
            if name is None:
                continue
            body = child.child_by_field_name(kinds[child.type]) if kinds[child.type] else None
            text = name.text.decode("utf-8", "replace")
            found.append(
                Definition(
                    line=child.start_point[0] + 1,
                    depth=len(outer),
                    name=text,
                    qualname=".".join((*outer, text)),
                    signature=_signature(child, body, source),
                    start=(decorated or child).start_point[0] + 1,
                    end=child.end_point[0] + 1,
                )
            )
            if child.type in _CLASSES and body is not None:
                _walk(body, (*outer, text), kinds, source, found, None)
        elif child.type in _WRAPPERS:
            # Decorators belong to the definition they wrap (a Go type group's specs stand alone).
            wrapped = child if child.type == "decorated_definition" else None
            _walk(child, outer, kinds, source, found, wrapped)


def _signature(node, body, source: bytes) -> str:
    end = body.start_byte if body is not None else source.find(b"\n", node.start_byte)
    text = source[node.start_byte : end if end > node.start_byte else node.end_byte].decode(
        "utf-8", "replace"
    )
    text = " ".join(text.split()).rstrip(":{ ")
    return text if len(text) <= MAX_SIGNATURE_CHARS else text[: MAX_SIGNATURE_CHARS - 1] + "…"
