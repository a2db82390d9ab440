"""The tree-sitter grammars installed with the product, by file extension: the one place a
language is added (a per-language wheel in requirements.txt and a line here).

Each grammar ships compiled inside its official wheel (``tree-sitter-python``, ...); nothing is
downloaded at run time. ``executions.context.repoindex`` reads definitions with them and
``executions.changes.syntax`` checks that a changed file still parses.
"""

from __future__ import annotations

import importlib
import os
from functools import cache

# language -> (module, the function returning its grammar)
GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "c_sharp": ("tree_sitter_c_sharp", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "bash": ("tree_sitter_bash", "language"),
    "css": ("tree_sitter_css", "language"),
}
EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".rb": "ruby",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cs": "c_sharp",
    ".php": "php",
    ".sh": "bash",
    ".bash": "bash",
    ".css": "css",
}
NAMES = {"c_sharp": "C#", "cpp": "C++", "tsx": "TSX", "javascript": "JavaScript", "typescript": "TypeScript"}


def language_of(path: str) -> str | None:
    """The language of ``path`` by its extension, when its grammar is installed."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


def display_name(language: str) -> str:
    return NAMES.get(language, language.capitalize())


@cache
def parser(language: str):
    """A tree-sitter parser for ``language`` (a key of ``GRAMMARS``)."""
    from tree_sitter import Language, Parser

    module, function = GRAMMARS[language]
    return Parser(Language(getattr(importlib.import_module(module), function)()))
