"""Whether a changed file still parses, before anything is published.

``regression(path, base, new)`` is the check ``executions.changes.edits.apply`` runs on every
file it writes: a file in a language with an installed tree-sitter grammar
(``executions.context.grammars``) must parse without ``ERROR`` or ``MISSING`` nodes, and JSON,
TOML and YAML files must still load (``json``, ``tomllib``, PyYAML's safe loader), whenever its
base did. A base that already fails is left to its owners; a new file has no such excuse. Other
files are not checked.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass

import yaml

from executions.context import grammars

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class Problem:
    """Where a file stops parsing: its kind ("Python", "YAML"), the 1-based line and its text."""

    kind: str
    line: int
    text: str

    def describe(self) -> str:
        shown = self.text.strip()
        shown = shown if len(shown) <= 100 else shown[:97] + "..."
        return (
            f"it no longer parses as {self.kind}: line {self.line}: {json.dumps(shown, ensure_ascii=False)}"
        )


def regression(path: str, base: str | None, new: str) -> Problem | None:
    """``new``'s problem when it does not parse and ``base`` (``None``: a new file) did."""
    found = problem(path, new)
    if found is None or (base is not None and problem(path, base) is not None):
        return None
    return found


def problem(path: str, text: str) -> Problem | None:
    """Where ``text`` (the content of ``path``) fails to parse, or None (also for a kind of file
    nothing here can check)."""
    text = text.removeprefix("\ufeff")
    extension = os.path.splitext(path)[1].lower()
    if extension == ".json":
        return _loads("JSON", text, _json_line)
    if extension == ".toml":
        return _loads("TOML", text, _toml_line)
    if extension in (".yml", ".yaml"):
        return _loads("YAML", text, _yaml_line)
    language = grammars.language_of(path)
    if language is None:
        return None
    node = _first_error(grammars.parser(language).parse(text.encode("utf-8")).root_node)
    if node is None:
        return None
    return _at(grammars.display_name(language), text, node.start_point[0] + 1)


def _first_error(root):
    """The first ``ERROR`` or ``MISSING`` node, in source order (only subtrees with an error are
    walked)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node
        if node.has_error:
            stack.extend(reversed(node.children))
    return None


def _loads(kind: str, text: str, line_of) -> Problem | None:
    try:
        if kind == "JSON":
            json.loads(text)
        elif kind == "TOML":
            tomllib.loads(text)
        else:
            for _document in yaml.load_all(text, Loader=_YAML_LOADER):
                pass
    except (ValueError, yaml.YAMLError) as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        return _at(kind, text, line_of(exc))
    return None


def _json_line(exc) -> int:
    return getattr(exc, "lineno", 1)


def _toml_line(exc) -> int:
    match = _TOML_LINE.search(str(exc))
    return int(match.group(1)) if match else 1


def _yaml_line(exc) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def _at(kind: str, text: str, line: int) -> Problem:
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    return Problem(kind, line, lines[line - 1].removesuffix("\r"))
