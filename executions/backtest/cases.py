"""A backtest case: one merged pull request (or merge/squash commit) as the task the product would
have been given, its base commit, and what the real change touched there.

Which changes make a case (``why_not``): 1 to 3 existing source files changed (besides tests,
docs, lock or generated files, which may change too), not a revert, not a dependency bot's. The
task is the linked issue's title and body, else the pull request's (or commit message's), cut as
the product cuts an issue's text; the diff is never part of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from executions.backlog.checklist import MAX_TITLE
from executions.context import repoindex
from executions.context.grammars import language_of
from executions.github.issues import cut_description

MAX_SOURCE_FILES = 3
BOTS = re.compile(r"dependabot|renovate|greenkeeper|pyup|snyk|depfu|\[bot\]", re.IGNORECASE)
REVERT = re.compile(r"^Revert\b|\bThis reverts commit [0-9a-f]{7,40}", re.IGNORECASE | re.MULTILINE)
CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b", re.IGNORECASE)
BRANCH_MERGE = re.compile(r"^Merge (?:remote-tracking )?branch '[^']*'")
MERGE_SUBJECT = re.compile(r"^Merge pull request #(\d+) from \S+$")
SQUASH_SUBJECT = re.compile(r"^(?P<title>.*\S)\s+\(#(?P<number>\d+)\)$")
TRAILER = re.compile(
    r"^(?:Signed-off-by|Co-authored-by|Reviewed-by|Change-Id):.*$", re.IGNORECASE | re.MULTILINE
)
TEST_PARTS = {"test", "tests", "testing", "__tests__", "spec", "specs", "e2e"}
TEST_NAME = re.compile(r"^(?:test_.*|.*_test\.\w+|.*\.(?:test|spec)\.\w+|conftest\.py)$")
DOC_PARTS = {"doc", "docs", "documentation", "examples"}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", re.MULTILINE)


@dataclass(frozen=True)
class ChangedDefinition:
    """A definition of the base whose lines the real change touched."""

    path: str
    qualname: str
    signature: str  # as the map shows it (``repoindex.definitions``)
    line: str  # its ``def``/``class`` line, stripped
    first_body_line: str  # the first line of its body, stripped ("" for a one-line definition)
    number: int = 0  # the line number of ``line`` in the base's file
    body_number: int = 0  # of ``first_body_line`` (0: none)

    @property
    def key(self) -> str:
        return f"{self.path}::{self.qualname}"  # as a plan names a definition


@dataclass(frozen=True)
class Case:
    number: int | None  # the pull request's number, when known
    url: str  # the real pull request ("" for a local commit without one)
    merge_sha: str
    base_sha: str  # the merge's first parent: what the product would have started from
    title: str
    description: str
    files: list[str]  # the existing source files the real change touched
    definitions: list[ChangedDefinition] = field(default_factory=list)
    diff: str = ""  # the real change (shown in the admin beside a produced one; never in a prompt)


def is_source(path: str) -> bool:
    """A file of the product's own code: a language the product reads, not a test, a doc, a
    lock, vendored or generated file (the index's excludes)."""
    if language_of(path) is None or not repoindex.selected_paths({path: 0}):
        return False
    *folders, name = path.lower().split("/")
    return not (TEST_PARTS.intersection(folders) or DOC_PARTS.intersection(folders) or TEST_NAME.match(name))


def why_not(*, subject: str, message: str, author: str, source_files: list[str]) -> str:
    """Why a merged change is not a case ("" when it is one). ``source_files``: the existing
    source files it modified."""
    if BRANCH_MERGE.match(subject) and not message.strip().partition("\n")[2].strip():
        return "a merge of another branch, with no task text"
    if BOTS.search(author):
        return "a dependency bot's"
    if REVERT.search(subject) or REVERT.search(message):
        return "a revert"
    if not source_files:
        return "no existing source file changed (tests, docs, lock or generated files only)"
    if len(source_files) > MAX_SOURCE_FILES:
        return f"{len(source_files)} source files changed (more than {MAX_SOURCE_FILES})"
    return ""


def task_text(title: str, body: str, *, what: str, rest: str) -> tuple[str, str]:
    """The task's title and description as the product would hold them."""
    title = " ".join(title.split())[:MAX_TITLE]
    body = TRAILER.sub("", body).strip()
    return title, cut_description(body, what=what, rest=rest)


def from_commit_message(message: str) -> tuple[int | None, str, str]:
    """(pull request number, title, body) of a merge or squash commit's message: GitHub's merge
    commit says "Merge pull request #N from ..." with the title as its body's first line; a squash
    commit ends its subject with "(#N)"; any other commit is its subject and body."""
    subject, _, body = message.strip().partition("\n")
    body = body.strip()
    merged = MERGE_SUBJECT.match(subject.strip())
    if merged and body:
        title, _, rest = body.partition("\n")
        return int(merged[1]), title.strip(), rest.strip()
    squashed = SQUASH_SUBJECT.match(subject.strip())
    if squashed:
        return int(squashed["number"]), squashed["title"], body
    return None, subject.strip(), body


def closed_issue(text: str) -> int | None:
    """The issue a pull request closes ("Closes #12", "fixes #3"), the first one named."""
    found = CLOSES.search(text)
    return int(found[1]) if found else None


def touched_lines(patch: str) -> list[tuple[int, int]]:
    """The base's lines a unified diff touches, from its hunks (a local ``-U0`` diff or GitHub's
    ``patch`` with context lines alike): ``(line, 1)`` for each line removed or changed, and
    ``(line, 0)`` for lines inserted after ``line``."""
    touched: list[tuple[int, int]] = []
    old, previous = None, " "
    for line in patch.split("\n"):
        if hunk := _HUNK.match(line):
            start, count = int(hunk[1]), int(hunk[2]) if hunk[2] else 1
            old, previous = (start + 1 if count == 0 else start), " "
            continue
        if old is None or not line or line[0] not in " -+":
            continue  # the file's header, or "\\ No newline at end of file"
        if line[0] == "-":
            touched.append((old, 1))
            old += 1
        elif line[0] == "+":
            if previous == " ":
                touched.append((old - 1, 0))
        else:
            old += 1
        previous = line[0]
    return touched


def changed_definitions(path: str, base: bytes, hunks: list[tuple[int, int]]) -> list[ChangedDefinition]:
    """The innermost definitions of ``base`` (the file at the base commit) holding a line the
    hunks remove or change, or an insertion inside their body, in the file's order."""
    spans = repoindex.spans(path, base)
    lines = base.decode("utf-8", "replace").split("\n")
    hit: dict[int, repoindex.Definition] = {}
    for start, count in hunks:
        points = range(start, start + count) if count else [start]
        for point in points:
            holding = [d for d in spans if d.start <= point <= d.end and (count or point < d.end)]
            if holding:
                innermost = max(holding, key=lambda d: (d.start, -d.end))
                hit[id(innermost)] = innermost
    chosen = sorted(hit.values(), key=lambda d: d.start)
    return [
        ChangedDefinition(
            path=path,
            qualname=d.qualname,
            signature=d.signature,
            line=lines[d.line - 1].strip(),
            first_body_line=lines[body - 1].strip() if body else "",
            number=d.line,
            body_number=body,
        )
        for d, body in ((d, _first_body_line(d, lines)) for d in chosen)
    ]


def _first_body_line(definition: repoindex.Definition, lines: list[str]) -> int:
    """The number of the first non-blank line after the definition's signature (which may span
    lines); 0 for a definition on one line."""
    wanted = len(definition.signature.rstrip("…"))
    seen, at = "", definition.line - 1
    while at < definition.end and len(seen) < wanted:
        seen = " ".join(f"{seen} {lines[at]}".split())
        at += 1
    for number in range(at + 1, definition.end + 1):
        if lines[number - 1].strip():
            return number
    return 0
