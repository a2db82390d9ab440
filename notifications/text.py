"""Text for messages: cutting to a limit safely, money, counts, dates and the spend progress bar.

Discord rejects a whole message (400) when one text is over its limit, so texts are cut by
``clip``, counted in UTF-16 code units: never fewer than the characters (code points) Discord
counts, so a cut fits whichever way it is counted. A cut never lands inside a character or a
surrogate pair, and every string is made encodable (no lone surrogates) so the JSON stays valid.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from budget.money import NANOS_PER_DOLLAR, MoneyError, format_usd, to_nanos

ELLIPSIS = "…"
BAR_WIDTH = 10
URL_MAX = 2048
_JOINERS = {"\u200d", "\u034f"}  # zero-width joiner, combining grapheme joiner


def clean(text: object) -> str:
    """``text`` as a string that encodes to UTF-8: surrogate pairs joined, lone surrogates → U+FFFD."""
    s = "" if text is None else str(text)
    return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# Code points PostgreSQL cannot store in text: lone UTF-16 surrogates (valid JSON escapes, so a
# vendor can send them, but not encodable as UTF-8) and NUL.
_UNSTORABLE = re.compile(r"[\ud800-\udfff\x00]")


def storable(text: str) -> str:
    """``text`` with every code point a database cannot store replaced by U+FFFD.

    Applied to every text a vendor sends before it is saved: an answer that cannot be written
    must never roll back the charge it came with, nor leave an execution unfinished.
    """
    return _UNSTORABLE.sub("\ufffd", text)


def units(text: str) -> int:
    """Length in UTF-16 code units: a character outside the BMP (an emoji) counts 2."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clip(text: object, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units, ending in "…" when it was cut.

    The cut is at a character boundary and backs off (a little) so it does not separate a base
    character from its combining marks or split a zero-width-joiner sequence.
    """
    s = clean(text)
    if units(s) <= limit:
        return s
    if limit <= 0:
        return ""
    budget = limit - 1  # room for the ellipsis, itself one unit
    cut, used = 0, 0
    for ch in s:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        cut += 1
    for _ in range(8):  # a bounded back-off: a run of combining marks must not empty the text
        if cut and (_attaches(s[cut]) or s[cut - 1] in _JOINERS):
            cut -= 1
        else:
            break
    return s[:cut].rstrip() + ELLIPSIS


def _attaches(ch: str) -> bool:
    """A character that belongs to the one before it (combining mark, joiner, variation selector)."""
    return bool(unicodedata.combining(ch)) or ch in _JOINERS or 0xFE00 <= ord(ch) <= 0xFE0F


def parse_nanos(dollars: object) -> int | None:
    try:
        return to_nanos(str(dollars))
    except (MoneyError, TypeError):
        return None


def usd(dollars: object, *, places: int | None = None) -> str:
    """A payload's decimal-string dollars for display: exact (``$0.031275``) or rounded."""
    amount = parse_nanos(dollars)
    if amount is None:
        return "—" if dollars is None else f"${clean(dollars)}"
    return format_usd(amount, places=places)


def usd_short(dollars: object) -> str:
    """``$5`` for whole dollars, else ``$7.50`` (thresholds and milestones)."""
    amount = parse_nanos(dollars)
    if amount is not None and amount % NANOS_PER_DOLLAR == 0:
        return format_usd(amount, places=0)
    return usd(dollars, places=2)


def progress_bar(spent: object, limit: object, *, width: int = BAR_WIDTH) -> str:
    """``██████░░░░ 60% · $9.00 of $15.00``: integer arithmetic, floored, clamped to 0–100%.

    Floored so that 99.9% never shows a full bar; clamped so a limit lowered below the spend
    (or a zero limit) still draws a sane bar.
    """
    spent_n, limit_n = parse_nanos(spent) or 0, parse_nanos(limit) or 0
    if limit_n > 0:
        percent = min(max(spent_n * 100 // limit_n, 0), 100)
        filled = min(max(spent_n * width // limit_n, 0), width)
    else:
        percent, filled = (100, width) if spent_n > 0 else (0, 0)
    bar = "█" * filled + "░" * (width - filled)
    return f"{bar} {percent}% · {usd(spent, places=2)} of {usd(limit, places=2)}"


def count(value: object) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "—"


def number(value: object) -> str:
    """An identifier as people see it elsewhere: ``#1234`` on GitHub, not ``#1,234``."""
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "—"


def plural(value: object, noun: str) -> str:
    """``1 PR``, ``160 PRs``, ``2,000 calls``."""
    try:
        one = int(value) == 1
    except (TypeError, ValueError):
        one = False
    return f"{count(value)} {noun}{'' if one else 's'}"


def day(iso: object) -> str:
    try:
        return dt.datetime.fromisoformat(str(iso)).date().isoformat()
    except ValueError:
        return clean(iso)


def safe_url(url: object) -> str | None:
    """A URL Discord and Slack accept (http/https, no spaces, not too long), else None.

    An invalid embed URL makes Discord refuse the whole message, so a doubtful one is dropped.
    """
    s = clean(url).strip()
    if s.startswith(("https://", "http://")) and len(s) <= URL_MAX and not any(c.isspace() for c in s):
        return s
    return None
