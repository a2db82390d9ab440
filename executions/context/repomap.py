"""What the models see of the repository for one task: the per-commit index ranked for it.

``task_context(...)`` ranks the files for a task with BM25 (the task's words and identifiers
against each file's path and symbol names; a file defining an identifier the task names, or a path
it names, comes first), renders the map within ``CONTEXT_MAP_TOKENS`` and picks the whole content
of the best-ranked files within ``CONTEXT_FILE_BYTES``; a best-ranked file too large to show whole
contributes the bodies of its definitions that match the task best (``best_definitions``), as an
excerpt. ``overview`` is the commit-stable part of both prompts. See docs/context.md; the index
itself is ``executions.context.repoindex``.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import bm25s

from executions.context import excerpts, layout, signals, tasknames
from executions.context.quoting import quoted
from executions.context.repoindex import Definition, RepoIndex, spans

if TYPE_CHECKING:
    from executions.repositories.base import RepositoryGateway, Snapshot

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG

BYTES_PER_TOKEN = 4  # the map's token estimate; code averages 3-4 bytes per token in both vendors'
MAX_SHOWN_FILES = 12  # files whose whole content the analyst sees (within CONTEXT_FILE_BYTES)
MAX_CANDIDATES = 60  # best-ranked files considered for showing
READ_BATCH = 6
MIN_ROOM = 500  # bytes of the file budget not worth another read
MAX_LISTED_PATHS = 200  # paths in the commit-stable overview
# One file takes at most this share of CONTEXT_FILE_BYTES (the first file shown, or one holding a
# definition the task's names or quotes lead to, the larger one; a run of the title's words found
# in a literal is a weaker lead: the smaller): a larger file is shown as an excerpt of its
# definitions that match the task best. The definitions that matter in four files tell more than
# the whole of one.
SHARE, WIDE_SHARE = 4, 2
# Excerpted files: at most this many, from this many best ranks, each naming at most this many
# definitions (it shows them while they fit its share).
MAX_EXCERPTED_FILES = 4
EXCERPT_RANKS = 8
MAX_EXCERPT_DEFINITIONS = 20
LONG_BODY = 40  # lines: a body's words count less beyond it
MIN_INSIDE = 4  # letters of a task's word found inside a definition's name

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The lookbehinds make each scan linear: a match may only start where a word or path starts (a
# long run of letters with no "/" or "(" after it would otherwise be retried from every position).
_PATHLIKE = re.compile(r"(?<![\w.-])[\w.-]+(?:/[\w.-]+)+")
_CALLED = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)\(")
_VERSION = re.compile(r"(?<![\w.])v?\d+\.\d+(?:\.\d+)+(?![\w.])|\b(?:release|version)\b", re.I)
_SUBWORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by do does for from has have if in into is it its make not of on or so "
    "that the their them then there these this to was when where which while with without should "
    "would can could must add use used new it's our we you your all any each one two also only".split()
)


# --- ranking for a task --------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Lower-case search terms: each identifier whole and split into its words (snake, camel)."""
    terms = []
    for word in _WORD.findall(text):
        parts = [p.lower() for chunk in word.split("_") for p in _SUBWORD.findall(chunk)]
        whole = word.lower()
        kept = {t for t in {whole, *parts} if len(t) > 1 and t not in STOPWORDS}
        terms.extend(kept | {_stem(t) for t in parts if len(t) > 4} - kept)
    return terms


# "-ction" nouns name the verb's act (``connection`` -> ``connect``, ``extraction`` -> ``extract``):
# code is named for the verb.
_SUFFIXES = (
    ("ctions", "ct"),
    ("ction", "ct"),
    ("ies", "y"),
    ("sses", "ss"),
    ("ing", ""),
    ("ed", ""),
    ("es", "e"),
    ("s", ""),
)


def _stem(word: str) -> str:
    """A plural or verb form's base, roughly (``templates`` -> ``template``, ``parsing`` ->
    ``pars``, ``connection`` -> ``connect``): added beside the word, so a task's "templates" finds ``SetUsageTemplate``."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def rank(index: RepoIndex, task: str) -> list[tuple[str, float]]:
    """Every listed file with its score for ``task``, best first (ties: shallow paths first)."""
    return _ranking(index, task).files


@dataclass(frozen=True)
class Ranking:
    files: list[tuple[str, float]]  # every listed file, best first
    targets: dict[str, list[str]]  # path -> qualified names of the definitions the task leads to
    # The files defining or using a name the task spells (not only holding a run of its words).
    naming: frozenset[str] = frozenset()


# What the task names outright beats any word statistics, in this order (in units of the best
# word score): a path it names, a qualified name or a quoted literal found, a name it spells as
# code defined in a file, a name it spells used in a few files; then a little for the files the
# best ones refer to or are referred by, and for those that changed together with them.
PATH_NAMED, QUALIFIED, LITERAL, DEFINED, USED, NEIGHBOUR, COCHANGE = 2.0, 1.6, 1.4, 1.0, 0.6, 0.15, 0.3
PHRASE = 0.5  # a literal holding a run of the task's words as written (unquoted)
# The files changed most often lately get at most this much (a task that names nothing is most
# likely about where the work has been), and, source first, break the ties between the rest.
RECENT = 0.03
LEADS = 3  # best files whose neighbours and co-changing files are lifted


def _ranking(index: RepoIndex, task: str) -> Ranking:
    paths, retriever = _retriever(index)
    scores = [0.0] * len(paths)
    # A release task ("v2.34.1") changes the version files: say "version" for it, and look for
    # the files that set or read ``__version__``.
    release = _VERSION.search(task) is not None
    words = words_of(task) + (["version"] if release else [])
    known = [w for w in words if w in retriever.vocab_dict] if paths else []
    if known:
        scores = [float(s) for s in retriever.get_scores(known)]
    weight = layout.weights(paths)
    scores = [score * weight[path] for path, score in zip(paths, scores, strict=True)]
    top = max(scores, default=0.0) + 1.0
    names = tasknames.task_names(task)
    named = named_identifiers(task) | names.identifiers | ({"__version__"} if release else set())
    mentioned = {m.strip("./") for m in _PATHLIKE.findall(task)} | names.files
    modules = names.module_paths
    definers = signals.definers_of(index) if index.symbols else {}
    targets: dict[str, list[str]] = {}
    naming: set[str] = set()
    literal_lines: dict[str, list[int]] = {}
    for path, line in signals.literal_hits(index, names.quotes):
        literal_lines.setdefault(path, []).append(line)
    phrase_lines: dict[str, list[int]] = {}
    title = task.removeprefix("Task: ").split("\n", 1)[0]
    for path, line in signals.phrase_hits(index, tasknames.phrases(title)):
        phrase_lines.setdefault(path, []).append(line)
    users = signals.users_of(index, named)
    boost = dict.fromkeys(paths, 0.0)
    for path in paths:
        symbols = index.symbols.get(path, [])
        stem = path.rsplit(".", 1)[0]
        if path in mentioned or any(m and path.endswith("/" + m) for m in mentioned):
            boost[path] += PATH_NAMED
        if any(stem.endswith(m) or stem.endswith(m + "/__init__") for m in modules):
            boost[path] += PATH_NAMED / 2
        hits, phrased = [], []
        for qualname, symbol in zip(qualnames(symbols), symbols, strict=True):
            module_name = f"{stem.replace('/', '.')}.{qualname}"
            if any(
                qualname == q or qualname.endswith("." + q) or module_name.endswith("." + q)
                for q in names.qualified
            ):
                hits.append((0, qualname))
            elif symbol[2] in named:
                # A name defined in many files (``__init__``, ``get``) says less about each.
                hits.append((1 + len(definers.get(symbol[2], ())), qualname))
            elif any(symbol[0] <= line <= symbol[4] for line in literal_lines.get(path, ())):
                hits.append((2, qualname))
            elif any(symbol[0] <= line <= symbol[4] for line in phrase_lines.get(path, ())):
                phrased.append(qualname)
        if hits:
            best = min(h[0] for h in hits)
            boost[path] += QUALIFIED if best == 0 else DEFINED / max(1, best - 1) ** 0.5
            targets[path] = _innermost([q for _r, q in sorted(hits)])
        if path in literal_lines:
            boost[path] += LITERAL
        elif path in phrase_lines:
            boost[path] += PHRASE
            targets[path] = targets.get(path, []) + _innermost(phrased)
        if hits or path in users:
            naming.add(path)
        if path in users:
            boost[path] += USED * min(users[path], 3) / 3
            targets.setdefault(path, [])  # its definitions using the name are worth an excerpt
    recent = signals.change_counts(index)
    busiest = max(recent.values(), default=0)
    for path in paths:
        boost[path] *= weight[path] ** 0.5  # a test naming the same thing is still a test
        boost[path] += RECENT * weight[path] * (recent[path] / busiest if busiest else 0.0)
    scores = [score + top * boost[path] for path, score in zip(paths, scores, strict=True)]
    order = sorted(range(len(paths)), key=lambda i: -scores[i])
    leads = [paths[i] for i in order[:LEADS] if scores[i] > 0]
    if leads:
        lifted = dict.fromkeys(paths, 0.0)
        for lead in leads:
            # A weak lead (the task hardly matches it) lifts its neighbours less than itself.
            lift = min(NEIGHBOUR, scores[paths.index(lead)] / top / 2)
            for other in signals.neighbours(index, lead, definers):
                if other in lifted:
                    lifted[other] += lift
        together = signals.changed_with(index, leads)
        most = max(together.values(), default=0)
        for other, count in together.items():
            if other in lifted and count >= 2:
                lifted[other] += COCHANGE * count / most
        scores = [s + top * lifted[p] * weight[p] for p, s in zip(paths, scores, strict=True)]
        order = sorted(range(len(paths)), key=lambda i: -scores[i])
    return Ranking([(paths[i], scores[i]) for i in order], targets, frozenset(naming))


def qualnames(symbols: list[list]) -> list[str]:
    """Each index symbol's qualified name (``QuerySet.in_bulk``), from the depths in order."""
    outer: list[str] = []
    found = []
    for symbol in symbols:
        depth, name = symbol[1], symbol[2]
        outer = outer[:depth] + [name]
        found.append(".".join(outer))
    return found


def _innermost(names: list[str]) -> list[str]:
    """The names without a class whose method is also named (its method is what is shown)."""
    return [n for n in dict.fromkeys(names) if not any(o != n and o.startswith(n + ".") for o in names)]


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


def named_identifiers(task: str) -> set[str]:
    """Identifiers the task spells as code: snake_case, CamelCase, ``quoted`` or called()."""
    named = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", task))
    named |= {w for w in _WORD.findall(task) if "_" in w.strip("_") or re.search(r"[a-z][A-Z]", w)}
    named |= set(_CALLED.findall(task))
    return {n.rsplit(".", 1)[-1] for n in named}


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def render_map(index: RepoIndex, ranked: list[tuple[str, float]], token_budget: int) -> str:
    """The ranked files (each path quoted) with their definitions, cut to ``token_budget``
    (estimated) tokens."""
    budget = token_budget * BYTES_PER_TOKEN
    blocks, used = [], 0
    for path, _score in ranked:
        lines = [quoted(path)] + [f"{'  ' * (s[1] + 1)}{s[3]}" for s in index.symbols.get(path, [])]
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


FILE_BLOCK = "<file path={path}>\n{content}\n</file>\n\n"  # ``path``: quoted
FILE_BLOCK_OVERHEAD = len(FILE_BLOCK.format(path="", content="").encode("utf-8"))


def file_block(path: str, content: str) -> str:
    return FILE_BLOCK.format(path=quoted(path), content=content)


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
    ranking = _ranking(index, task)
    ranked = ranking.files
    # Nothing matched (a tiny repository, a vague task): the shallowest files are the best guess.
    relevant = [path for path, score in ranked if score > 0][:MAX_CANDIDATES] or [
        path for path, _score in ranked[:MAX_SHOWN_FILES]
    ]
    shown: dict[str, str] = {}
    room = file_bytes
    # Large files worth an excerpt: the best-ranked, and those holding a definition the task leads
    # to (wherever they rank).
    excerptable, excerpted = set(relevant[:EXCERPT_RANKS]) | set(ranking.targets), 0
    # Of those, the best-ranked large files holding what the task names keep their excerpt: files
    # ranked above them by their words alone do not take every excerpt before them.
    reserved = {
        p for p in relevant[:EXCERPT_RANKS] if p in ranking.naming and index.files[p] > file_bytes // SHARE
    }
    # Whole files, best first, while they fit their share, and an excerpt of a best-ranked file too
    # large for it; read a few at a time (a read is a request on GitHub).
    while relevant and room >= MIN_ROOM and len(shown) < MAX_SHOWN_FILES:
        wanted = excerptable if excerpted < MAX_EXCERPTED_FILES else set()
        whole = min(room, file_bytes // (SHARE if shown else WIDE_SHARE))
        batch = [p for p in relevant if index.files[p] <= whole or p in wanted][:READ_BATCH]
        relevant = relevant[relevant.index(batch[-1]) + 1 :] if batch else []
        contents = gateway.read_files(index.commit_sha, batch) if batch else {}
        for path in batch:
            text = decoded(contents[path]) if path in contents else None
            if text is None or len(shown) >= MAX_SHOWN_FILES:
                continue
            if len(text.encode("utf-8")) > min(room, file_bytes // (SHARE if shown else WIDE_SHARE)):
                if path not in excerptable or excerpted >= MAX_EXCERPTED_FILES:
                    continue
                if path not in reserved and excerpted + len(reserved) >= MAX_EXCERPTED_FILES:
                    continue
                reserved.discard(path)
                wide = not shown or (bool(ranking.targets.get(path)) and path in ranking.naming)
                budget = min(room, file_bytes // (WIDE_SHARE if wide else SHARE))
                text = _excerpt(path, text, task, budget=budget, targets=ranking.targets.get(path, []))
                if not any(excerpts.LINE_NUMBER.match(line) for line in text.split("\n")):
                    continue  # no line of it fits the room left: a header alone shows nothing
                excerpted += 1
            shown[path] = text
            room -= len(text.encode("utf-8"))
    return TaskContext(repo_map=render_map(index, ranked, map_tokens), shown=shown)


def _excerpt(path: str, text: str, task: str, *, budget: int, targets: list[str] = ()) -> str:
    """What the analyst sees of a file too large to show whole: its best-matching definitions
    (then those holding the task's identifiers, and the head), without the outline the map gives."""
    definitions = spans(path, text.encode("utf-8"))  # parsed once, for both
    best = best_definitions(path, text, task, definitions=definitions)
    names = list(dict.fromkeys([*targets, *best]))[:MAX_EXCERPT_DEFINITIONS]
    terms = frozenset(words_of(task))
    return excerpts.excerpt(
        path,
        text,
        budget=budget,
        names=names,
        identifiers=named_identifiers(task) | tasknames.task_names(task).identifiers,
        outline=False,
        definitions=definitions,
        line_terms=lambda line: terms.intersection(words_of(line)),
    )


def best_definitions(
    path: str, text: str, task: str, *, definitions: list[Definition] | None = None
) -> list[str]:
    """The qualified names of ``path``'s definitions that match ``task``, best first: a definition
    named like an identifier the task spells, then by the task's words in its name (thrice) and in
    its body, each weighted by how rare it is among the file's definitions. Innermost definitions
    only: a class holds every word of its methods, and its methods are what is shown of it."""
    if definitions is None:
        definitions = spans(path, text.encode("utf-8"))
    terms, named = set(words_of(task)), named_identifiers(task)
    if not definitions or not terms:
        return []
    lines = text.split("\n")
    bodies = [terms.intersection(words_of("\n".join(lines[d.start - 1 : d.end]))) for d in definitions]
    rare = Counter(t for words in bodies for t in words)
    weight = {t: math.log(1 + len(definitions) / n) for t, n in rare.items()}
    scored = []
    for d, body in zip(definitions, bodies, strict=True):
        if any(o is not d and d.start <= o.start and o.end <= d.end for o in definitions):
            continue
        in_name = terms.intersection(words_of(d.qualname)) | _inside(terms, d.name)
        # A long body holds many of the task's words by its length alone.
        length = 1 + math.log(1 + (d.end - d.start) / LONG_BODY)
        score = sum(weight[t] for t in body) / length + 3 * sum(
            weight.get(t, math.log(1 + len(definitions))) for t in in_name
        )
        if score > 0 or d.name in named:
            scored.append((d.name not in named, -score, d.end - d.start, d.qualname))
    return [qualname for *_rank, qualname in sorted(scored)]


def _inside(terms: set[str], name: str) -> set[str]:
    """The task's longer words inside a name written as one word (``pager`` in ``_tempfilepager``,
    ``template`` in ``SetUsageTemplate``): names are not always split where their words meet."""
    lowered = name.lower()
    return {t for t in terms if len(t) >= MIN_INSIDE and t in lowered}


def overview(snapshot: Snapshot, index: RepoIndex) -> str:
    """The commit-stable part: the same for every task on this commit (cached by the vendors).
    The listing holds the repository's own source first (``layout``), then the rest, shallow
    paths first within each kind, cut to ``MAX_LISTED_PATHS``."""
    weight = layout.weights(index.files)
    best = sorted(index.files, key=lambda p: (-weight[p], p.count("/"), p))[:MAX_LISTED_PATHS]
    listed = sorted(best)
    more = len(index.files) - len(listed)
    return (
        # The commit, not a branch: a revision's base is its pull request's head, not the default branch.
        f"Repository: {quoted(snapshot.name)} (commit {snapshot.commit_sha[:12]})\n\n"
        f"Files ({len(index.files):,} in all{f'; {len(listed)} shown, the source first' if more else ''}):\n"
        + "\n".join(map(quoted, listed))
        + (f"\n\nREADME (excerpt):\n{index.readme}" if index.readme else "")
    )
