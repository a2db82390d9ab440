"""Where one search/replace pair applies in a file, and the file's text once it has.

The coder copies lines from the file it was shown, and code models slip in known ways. ``replace_once``
recovers a slip only when exactly one place in the file can be meant, and refuses everything else
with a ``Miss`` that says why, with the file's lines a second try needs (for a search not found,
the closest ones; for a search found several times, each place):

- **Whole lines first.** The search is a run of whole lines, compared with one indentation
  offset for every line (tabs expanded, trailing whitespace aside; an exact copy is offset 0),
  or also ignoring blank lines. Every place either finds counts: one place applies, several are
  refused (an exact copy does not win over a copy at another indentation, nor over one with a
  blank line the search dropped).
  Only a one-line search with no whole-line match may match inside a line, where it occurs once
  (overlapping places count).
- **One line a column or two off.** A search found nowhere by those rules, whose lines all
  agree on one offset but one line (at least two others agreeing) that stands one or two columns
  off it, applies where that finds one place only (a model that miscounted one line's spaces);
  its replace is placed by the offset the others agree on, and the replace of the odd line, when
  copied at that line's column, at the file's. Each part of an elided search likewise.
- **Indentation is an offset.** Every replace line moves by the offset between the search and
  the file, keeping its level relative to the search (a line one level out stays one level out);
  a line that would start left of column 0 is refused, never clamped. New lines are indented in
  the file's own style (tabs or spaces); lines the replace keeps as they were are kept byte for
  byte from the file, blank lines between them included, also where the search dropped one and
  the replace adds lines on the other side of the blank lines it kept.
- **Line endings and a BOM.** The model's ``\\r\\n`` are read as ``\\n``; new lines take the
  file's commonest line ending, lines kept keep their own (a file may mix CRLF and LF), and the
  file's BOM is kept (and never matched).
- **Blank lines** at the start and the end are trimmed from search and replace alike.
- **Elision.** A search line that is only an elision marker (``...``, ``# ...``, ``// ... existing
  code ...``) splits the search into parts matched in the file's order, each unique in the file;
  the replace must hold as many marker lines, and the code each stands for is kept. A marker line
  in a replace whose search does not hold it is refused: the model left out code.
- **Line numbers** copied from an excerpt (``1125| def in_bulk(...)``, see
  ``executions.context.excerpts``) are dropped when every line of the search carries one, in
  order, and the search as written is not in the file.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from executions.context.excerpts import GAP, LINE_NUMBER, numbered

# A line that only says "code left out here": dots alone, or a comment of dots and a few words
# that say so ("# ... existing code ...", "// ... rest of the file unchanged ...", "/* ... */").
_COMMENT_OPEN = r"(?:#+|//+|/\*+|<!--|--|;+|\*)"
_COMMENT_CLOSE = r"(?:\*+/|-->)"
_DOTS = rf"(?:\.{{3,}}|…|{GAP})"  # GAP: where an excerpt leaves lines out
_ELISION_WORDS = re.compile(
    r"\b(existing|rest|unchanged|same|remain\w*|omitted|elided|previous|other|before|as is|etc|"
    r"more|code|lines?|methods?|functions?|file|body|here|no changes?)\b",
    re.IGNORECASE,
)
_ELISION = re.compile(
    rf"^(?:{_DOTS}|{_COMMENT_OPEN}\s*{_DOTS}?\s*(?P<words>[\w\s,'()-]*?)\s*{_DOTS}?\s*{_COMMENT_CLOSE}?)$"
)
_WORD = re.compile(r"\w+|[^\w\s]")
CONTEXT_LINES = 3  # lines shown around the closest match of a search that was not found


class Miss(Exception):
    """The pair does not apply. ``reason``: one line; ``lines``: the file's lines that help a second
    try, numbered as excerpts show them: for a search not found, the most similar ones ("" when
    nothing is close); for a search found several times, the first places it matches."""

    def __init__(self, reason: str, *, lines: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.lines = lines


def is_elision(line: str) -> bool:
    """Whether ``line`` only says that code was left out."""
    text = line.strip()
    if not any(dots in text for dots in ("...", "…", GAP)):
        return False
    match = _ELISION.match(text)
    if match is None:
        return False
    words = (match.group("words") or "").strip()
    return not words or bool(_ELISION_WORDS.search(words))


@dataclass
class _File:
    """A file's text split for matching: lines without their endings, each ending kept."""

    bom: str
    lines: list[str]
    ends: list[str]  # "\r\n", "\n" or "" (a last line without newline)
    eol: str  # what new lines end with: the file's commonest ending
    tabs: bool  # the file indents with tabs

    @classmethod
    def of(cls, content: str) -> _File:
        bom = "\ufeff" if content.startswith("\ufeff") else ""
        lines, ends = [], []
        for piece in content[len(bom) :].split("\n"):
            ends.append("\r\n" if piece.endswith("\r") else "\n")
            lines.append(piece[:-1] if piece.endswith("\r") else piece)
        # split() leaves "" after a final newline (a file ending without one ends on its last line)
        if lines[-1] == "":
            lines.pop(), ends.pop()
        else:
            lines[-1] += "\r" if ends[-1] == "\r\n" else ""  # a lone \r at the very end is text
            ends[-1] = ""
        counts = Counter(ends)
        indents = Counter(line[0] for line in lines if line[:1] in (" ", "\t") and line.strip())
        return cls(
            bom,
            lines,
            ends,
            "\r\n" if counts["\r\n"] > counts["\n"] else "\n",
            indents["\t"] > indents[" "],
        )

    def text(self) -> str:
        return self.bom + "".join(line + end for line, end in zip(self.lines, self.ends, strict=True))


@dataclass(frozen=True)
class _Place:
    """Where a search matched: for each search line, its file line (``None``: a blank search line
    not matched), the first and last file lines, the indentation offset (columns) and the tab
    width it was found with."""

    rows: tuple[int | None, ...]
    first: int
    last: int
    offset: int
    width: int
    odd: tuple[int, int] | None = None  # (search line, its own offset): the one line miscounted


def replace_once(content: str, search: str, replace_text: str) -> str:
    """``content`` with the one place ``search`` means replaced by ``replace_text``, or ``Miss``."""
    file = _File.of(content)
    search_lines, replace_lines = _model_lines(search), _model_lines(replace_text)
    widths = _tab_widths(file, search_lines + replace_lines)
    written = (_trim(search_lines), _trim(replace_lines))
    unnumbered = _without_line_numbers(*written)
    for search_lines, replace_lines in [written, unnumbered] if unnumbered else [written]:
        if not search_lines:
            raise Miss("the search text is empty")
        places, how = _find(file, search_lines, widths)
        if not places:
            places, how = _one_line_off(file, search_lines, widths)
        if len(places) > 1:
            raise Miss(
                f"the search text matches {len(places)} places{how} {_first(search_lines)}; it must match one",
                lines=_places_shown(file, places),
            )
        if places:
            _refuse_new_markers(search_lines, replace_lines)
            return _spliced(file, [(places[0], search_lines, replace_lines)])
    if any(is_elision(line) for line in search_lines):
        return _elided(file, search_lines, replace_lines, widths)
    if len(search_lines) == 1:
        inline = _inside_a_line(file, search_lines[0], replace_lines, content)
        if inline is not None:
            return inline
    raise Miss(
        f"the search text was not found {_first(search_lines)}",
        lines=closest_lines(content, "\n".join(search_lines)),
    )


def in_style_of(text: str, base: str) -> str:
    """``text`` (a whole file the model wrote) with ``base``'s BOM and line endings: a line the
    rewrite kept as it was keeps its own ending (a file may mix CRLF and LF), a new line takes the
    base's commonest."""
    file = _File.of(base)
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    last = lines.pop()  # "" after a final newline; else the last line, which has no ending
    ends = [file.eol] * len(lines)
    kept = difflib.SequenceMatcher(None, file.lines, lines, autojunk=False).get_matching_blocks()
    for block in kept:
        for k in range(block.size):
            ends[block.b + k] = file.ends[block.a + k] or file.eol
    return file.bom + "".join(line + end for line, end in zip(lines, ends, strict=True)) + last


# --- the model's text ------------------------------------------------------------------------


def _model_lines(text: str) -> list[str]:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    return text.split("\n")


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _without_line_numbers(search: list[str], replace: list[str]) -> tuple[list[str], list[str]] | None:
    """Search and replace without the line-number markers an excerpt shows, when every line of the
    search carries one, counting up (blank and elision lines may go without); else None."""
    numbers = []
    for line in search:
        match = LINE_NUMBER.match(line)
        if match:
            numbers.append(int(match.group(1)))
        elif line.strip() and not is_elision(line):
            return None
    if not numbers or any(b <= a for a, b in pairwise(numbers)):
        return None
    return [LINE_NUMBER.sub("", line, count=1) for line in search], [
        LINE_NUMBER.sub("", line, count=1) for line in replace
    ]


def _tab_widths(file: _File, model_lines: list[str]) -> list[int]:
    """How many columns a tab may stand for when the file's indentation and the model's are
    compared, likeliest first.

    In a tab-indented file: the model's spaces per level first (the largest of 8, 4 and 2 that its
    indentation allows: a model writing 8 spaces a level read at 4 would indent its new lines twice
    as deep), then the others. Each is tried and every place found at any of them counts, so a
    reading that finds another place makes the search ambiguous, never a guess; a place found at
    several widths is applied at the first. In a space-indented file: the file's own spaces per
    level."""
    if file.tabs:
        # An odd indentation is alignment, not a level (" * " under "/**"): it says nothing of the unit.
        widths = [_leading(line) for line in model_lines if line.startswith(" ") and line.strip()]
        unit = math.gcd(*(w for w in widths if w % 2 == 0)) or 4
        allowed = [w for w in (8, 4, 2) if unit % w == 0]
        return allowed + [w for w in (4, 2, 8) if w not in allowed]
    widths = [_leading(line) for line in file.lines if line.startswith(" ") and line.strip()]
    unit = math.gcd(*widths) if widths else 0
    return [unit if unit in (2, 4, 8) else 4]


def _leading(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _column(line: str, width: int) -> int:
    return len(line[: _leading(line)].expandtabs(width))


def _first(lines: list[str]) -> str:
    line = next((line for line in lines if line.strip()), "").strip()
    return (
        "(first line: " + json.dumps(line if len(line) <= 80 else line[:77] + "...", ensure_ascii=False) + ")"
    )


# --- finding the place -----------------------------------------------------------------------


def _find(file: _File, search: list[str], widths: list[int], agree=None) -> tuple[list[_Place], str]:
    """The places ``search`` matches as whole lines at any one indentation offset (an exact copy
    is offset 0: it does not win over a copy elsewhere at another indentation, since a model that
    slipped on indentation would then land on the wrong one), at each tab width that may hold; and
    how the rule that found them reads in a message.

    Places found only once blank lines are ignored count too, for the same reason: a model that
    dropped a blank line meant one of them as much as a copy without it. So the search applies
    only where it is unique either way. ``agree``: how a run of lines and the search agree on an
    offset (``_one_offset``, or ``_offset_but_one``)."""
    agree = agree or _one_offset
    as_written = _places(_shifted, file, search, widths, agree)
    blanks_aside = _places(_spread, file, search, widths, agree)
    seen = {(p.first, p.last) for p in as_written}
    more = [p for p in blanks_aside if (p.first, p.last) not in seen]
    if as_written and not more:
        return as_written, "" if all(p.offset == 0 for p in as_written) else " once indentation is ignored"
    return as_written + more, " once indentation and blank lines are ignored"


def _places(rule, file: _File, search: list[str], widths: list[int], agree) -> list[_Place]:
    found: dict[tuple, _Place] = {}
    for width in widths:
        for place in rule(file, search, width, agree):
            found.setdefault(place.rows, place)  # found again at another width: the same place
    return list(found.values())


def _shifted(file: _File, search: list[str], width: int, agree) -> list[_Place]:
    n = len(search)
    places = []
    first = search[0].strip()
    for i in range(len(file.lines) - n + 1):
        if file.lines[i].strip() != first:
            continue
        agreed = agree(file.lines[i : i + n], search, width)
        if agreed is not None:
            offset, odd = agreed
            places.append(_Place(tuple(range(i, i + n)), i, i + n - 1, offset, width, odd))
    return places


def _spread(file: _File, search: list[str], width: int, agree) -> list[_Place]:
    """Whole lines matched ignoring blank lines on both sides (models add and drop them)."""
    kept = [k for k, line in enumerate(search) if line.strip()]
    if len(kept) < 2:
        return []
    wanted = [search[k] for k in kept]
    rows = [i for i, line in enumerate(file.lines) if line.strip()]
    places = []
    for j in range(len(rows) - len(wanted) + 1):
        if file.lines[rows[j]].strip() != wanted[0].strip():
            continue
        agreed = agree([file.lines[i] for i in rows[j : j + len(wanted)]], wanted, width)
        if agreed is not None:
            offset, odd = agreed
            where = dict(zip(kept, rows[j : j + len(wanted)], strict=True))
            places.append(
                _Place(
                    tuple(where.get(k) for k in range(len(search))),
                    rows[j],
                    rows[j + len(wanted) - 1],
                    offset,
                    width,
                    None if odd is None else (kept[odd[0]], odd[1]),  # as a line of the whole search
                )
            )
    return places


def _one_offset(window: list[str], search: list[str], width: int) -> tuple[int, None] | None:
    offset = _offset(window, search, width)
    return None if offset is None else (offset, None)


def _offset(window: list[str], search: list[str], width: int) -> int | None:
    """The one indentation offset (file minus search, in columns) that makes ``window`` equal
    ``search`` line by line, blank lines matching blank lines; else None."""
    offset = None
    for have, want in zip(window, search, strict=True):
        if not want.strip() or not have.strip():
            if want.strip() or have.strip():
                return None
            continue
        if have.strip() != want.strip():
            return None
        shift = _column(have, width) - _column(want, width)
        if offset is None:
            offset = shift
        elif shift != offset:
            return None
    return offset


NEARLY_COLUMNS = (1, 2)  # how far one line of a search may stand from the others' indentation


def _one_line_off(file: _File, search: list[str], widths: list[int]) -> tuple[list[_Place], str]:
    """The places a search not found is found at once one of its lines may be indented one or two
    columns off the offset all its other lines agree on, less than one indentation level (a model
    that miscounted one line's spaces), by ``_find``'s rules otherwise (blank lines aside too); and
    how, for a message. Space-indented files only. At least two other lines must agree, or the odd
    one is not known; the place applies only where it is the one place found this way."""
    if file.tabs or sum(1 for line in search if line.strip()) < 3:
        # In a tab-indented file the model's spaces per tab are guessed from its own lines, and
        # the miscounted line skews that guess: new lines then land at the wrong depth.
        return [], ""
    places, how = _find(file, search, widths, _offset_but_one)
    return places, how + " and one line's indentation is let off"


def _offset_but_one(window: list[str], search: list[str], width: int) -> tuple[int, tuple[int, int]] | None:
    """The offset every non-blank line of ``window`` and ``search`` agrees on but one, which is
    one or two columns off it, and that one (its search line, its own offset); else None."""
    shifts: dict[int, int] = {}
    for k, (have, want) in enumerate(zip(window, search, strict=True)):
        if not want.strip() or not have.strip():
            if want.strip() or have.strip():
                return None
            continue
        if have.strip() != want.strip():
            return None
        shifts[k] = _column(have, width) - _column(want, width)
    counts = Counter(shifts.values())
    if len(counts) != 2:
        return None
    (offset, many), (other, few) = counts.most_common()
    if few != 1 or many < 2 or abs(other - offset) not in NEARLY_COLUMNS or abs(other - offset) >= width:
        return None
    [k] = [k for k, shift in shifts.items() if shift == other]
    return offset, (k, other)


def _inside_a_line(file: _File, search: str, replace: list[str], content: str) -> str | None:
    """A one-line search with no whole-line match, replaced where it occurs inside one line (a
    part of a line has no indentation: both sides are compared and written stripped)."""
    needle = search.strip()
    body = content[len(file.bom) :]
    places, at = [], body.find(needle)
    while at != -1:
        places.append(at)
        at = body.find(needle, at + 1)
    if not places:
        return None
    if len(places) > 1:
        raise Miss(
            f"the search text matches {len(places)} places inside lines {_first([search])}; it must match one"
        )
    if len(replace) > 1:
        raise Miss(
            f"the search text is part of a line {_first([search])} but its replace has several lines: "
            "search for whole lines instead"
        )
    _refuse_new_markers([search], replace)
    new = replace[0].strip() if replace else ""
    return file.bom + body[: places[0]] + new + body[places[0] + len(needle) :]


def _elided(file: _File, search: list[str], replace: list[str], widths: list[int]) -> str:
    """A search with elision marker lines: each part between them matched, the code they stand
    for kept."""
    parts, new_parts = _parts(search), _parts(replace)
    if len(new_parts) != len(parts):
        raise Miss(
            f"the search leaves code out with {len(parts) - 1} elision marker line(s) "
            f"but its replace has {len(new_parts) - 1}: the replace must hold a marker where that code stays"
        )
    pairs, after = [], -1
    for n, (part, new) in enumerate(zip(parts, new_parts, strict=True), 1):
        part, new = _trim(part), _trim(new)
        if not part:
            if new:
                raise Miss("an elision marker starts or ends the search, so its replace text has no place")
            continue
        places, how = _find(file, part, widths)
        if not places:
            places, how = _one_line_off(file, part, widths)
        if not places:
            raise Miss(
                f"part {n} of the search (between elision markers) was not found {_first(part)}",
                lines=closest_lines(file.text(), "\n".join(part)),
            )
        if len(places) > 1:
            raise Miss(
                f"part {n} of the search (between elision markers) matches {len(places)} places{how} "
                f"{_first(part)}; each part must match one",
                lines=_places_shown(file, places),
            )
        if places[0].first <= after:
            raise Miss("the parts of the search around an elision marker are not in the file's order")
        after = places[0].last
        _refuse_new_markers(part, new)
        pairs.append((places[0], part, new))
    if not pairs:
        raise Miss("the search text is only elision markers")
    return _spliced(file, pairs)


def _parts(lines: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for line in lines:
        if is_elision(line):
            parts.append([])
        else:
            parts[-1].append(line)
    return parts


def _refuse_new_markers(search: list[str], replace: list[str]) -> None:
    """A replace may hold a marker line only where its search holds the same one (real code such
    as a Python ``...`` body); anywhere else it stands for code the model left out."""
    have = Counter(line.strip() for line in search if is_elision(line))
    for n, line in enumerate(replace, 1):
        if is_elision(line):
            if have[line.strip()] <= 0:
                raise Miss(
                    f"line {n} of the replace is an elision marker ({json.dumps(line.strip())}) its search "
                    "does not hold: write out the code it stands for"
                )
            have[line.strip()] -= 1


# --- writing the replace ---------------------------------------------------------------------


def _spliced(file: _File, pairs: list[tuple[_Place, list[str], list[str]]]) -> str:
    """The file with each place's lines replaced (places in order, not overlapping)."""
    lines, ends, at = [], [], 0
    for place, search, new in pairs:
        lines += file.lines[at : place.first]
        ends += file.ends[at : place.first]
        for text, end in _replacement(file, place, search, new):
            lines.append(text)
            ends.append(end)
        at = place.last + 1
    lines += file.lines[at:]
    ends += file.ends[at:]
    # Every line but the last ends with a newline; the last keeps the file's (none, or one).
    ends = [end or file.eol for end in ends]
    if ends and (not file.ends or file.ends[-1] == ""):
        ends[-1] = ""
    return _File(file.bom, lines, ends, file.eol, file.tabs).text()


def _replacement(file: _File, place: _Place, search: list[str], new: list[str]) -> list[tuple[str, str]]:
    """The lines that take the place's. A replace line equal to its search line is the file's
    line as it is; between two search lines the replace keeps as neighbours (changed or not, with
    the blank lines the search had between them), the file's own blank lines stay. Every other
    line is the replace's, moved by the place's offset and indented in the file's style."""

    width = place.width
    odd_line = None  # the replace line in place of the miscounted search line, copied at its column

    def written(line: str, j: int = -1) -> tuple[str, str]:
        if not line.strip():
            return "", file.eol
        column = _column(line, width) + (place.odd[1] if j == odd_line else place.offset)
        if column < 0:
            raise Miss(
                f"the replace line {json.dumps(line.strip()[:60])} would start left of column 0 "
                "once moved to the file's indentation"
            )
        indent = "\t" * (column // width) + " " * (column % width) if file.tabs else " " * column
        return indent + line[_leading(line) :], file.eol

    keys = [_key(line, width) for line in search], [_key(line, width) for line in new]
    pairs: dict[int, int] = {}  # search line -> the replace line in its place (one for one)
    same: dict[int, int] = {}  # replace line -> the search line it equals
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, *keys, autojunk=False).get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pairs.update(zip(range(i1, i2), range(j1, j2), strict=True))
            if tag == "equal":
                same.update(zip(range(j1, j2), range(i1, i2), strict=True))
        elif tag == "replace":  # lines changed and lines added: the first ones that read alike pair up
            for i, j in zip(range(i1, i2), range(j1, j2), strict=False):
                if not _alike(search[i], new[j]):
                    break
                pairs[i] = j
    if place.odd is not None and place.odd[0] in pairs:
        k, j = place.odd[0], pairs[place.odd[0]]
        odd_line = j if _column(new[j], width) == _column(search[k], width) else None
    gaps = _kept_gaps(search, new, pairs, place.rows)
    out: list[tuple[str, str]] = []
    j = 0
    while j <= len(new):
        if j in gaps:
            resume, first, end = gaps.pop(j)
            out += zip(file.lines[first:end], file.ends[first:end], strict=True)
            j = resume
            continue
        if j == len(new):
            break
        row = place.rows[same[j]] if j in same else None
        out.append((file.lines[row], file.ends[row]) if row is not None else written(new[j], j))
        j += 1
    return out


def _kept_gaps(
    search: list[str], new: list[str], pairs: dict[int, int], rows: tuple[int | None, ...]
) -> dict[int, tuple[int, int, int]]:
    """Where the file's own blank lines stand in for the replace's: replace line -> (the replace
    line after them, the file's lines ``[first, end)``).

    Between two search lines the replace keeps (changed or not), the file's blank lines stay
    where the replace holds as many blank lines as the search had there (none, when it holds
    nothing between them): right after the first line or right before the second, so lines the
    replace adds on the other side do not take the place of a blank line the search dropped."""
    gaps: dict[int, tuple[int, int, int]] = {}
    lines = [k for k, line in enumerate(search) if line.strip()]
    for k, k2 in pairwise(lines):
        j, j2 = pairs.get(k), pairs.get(k2)
        if j is None or j2 is None or j2 <= j:
            continue
        blanks = k2 - k - 1  # the search's blank lines between the two
        file_lines = (rows[k] + 1, rows[k2])
        between = new[j + 1 : j2]
        if len(between) == blanks and not any(x.strip() for x in between):
            gaps[j + 1] = (j2, *file_lines)  # nothing else between them: as the file has it
        elif blanks and not any(x.strip() for x in new[j2 - blanks : j2]) and new[j2 - blanks - 1].strip():
            gaps[j2 - blanks] = (j2, *file_lines)  # lines added after the first, then the blank run
        elif (
            blanks and not any(x.strip() for x in new[j + 1 : j + 1 + blanks]) and new[j + 1 + blanks].strip()
        ):
            gaps[j + 1] = (j + 1 + blanks, *file_lines)  # the blank run, then lines added
    return gaps


def _alike(a: str, b: str) -> bool:
    """Whether a replace line reads as its search line changed (a comment added, a name renamed)."""
    a, b = a.strip(), b.strip()
    return a in b or b in a or difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.6


def _key(line: str, width: int) -> tuple[int, str]:
    return (_column(line, width), line.strip()) if line.strip() else (0, "")


# --- what the model is shown when a search does not apply --------------------------------------

SHOWN_PLACES = 3  # of a search that matches several, each with a line of context


def _places_shown(file: _File, places: list[_Place]) -> str:
    """The first places a search matches, each with a line of context, numbered, ``GAP`` between."""
    shown = []
    for place in sorted(places, key=lambda p: p.first)[:SHOWN_PLACES]:
        start, end = max(0, place.first - 1), min(len(file.lines), place.last + 2)
        shown.append(numbered(file.lines[start:end], start + 1))
    return f"\n{GAP}\n".join(shown)


def closest_lines(content: str, search: str, *, context: int = CONTEXT_LINES) -> str:
    """The run of ``content``'s lines most like ``search`` (as many lines, ranked by shared words
    then by text similarity), with ``context`` lines around it, numbered as excerpts show them;
    "" when no run shares much with it."""
    lines = _File.of(content).lines
    wanted = _trim(_model_lines(search))
    if not wanted or not lines:
        return ""
    size = min(len(wanted), len(lines))
    target = Counter(token for line in wanted for token in _WORD.findall(line))
    tokens = [Counter(_WORD.findall(line)) for line in lines]
    window: Counter = sum(tokens[:size], Counter())
    scored = []
    for i in range(len(lines) - size + 1):
        if i:
            window.subtract(tokens[i - 1])
            window.update(tokens[i + size - 1])
        scored.append((sum(min(n, window[t]) for t, n in target.items()), i))
    text = "\n".join(line.strip() for line in wanted)
    best_ratio, best = 0.0, 0
    for _shared, i in sorted(scored, key=lambda s: (-s[0], s[1]))[:8]:
        ratio = difflib.SequenceMatcher(
            None, "\n".join(line.strip() for line in lines[i : i + size]), text, autojunk=False
        ).ratio()
        if ratio > best_ratio:
            best_ratio, best = ratio, i
    if best_ratio < 0.5:
        return ""
    start, end = max(0, best - context), min(len(lines), best + size + context)
    return numbered(lines[start:end], start + 1)
