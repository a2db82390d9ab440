"""Reading a backlog written as a markdown checklist.

    - [ ] Add a health check endpoint
      Load balancers need a cheap probe.
      Return {"ok": true} with status 200.
    - [x] Already done (skipped)

An item is a ``- [ ]`` (or ``*``/``+``) line; the lines indented below it, up to the next line at
or left of its marker, are its description. Checked items (``[x]``) are kept but marked done.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import BinaryIO

from executions.errors import InvalidTask

MAX_TITLE = 300
_CHUNK = 64 * 1024
_ITEM = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]*(?P<title>.*?)\s*$")


@dataclass(frozen=True)
class ChecklistItem:
    title: str
    description: str
    checked: bool
    line: int  # 1-based, where the item starts


def read_checklist(stream: BinaryIO, *, max_bytes: int) -> str:
    """The UTF-8 text of ``stream``, read in chunks and never past ``max_bytes`` (plus one chunk):
    an endless or huge input (``/dev/zero``) is refused with ``InvalidTask`` without being read."""
    chunks, size = [], 0
    while chunk := stream.read(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise InvalidTask(too_large(max_bytes))
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidTask("the checklist is not UTF-8 text.") from None


def check_size(text: str, *, max_bytes: int) -> str:
    """``text``, or ``InvalidTask`` when it is over ``max_bytes`` of UTF-8."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise InvalidTask(too_large(max_bytes))
    return text


def too_large(max_bytes: int) -> str:
    limit = f"{max_bytes // 2**20} MB" if max_bytes % 2**20 == 0 else f"{max_bytes:,}-byte"
    return f"the checklist is larger than the {limit} limit (IMPORT_MAX_BYTES); split it."


def parse_checklist(text: str) -> list[ChecklistItem]:
    """Every checklist item in ``text``, in order. Raises ``InvalidTask`` naming the bad line."""
    items: list[ChecklistItem] = []
    current: dict | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ITEM.match(line)
        if match:
            _close(current, items)
            current = _open(match, number)
        elif current is not None and (not line.strip() or _indent(line) > current["indent"]):
            current["body"].append(line)
        else:
            _close(current, items)
            current = None
    _close(current, items)
    return items


def _open(match: re.Match, number: int) -> dict:
    title = " ".join(match["title"].split())
    if not title:
        raise InvalidTask(f"line {number}: a checklist item needs a title after the box.")
    if len(title) > MAX_TITLE:
        raise InvalidTask(f"line {number}: the title is {len(title)} characters; the limit is {MAX_TITLE}.")
    indent = len(match["indent"].expandtabs(4))
    return {"title": title, "checked": match["mark"] != " ", "line": number, "indent": indent, "body": []}


def _close(current: dict | None, items: list[ChecklistItem]) -> None:
    if current is None:
        return
    description = textwrap.dedent("\n".join(current["body"]).expandtabs(4)).strip()
    items.append(ChecklistItem(current["title"], description, current["checked"], current["line"]))


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
