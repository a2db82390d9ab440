"""Context mode: the analyst's prompt at a case's base commit, built by the pipeline itself
(``runner.base_of`` and ``runner.analysis_request_at``, as ``prepare`` builds it), and what it
holds of the real change. Nothing is sent; nothing is spent.

For each file the real change touched: is its path in the prompt, is its content shown (whole,
or as an excerpt), its rank for the task and whether the map lists it. For each definition it
touched: is its signature in the prompt (in the map, or in the file's content), and its body
(the signature line and the first body line, in the file's content or excerpt, by their line
numbers in an excerpt).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from executions.backtest.cases import Case
from executions.context import repomap
from executions.context.excerpts import is_excerpt
from executions.context.quoting import quoted
from executions.models import Repository, Task
from executions.pipeline import runner, steps
from executions.repositories.base import RepositoryGateway

MAP_HEADER = "Repository map (files ranked for this task, with their definitions):\n"
FILES_HEADER = "\nContent of the most relevant files:\n\n"
WHOLE, EXCERPT = "whole", "excerpt"


@dataclass(frozen=True)
class FileSeen:
    path: str
    path_in_prompt: bool
    content: str  # WHOLE, EXCERPT or "" (not shown)
    rank: int | None  # 1 = ranked first for the task; None: not in the index (too large, excluded)
    in_map: bool


@dataclass(frozen=True)
class DefinitionSeen:
    definition: str  # ``path::Qualified.name``
    signature: bool
    body: bool


@dataclass(frozen=True)
class PromptSeen:
    files: list[FileSeen]
    definitions: list[DefinitionSeen]
    prompt_bytes: int  # system and user text, UTF-8

    def as_json(self) -> dict:
        return asdict(self)


def task_of(case: Case, repository: Repository) -> Task:
    """The task the product would have been given (never saved)."""
    return Task(title=case.title, description=case.description, repository=repository)


def measure(case: Case, task: Task, gateway: RepositoryGateway, analysis: steps.Step) -> PromptSeen:
    """Build the analyst's prompt for ``task`` at the case's base and measure what it holds."""
    base = runner.base_of(gateway, case.base_sha)
    ranking = steps.task_text(task)
    request = runner.analysis_request_at(base, gateway, analysis, task, ranking)
    prompt = f"{request.system}\n{request.user}"
    entries = map_entries(request.user)
    ranks = {path: n for n, (path, _score) in enumerate(repomap.rank(base.index, ranking), 1)}
    files = []
    for path in case.files:
        block = file_content(request.user, path)
        files.append(
            FileSeen(
                path=path,
                path_in_prompt=quoted(path) in prompt,
                content="" if block is None else EXCERPT if is_excerpt(block) else WHOLE,
                rank=ranks.get(path),
                in_map=path in entries,
            )
        )
    definitions = []
    for d in case.definitions:
        block = file_content(request.user, d.path)
        # A whole file holds every definition; an excerpt numbers each line it shows by its line
        # in the file, so a definition is there when its own lines are.
        whole = block is not None and not is_excerpt(block)
        in_content = whole or (block is not None and shows_line(block, d.number))
        definitions.append(
            DefinitionSeen(
                definition=d.key,
                signature=d.signature in entries.get(d.path, ()) or in_content,
                body=in_content and (whole or not d.body_number or shows_line(block, d.body_number)),
            )
        )
    return PromptSeen(files, definitions, len(prompt.encode("utf-8")))


def map_entries(user: str) -> dict[str, list[str]]:
    """The map's files and the signatures it lists under each."""
    _before, found, rest = user.partition(MAP_HEADER)
    repo_map = rest.partition(FILES_HEADER)[0] if found else ""
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    for line in repo_map.split("\n"):
        if line.startswith('"'):
            current = entries.setdefault(_unquoted(line), [])
        elif line.strip():
            current.append(line.strip())
    return entries


def file_content(user: str, path: str) -> str | None:
    """What the prompt shows of ``path``'s content (whole or its excerpt), or None."""
    header = f"<file path={quoted(path)}>\n"
    start = user.find(header)
    if start < 0:
        return None
    start += len(header)
    end = user.find("\n</file>\n", start)
    return user[start : end if end >= 0 else len(user)]


def shows_line(excerpt: str, number: int) -> bool:
    """Whether an excerpt shows line ``number`` of its file (as ``  12| text``)."""
    return re.search(rf"^ *{number}\|", excerpt, re.MULTILINE) is not None


def _unquoted(line: str) -> str:
    try:
        return json.loads(line)
    except ValueError:
        return line
