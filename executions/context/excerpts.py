"""What the coder sees of a file too large to show whole: an excerpt within a byte budget.

``excerpt(path, text, budget=..., names=..., identifiers=...)`` holds, best first while they fit:

1. the full source of the definitions the plan named (``QuerySet.in_bulk``; see ``names_for``);
   one larger than the room left, in part: its first lines and those holding the task's words,
2. the file's outline: every definition's signature with its line number (cut to the top level
   when the whole outline does not fit),
3. the full source of definitions named like an identifier the task spells, then of the
   innermost definitions containing such identifiers (most identifiers first, then shortest),
4. the file's head (its imports), up to the first definition.

A method shown brings the head of its class (signature, docstring, attributes: up to its first
method, at most ``CLASS_HEAD_LINES``) when it fits. Each part is whole or left out, with
``CONTEXT_LINES`` lines around it; every source line carries
its line number as ``1125| <text>`` (``LINE_NUMBER`` reads the marker back). The excerpt is never
longer than the budget, in UTF-8 bytes. Edits still apply to the whole file
(``executions.changes.matching`` drops these markers when the coder copies them).
Definitions come from the same tree-sitter walk as the repository index (``repoindex.spans``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from executions.context.quoting import quoted
from executions.context.repoindex import Definition, spans

LINE_NUMBER = re.compile(r"^ *(\d+)\|(?: |$)")
_HEAD = re.compile(r'^"(?:[^"\\\n]|\\.)*": [\d,]+ lines, [\d,]+ bytes: too large to show whole\. ')
CONTEXT_LINES = 3  # around each definition shown
CLASS_HEAD_LINES = 12  # at most, of a class's head shown above one of its methods
HEAD_LINES = 40  # at most, of the file's head
MATCH_LINES = 10  # around a line holding an identifier, in a file without definitions
GAP = "⋮"  # between two parts that are not adjacent
# A named definition larger than the room left is shown in part: its first lines (signature,
# docstring, set-up) and the windows around its lines holding the task's rarer words, within
# this share of the budget.
PARTIAL_HEAD_LINES = 8
PARTIAL_WINDOW = 2  # lines either side of a matching line
PARTIAL_SHARE = 2
PARTIAL_WINDOWS = 20  # at most


def numbered(lines: list[str], first: int, *, width: int = 0) -> str:
    """``lines`` (the first being line ``first``) as ``<number>| <text>``, numbers right-aligned."""
    width = width or len(str(first + len(lines) - 1))
    return "\n".join(
        f"{n:>{width}}| {line}" if line else f"{n:>{width}}|" for n, line in enumerate(lines, first)
    )


def is_excerpt(text: str) -> bool:
    """Whether ``text`` is an excerpt (as ``excerpt`` writes it) rather than a file's content."""
    return bool(_HEAD.match(text))


def names_for(path: str, wanted: Iterable[str]) -> list[str]:
    """The definitions of ``path`` among ``wanted`` names written ``file::Qualified.name`` (the
    file as a path or its trailing part: ``query.py::QuerySet.in_bulk``)."""
    names = []
    for item in wanted:
        file, sep, name = item.partition("::")
        if sep and name and is_named(path, file):
            names.append(name)
    return names


def is_named(path: str, file: str) -> bool:
    """Whether ``file``, as a plan writes it (the path, or its trailing part), names ``path``."""
    return path == file or path.endswith("/" + file.lstrip("/"))


@dataclass(frozen=True)
class _Part:
    start: int  # 1-based, inclusive
    end: int
    label: str
    owner: Definition | None = None  # the definition it shows, if any


def excerpt(
    path: str,
    text: str,
    *,
    budget: int,
    names: Iterable[str] = (),
    identifiers: Iterable[str] = (),
    outline: bool = True,
    definitions: list[Definition] | None = None,
    line_terms: Callable[[str], set[str]] | None = None,
) -> str:
    """The excerpt of ``text`` (``path``'s content) for a task, at most ``budget`` UTF-8 bytes
    ("" when not even its first line fits). ``outline=False`` leaves the outline out (the
    analyst's map already lists the file's definitions). The path and every name are quoted: they
    come from the repository and the plan (``quoting.quoted``). ``definitions``: ``spans`` of the
    text, when the caller has parsed it already. ``line_terms``: the task's words in a line; with
    it, a named definition too large for the room left is shown in part (``_in_part``)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    if definitions is None:
        definitions = spans(path, text.encode("utf-8"))
    names, identifiers = list(dict.fromkeys(names)), sorted(set(identifiers))
    head = (
        f"{quoted(path)}: {len(lines):,} lines, {len(text.encode('utf-8')):,} bytes: too large to show "
        f"whole. Shown: {'its outline and ' if outline else ''}the parts that matter for this task, each "
        'line as "<number>| <text>".'
    )
    chosen: list[_Part] = []
    wants_outline, outline, missing, shown = outline, "", [], _render(head, "", [], lines, [])

    def fits(parts: list[_Part], outline: str, missing: list[str]) -> str | None:
        text = _render(head, outline, parts, lines, missing)
        return text if len(text.encode("utf-8")) <= budget else None

    def add(part: _Part) -> bool:
        nonlocal shown
        covered = {n for c in chosen for n in range(c.start, c.end + 1)}
        new = sum(
            len(lines[n - 1].encode("utf-8")) + 3 for n in range(part.start, part.end + 1) if n not in covered
        )
        if len(shown.encode("utf-8")) + new > budget:
            return False  # cannot fit: no need to render it
        text = fits([*chosen, part], outline, missing)
        if text is None:
            return False
        chosen.append(part)
        shown = text
        return True

    def add_with_heads(part: _Part) -> bool:
        """The part, then the heads of the classes around it (a method read without its class's
        signature, docstring and attributes is read out of context)."""
        if not add(part):
            return False
        for head in _enclosing_heads(part.owner, definitions):
            if not any(c.start <= head.start and head.end <= c.end for c in chosen):
                add(head)
        return True

    # 1. the named definitions, each whole or noted as not shown
    for name in names:
        found = [d for d in definitions if d.qualname == name or d.qualname.endswith("." + name)]
        if not found:
            missing.append(f"{quoted(name)} (no such definition)")
        for d in found:
            if add_with_heads(_around(d, len(lines))):
                continue
            cap = len(shown.encode("utf-8")) + (budget - len(shown.encode("utf-8"))) // PARTIAL_SHARE
            parts = _in_part(d, lines, line_terms) if line_terms else []
            if parts and add_with_heads(parts[0]):
                for part in parts[1:]:
                    if len(shown.encode("utf-8")) < cap:
                        add(part)
                missing.append(f"{quoted(d.qualname)} (lines {d.start}–{d.end}, shown in part)")
            else:
                missing.append(f"{quoted(d.qualname)} (lines {d.start}–{d.end}, larger than the room left)")
    # 2. the outline, whole or its top level
    for candidate in (_outline(definitions, 99), _outline(definitions, 0)) if wants_outline else ():
        if candidate and (text := fits(chosen, candidate, missing)) is not None:
            outline, shown = candidate, text
            break
    # 3. what the task's identifiers point at, 4. the head
    for part in [*_pointed_at(definitions, identifiers, lines), *_head(definitions, len(lines))]:
        if not any(c.start <= part.start and part.end <= c.end for c in chosen):
            add_with_heads(part)
    return fits(chosen, outline, missing) or fits(chosen, outline, []) or ""


def _around(d: Definition, count: int) -> _Part:
    return _Part(max(1, d.start - CONTEXT_LINES), min(count, d.end + CONTEXT_LINES), d.qualname, d)


def _in_part(d: Definition, lines: list[str], line_terms: Callable[[str], set[str]]) -> list[_Part]:
    """A definition too large to show whole, as parts: its first lines, then the windows around
    its lines holding the task's words, the lines holding the rarer ones (within it) first."""
    head = _Part(max(1, d.start - CONTEXT_LINES), min(d.end, d.line + PARTIAL_HEAD_LINES), d.qualname, d)
    found = {n: line_terms(lines[n - 1]) for n in range(head.end + 1, d.end + 1)}
    seen = Counter(t for terms in found.values() for t in terms)
    weight = {t: math.log(1 + len(found) / count) for t, count in seen.items()}
    scored = sorted((-sum(weight[t] for t in terms), n) for n, terms in found.items() if terms)
    windows = [
        _Part(max(d.line, n - PARTIAL_WINDOW), min(d.end, n + PARTIAL_WINDOW), f"{d.qualname} (part)")
        for _score, n in scored[:PARTIAL_WINDOWS]
    ]
    return [head, *windows]


def _enclosing_heads(d: Definition | None, definitions: list[Definition]) -> list[_Part]:
    """The head of each definition around ``d`` (its class): from its first line to the line
    before its first nested definition, at most ``CLASS_HEAD_LINES`` lines past its signature."""
    if d is None or d.depth == 0:
        return []
    heads = []
    for outer in definitions:
        if outer.depth < d.depth and outer.start < d.start and d.end <= outer.end:
            inner = [o.start for o in definitions if outer.start < o.start <= outer.end]
            end = min(min(inner, default=outer.end) - 1, outer.line + CLASS_HEAD_LINES)
            heads.append(_Part(outer.start, max(end, outer.line), f"{outer.qualname} (head)"))
    return heads


def _outline(definitions: list[Definition], depth: int) -> str:
    kept = [d for d in definitions if d.depth <= depth]
    if not kept:
        return ""
    width = len(str(kept[-1].line))
    cut = " (top level only)" if len(kept) < len(definitions) else ""
    return f"Outline{cut} (line: definition):\n" + "\n".join(
        f"{d.line:>{width}}: {'  ' * d.depth}{d.signature}" for d in kept
    )


def _pointed_at(definitions: list[Definition], identifiers: list[str], lines: list[str]) -> list[_Part]:
    """Definitions named like an identifier, then the innermost ones holding identifiers (in a file
    without definitions: the lines around each line holding one)."""
    if not identifiers:
        return []
    words = re.compile(r"\b(?:" + "|".join(map(re.escape, identifiers)) + r")\b")
    if not definitions:
        return [
            _Part(max(1, n - MATCH_LINES), min(len(lines), n + MATCH_LINES), "match")
            for n, line in enumerate(lines, 1)
            if words.search(line)
        ]
    named = [_around(d, len(lines)) for d in definitions if d.name in identifiers]
    inner = [
        d
        for d in definitions
        if not any(o is not d and d.start <= o.start and o.end <= d.end for o in definitions)
    ]
    holding = []
    for d in inner:
        found = set(words.findall("\n".join(lines[d.start - 1 : d.end])))
        if found and d.name not in identifiers:
            holding.append((-len(found), d.end - d.start, _around(d, len(lines))))
    return named + [part for *_rank, part in sorted(holding, key=lambda h: (h[0], h[1], h[2].start))]


def _head(definitions: list[Definition], count: int) -> list[_Part]:
    end = min(HEAD_LINES, (definitions[0].start - 1) if definitions else count, count)
    return [_Part(1, end, "head")] if end >= 1 else []


def _render(head: str, outline: str, parts: list[_Part], lines: list[str], missing: list[str]) -> str:
    merged: list[list[int]] = []
    for part in sorted(parts, key=lambda p: p.start):
        if merged and part.start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], part.end)
        else:
            merged.append([part.start, part.end])
    width = len(str(merged[-1][1])) if merged else 0
    blocks = [numbered(lines[start - 1 : end], start, width=width) for start, end in merged]
    out = [head]
    if missing:
        out.append("Not shown: " + "; ".join(missing) + ".")
    if outline:
        out.append(outline)
    if blocks:
        out.append("Source:\n" + f"\n{GAP}\n".join(blocks))
    return "\n\n".join(out) + "\n"
