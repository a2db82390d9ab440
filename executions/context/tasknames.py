"""What a task names outright, read from its title and description: names spelled as code,
qualified names (``QuerySet.bulk_create``, ``flask.cli.load_dotenv``), file and module names,
and the literal strings it quotes (error messages, option and setting names, CLI flags).
``repomap.rank`` looks each of them up in the index and leads straight to their definitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?(?![\w])")
_FILE = re.compile(
    r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.(?:py|pyi|js|mjs|cjs|jsx|ts|tsx|go|rs|java|rb|c|h|cc|cpp|php|toml|cfg|ini|json|ya?ml))\b"
)
_QUOTED = re.compile(
    r'"([^"\n]{3,200})"|“([^”\n]{3,200})”|‘([^’\n]{3,200})’|(?<![\w])\'([^\'\n]{3,200})\'(?![\w])'
)
_FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]+)")
_CONSTANT = re.compile(r"(?<![\w])([A-Z][A-Z0-9]*_[A-Z0-9_]+)(?![\w])")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE_WORD = re.compile(
    r"(?<![\w])([A-Za-z_]\w*)\(|(?<![\w.])([A-Za-z]\w*_\w+|_\w+|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*)(?![\w])"
)


@dataclass(frozen=True)
class TaskNames:
    identifiers: set[str] = field(default_factory=set)  # names spelled as code (a dotted name's last part)
    qualified: set[str] = field(default_factory=set)  # "QuerySet.bulk_create", "flask.cli"
    files: set[str] = field(default_factory=set)  # "query.py", "src/flask/cli.py"
    quotes: list[str] = field(default_factory=list)  # literal strings to find in the code

    @property
    def module_paths(self) -> set[str]:
        """Dotted names read as module paths: ``flask.cli`` -> ``flask/cli``."""
        return {q.replace(".", "/") for q in self.qualified}


def task_names(task: str) -> TaskNames:
    identifiers, qualified, files, quotes = set(), set(), set(), []
    for m in _BACKTICKED.finditer(task):
        text = m.group(1).strip().removesuffix("()")
        if _IDENTIFIER.match(text):
            identifiers.add(text)
        elif _DOTTED.fullmatch(text):
            qualified.add(text)
        elif _FILE.fullmatch(text):
            files.add(text.strip("./"))
        else:
            quotes.append(text)
    for m in _FILE.finditer(task):
        files.add(m.group(1).strip("./"))
    for m in _DOTTED.finditer(task):
        name = m.group(1)
        parts = name.split(".")
        if (
            _FILE.fullmatch(name)
            or all(len(p) <= 2 for p in parts)
            or parts[-1].lower() in {"com", "org", "io"}
        ):
            continue
        qualified.add(name)
    for m in _QUOTED.finditer(task):
        quotes.append(next(g for g in m.groups() if g))
    flags = _FLAG.findall(task)
    constants = _CONSTANT.findall(task)
    quotes.extend(flags)
    identifiers.update(constants)
    for m in _CODE_WORD.finditer(task):
        identifiers.add(m.group(1) or m.group(2))
    identifiers.update(q.rsplit(".", 1)[-1] for q in qualified)
    return TaskNames(
        identifiers={i for i in identifiers if len(i) > 2},
        qualified=qualified,
        files=files,
        quotes=list(dict.fromkeys(q for q in quotes if len(q.strip()) >= 3)),
    )


_PHRASE_WORD = re.compile(r"[A-Za-z0-9][\w.-]*")
MIN_PHRASE = 8  # characters of a phrase worth finding in the code's literals
# A phrase neither starts nor ends with one of these ("the request", "header with" say nothing).
_FUNCTION_WORDS = frozenset(
    "a an and are as at be by do does for from has have if in into is it its not of on or so that the "
    "their then these this to was when where which while with without should would can could must".split()
)


def phrases(title: str) -> list[str]:
    """Runs of two or three words of a task's title, lower-cased, as it writes them: a task quotes
    a message or a header without quotation marks too ("no extra 100 continue")."""
    words = _PHRASE_WORD.findall(title.lower())
    runs = {
        " ".join(run)
        for n in (2, 3)
        for i in range(len(words) - n + 1)
        for run in (words[i : i + n],)
        if run[0] not in _FUNCTION_WORDS and run[-1] not in _FUNCTION_WORDS
    }
    return sorted(r for r in runs if len(r) >= MIN_PHRASE)
